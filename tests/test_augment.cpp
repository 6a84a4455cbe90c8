// tests/test_augment.cpp: BatchLoader: order (shuffle, eval coverage), torchvision-style crop / flip /
// normalise, timm-style mixup / cutmix targets, Beta draws, and independence from thread count and call order.
#include <doctest/doctest.h>

#include "test_util.h"
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "tapevit/data/loader.h"
#include "tapevit/error.h"

using namespace tapevit;
using namespace tapevit::test;

namespace {

// n images (C, H, W), pixel k of image i = pixel(i, k), label i % K.
Dataset make_data(int64_t n, int64_t C, int64_t H, int64_t W, int64_t K,
                  const std::function<int(int64_t, int64_t)>& pixel, const std::string& name = "test") {
  Dataset d;
  d.name = name;
  d.n = n;
  d.channels = C;
  d.height = H;
  d.width = W;
  d.num_classes = K;
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k < C * H * W; ++k) d.images.push_back(uint8_t(pixel(i, k)));
    d.labels.push_back(int32_t(i % K));
  }
  return d;
}

AugmentConfig plain(bool augment = false) {  // x/255, nothing else
  AugmentConfig a;
  a.augment = augment;
  a.crop_padding = 0;
  a.hflip = 0;
  a.smoothing = 0;
  a.mean = {0};
  a.std = {1};
  return a;
}

struct Batch {
  std::vector<float> x, t;
  std::vector<int32_t> y;
  int64_t n = 0;
  bool operator==(const Batch& o) const { return x == o.x && t == o.t && y == o.y && n == o.n; }
};

Batch get(const BatchLoader& L, const Dataset& d, int64_t epoch, int64_t step) {
  Batch b;
  const int64_t B = L.batch_size();
  b.x.assign(size_t(B * d.channels * d.height * d.width), NAN);
  b.t.assign(size_t(B * d.num_classes), NAN);
  b.y.assign(size_t(B), -1);
  b.n = L.batch(epoch, step, b.x.data(), b.y.data(), b.t.data());
  return b;
}

// the sample indices of a batch whose 1x1x1 images hold their own index
std::vector<int> indices(const Batch& b) {
  std::vector<int> out;
  for (int64_t i = 0; i < b.n; ++i) out.push_back(int(std::lround(b.x[size_t(i)] * 255.0f)));
  return out;
}

// timm's smoothed one-hot, written out
std::vector<double> one_hot(int64_t K, int32_t y, double smoothing) {
  std::vector<double> v(size_t(K), smoothing / double(K));
  v[size_t(y)] = 1.0 - smoothing + smoothing / double(K);
  return v;
}

}  // namespace

TEST_CASE("Augment: validate names the offending key") {
  auto bad = [](const std::function<void(AugmentConfig&)>& edit, const std::string& key) {
    AugmentConfig a;
    a.mean = {0.5, 0.5, 0.5};
    a.std = {0.2, 0.2, 0.2};
    edit(a);
    CAPTURE(key);
    CHECK(contains(error_of([&] { a.validate(3); }), key));
  };
  bad([](AugmentConfig& a) { a.mean = {0.1, 0.2}; }, "mean");
  bad([](AugmentConfig& a) { a.std = {0.1, 0.2}; }, "std");
  bad([](AugmentConfig& a) { a.std = {0.1, 0, 0.2}; }, "std");
  bad([](AugmentConfig& a) { a.std = {-1}; }, "std");
  bad([](AugmentConfig& a) { a.mean = {NAN}; }, "mean");
  bad([](AugmentConfig& a) { a.hflip = 1.5; }, "hflip");
  bad([](AugmentConfig& a) { a.hflip = NAN; }, "hflip");
  bad([](AugmentConfig& a) { a.mixup = -0.1; }, "mixup");
  bad([](AugmentConfig& a) { a.cutmix = -1; }, "cutmix");
  bad([](AugmentConfig& a) { a.mixup_prob = -0.5; }, "mixup_prob");
  bad([](AugmentConfig& a) { a.mixup_switch_prob = 2; }, "mixup_switch_prob");
  bad([](AugmentConfig& a) { a.smoothing = 1; }, "smoothing");
  bad([](AugmentConfig& a) { a.smoothing = -0.1; }, "smoothing");
  bad([](AugmentConfig& a) { a.crop_padding = -1; }, "crop_pad");

  AugmentConfig ok;  // defaults with per-channel, broadcast or empty (= the data set's) statistics
  ok.mean = {0.5, 0.5, 0.5};
  ok.std = {0.2, 0.2, 0.2};
  CHECK_NOTHROW(ok.validate(3));
  ok.mean = {0.5};
  ok.std = {0.2};
  CHECK_NOTHROW(ok.validate(3));
  ok.mean.clear();
  ok.std.clear();
  CHECK_NOTHROW(ok.validate(3));
}

TEST_CASE("Loader: eval visits every sample once, in order, and the last batch is smaller") {
  const Dataset d = make_data(52, 1, 1, 1, 7, [](int64_t i, int64_t) { return int(i); });
  AugmentConfig a = plain(true);
  a.mixup = 1;  // ignored in eval
  a.crop_padding = 4;
  a.hflip = 1;
  a.smoothing = 0.1;
  BatchLoader L(d, 5, 1, a, false);
  REQUIRE(L.steps_per_epoch() == 11);
  std::vector<int> seen;
  for (int64_t s = 0; s < 11; ++s) {
    const Batch b = get(L, d, 3, s);
    CHECK(b.n == (s < 10 ? 5 : 2));
    for (int64_t i = 0; i < b.n; ++i) {
      CHECK(b.y[size_t(i)] == indices(b)[size_t(i)] % 7);
      const auto want = one_hot(7, b.y[size_t(i)], 0.1);
      for (int k = 0; k < 7; ++k) CHECK(b.t[size_t(i * 7 + k)] == doctest::Approx(want[size_t(k)]).epsilon(1e-6));
    }
    const auto idx = indices(b);
    seen.insert(seen.end(), idx.begin(), idx.end());
  }
  std::vector<int> expect(52);
  for (int i = 0; i < 52; ++i) expect[size_t(i)] = i;
  CHECK(seen == expect);
  CHECK_THROWS_WITH_AS(get(L, d, 0, 11), doctest::Contains("step 11 is outside [0, 11) (52 samples, batch_size 5, eval)"),
                       Error);
}

TEST_CASE("Loader: train shuffling is a per-epoch permutation, a pure function of (seed, epoch)") {
  const Dataset d = make_data(52, 1, 1, 1, 7, [](int64_t i, int64_t) { return int(i); });
  BatchLoader L(d, 5, 42, plain(), true);
  REQUIRE(L.steps_per_epoch() == 10);  // 52 / 5: the last 2 samples are dropped
  auto epoch_order = [&](const BatchLoader& l, int64_t e) {
    std::vector<int> order;
    for (int64_t s = 0; s < l.steps_per_epoch(); ++s) {
      const Batch b = get(l, d, e, s);
      REQUIRE(b.n == 5);
      for (int64_t i = 0; i < 5; ++i) CHECK(b.y[size_t(i)] == indices(b)[size_t(i)] % 7);
      const auto idx = indices(b);
      order.insert(order.end(), idx.begin(), idx.end());
    }
    return order;
  };
  const auto e0 = epoch_order(L, 0), e1 = epoch_order(L, 1);
  for (const auto& e : {e0, e1}) {
    CHECK(e.size() == 50u);
    CHECK(std::set<int>(e.begin(), e.end()).size() == 50u);  // distinct samples of 0..51
    CHECK(*std::max_element(e.begin(), e.end()) <= 51);
  }
  std::vector<int> identity(50);
  for (int i = 0; i < 50; ++i) identity[size_t(i)] = i;
  CHECK(e0 != identity);
  CHECK(e0 != e1);
  CHECK(epoch_order(L, 0) == e0);  // back to an earlier epoch
  BatchLoader same(d, 5, 42, plain(), true), other(d, 5, 43, plain(), true);
  CHECK(epoch_order(same, 1) == e1);
  CHECK(epoch_order(other, 1) != e1);
  // across many epochs every sample lands in every position sometimes: the shuffle covers all 52
  std::set<int> all;
  for (int64_t e = 0; e < 20; ++e) {
    const auto o = epoch_order(L, e);
    all.insert(o.begin(), o.end());
  }
  CHECK(all.size() == 52u);
}

TEST_CASE("Loader: a batch larger than the training set and a step out of range are Errors") {
  const Dataset d = make_data(3, 1, 2, 2, 2, [](int64_t i, int64_t k) { return int(i + k); }, "tiny");
  const std::string msg = error_of([&] { BatchLoader(d, 4, 0, plain(), true); });
  CHECK(contains(msg, "batch_size 4"));
  CHECK(contains(msg, "(3 samples"));
  BatchLoader eval(d, 4, 0, plain(), false);  // eval: one batch of 3
  CHECK(eval.steps_per_epoch() == 1);
  CHECK(get(eval, d, 0, 0).n == 3);
  BatchLoader L(d, 2, 0, plain(), true);
  CHECK(L.steps_per_epoch() == 1);
  CHECK_THROWS_WITH_AS(get(L, d, 0, 1), doctest::Contains("step 1 is outside [0, 1) (3 samples, batch_size 2, train)"),
                       Error);
  CHECK_THROWS_WITH_AS(get(L, d, 0, -1), doctest::Contains("step -1 is outside [0, 1)"), Error);
  AugmentConfig no_stats = plain();
  no_stats.mean.clear();  // "tiny" has no default statistics
  CHECK_THROWS_WITH_AS(BatchLoader(d, 2, 0, no_stats, true), doctest::Contains("unknown data set 'tiny'"), Error);
  AugmentConfig bad = plain();
  bad.hflip = 2;
  CHECK(contains(error_of([&] { BatchLoader(d, 2, 0, bad, true); }), "hflip"));
}

TEST_CASE("Augment: normalisation (x/255 - mean[c]) / std[c], per channel, broadcast, or the data set's") {
  // one 3-channel 1x2 image: c0 = {51, 0}, c1 = {102, 255}, c2 = {255, 51}
  const int px[6] = {51, 0, 102, 255, 255, 51};
  const Dataset d = make_data(1, 3, 1, 2, 10, [&](int64_t, int64_t k) { return px[k]; }, "cifar10");
  AugmentConfig a = plain();
  a.mean = {0.1, 0.2, 0.3};
  a.std = {0.5, 0.25, 0.125};
  const Batch b = get(BatchLoader(d, 1, 0, a, false), d, 0, 0);
  const double want[6] = {0.2, -0.2, 0.8, 3.2, 5.6, -0.8};
  for (int k = 0; k < 6; ++k) CHECK(b.x[size_t(k)] == doctest::Approx(want[k]).epsilon(1e-6));
  a.mean = {0.5};
  a.std = {0.5};
  const Batch c = get(BatchLoader(d, 1, 0, a, false), d, 0, 0);
  const double want_c[6] = {-0.6, -1.0, -0.2, 1.0, 1.0, -0.6};
  for (int k = 0; k < 6; ++k) CHECK(c.x[size_t(k)] == doctest::Approx(want_c[k]).epsilon(1e-6));
  a.mean.clear();
  a.std.clear();  // cifar10's: (0.4914, 0.4822, 0.4465) / (0.2470, 0.2435, 0.2616)
  const Batch e = get(BatchLoader(d, 1, 0, a, false), d, 0, 0);
  CHECK(e.x[0] == doctest::Approx((0.2 - 0.4914) / 0.2470).epsilon(1e-6));
  CHECK(e.x[3] == doctest::Approx((1.0 - 0.4822) / 0.2435).epsilon(1e-6));
  CHECK(e.x[5] == doctest::Approx((0.2 - 0.4465) / 0.2616).epsilon(1e-6));
  // targets: smoothing 0.2 over 10 classes, label 0: on 0.82, off 0.02
  a.smoothing = 0.2;
  const Batch s = get(BatchLoader(d, 1, 0, a, true), d, 0, 0);
  CHECK(s.t[0] == doctest::Approx(0.82).epsilon(1e-6));
  for (int k = 1; k < 10; ++k) CHECK(s.t[size_t(k)] == doctest::Approx(0.02).epsilon(1e-6));
}

TEST_CASE("Augment: random crop with zero padding and horizontal flip give one of the 18 expected images") {
  // one 3x5 image, pixel (y, x) = 10 + 5y + x; mean 0.5, std 0.25, so the zero padding normalises to -2
  const int64_t H = 3, W = 5, p = 1;
  const Dataset d = make_data(1, 1, H, W, 2, [](int64_t, int64_t k) { return int(10 + k); });
  AugmentConfig a = plain(true);
  a.crop_padding = p;
  a.hflip = 0.5;
  a.mean = {0.5};
  a.std = {0.25};
  auto norm = [](int v) { return (v / 255.0 - 0.5) / 0.25; };
  // candidates: torchvision RandomCrop(padding=1) = a 3x5 window of the 5x7 zero-padded image, then a mirror
  std::vector<std::vector<double>> candidates;
  std::vector<int> padded(size_t((H + 2 * p) * (W + 2 * p)), 0);
  for (int64_t y = 0; y < H; ++y)
    for (int64_t x = 0; x < W; ++x) padded[size_t((y + p) * (W + 2 * p) + x + p)] = int(10 + 5 * y + x);
  for (int64_t oy = 0; oy <= 2 * p; ++oy)
    for (int64_t ox = 0; ox <= 2 * p; ++ox)
      for (int flip = 0; flip < 2; ++flip) {
        std::vector<double> img;
        for (int64_t y = 0; y < H; ++y)
          for (int64_t x = 0; x < W; ++x) {
            const int64_t wx = flip ? W - 1 - x : x;  // mirror the window
            img.push_back(norm(padded[size_t((y + oy) * (W + 2 * p) + wx + ox)]));
          }
        candidates.push_back(img);
      }
  REQUIRE(candidates[0][0] == -2.0);  // top-left window, unflipped: a padding pixel
  BatchLoader L(d, 1, 7, a, true);
  std::map<size_t, int> hits;
  int flips = 0;
  for (int64_t e = 0; e < 400; ++e) {
    const Batch b = get(L, d, e, 0);
    int found = -1;
    for (size_t c = 0; c < candidates.size(); ++c) {
      bool same = true;
      for (size_t k = 0; k < candidates[c].size(); ++k) same = same && std::abs(b.x[k] - candidates[c][k]) < 1e-5;
      if (same) found = int(c);
    }
    CAPTURE(e);
    REQUIRE(found >= 0);
    ++hits[size_t(found)];
    flips += found % 2;
  }
  CHECK(hits.size() == 18u);  // every offset in [0, 2p] x [0, 2p], flipped and not
  CHECK(flips > 150);         // hflip = 0.5 of 400
  CHECK(flips < 250);

  a.hflip = 1;  // always mirrored, never shifted
  a.crop_padding = 0;
  const Batch m = get(BatchLoader(d, 1, 7, a, true), d, 5, 0);
  for (size_t k = 0; k < 15; ++k) CHECK(m.x[k] == doctest::Approx(candidates[size_t(((1 * 3) + 1) * 2 + 1)][k]));
  a.augment = false;  // off: the image as it is, whatever the settings
  a.crop_padding = 4;
  const Batch o = get(BatchLoader(d, 1, 7, a, true), d, 5, 0);
  for (size_t k = 0; k < 15; ++k) CHECK(o.x[k] == doctest::Approx(norm(int(10 + k))));
}

TEST_CASE("Augment: mixup pairs sample i with B-1-i, targets lam*y1 + (1-lam)*y2, images the same mix") {
  const Dataset d = make_data(40, 2, 4, 3, 5, [](int64_t i, int64_t k) { return int((i * 37 + k * 11) % 256); });
  AugmentConfig a = plain(true);
  a.crop_padding = 1;
  a.hflip = 0.5;
  a.smoothing = 0.1;
  a.mean = {0.3, 0.6};
  a.std = {0.2, 0.4};
  AugmentConfig mix = a;
  mix.mixup = 0.8;
  BatchLoader none(d, 8, 5, a, true), mixed(d, 8, 5, mix, true);
  const int64_t K = 5, CHW = 2 * 4 * 3;
  std::set<float> lams;
  for (int64_t e = 0; e < 3; ++e)
    for (int64_t s = 0; s < 5; ++s) {
      CAPTURE(e);
      CAPTURE(s);
      const Batch x = get(none, d, e, s), m = get(mixed, d, e, s);
      REQUIRE(x.y == m.y);  // labels stay the unmixed ones; same samples, same crops and flips
      // lam from the first pair with two different labels: t[y1] = lam * on + (1 - lam) * off
      const double off = 0.1 / 5, on = 0.9 + off;
      double lam = NAN;
      for (int64_t i = 0; i < 8 && std::isnan(lam); ++i)
        if (m.y[size_t(i)] != m.y[size_t(7 - i)]) lam = (m.t[size_t(i * K + m.y[size_t(i)])] - off) / (on - off);
      REQUIRE(!std::isnan(lam));
      CHECK(lam >= 0);
      CHECK(lam <= 1);
      lams.insert(float(lam));
      for (int64_t i = 0; i < 8; ++i) {
        const auto y1 = one_hot(K, m.y[size_t(i)], 0.1), y2 = one_hot(K, m.y[size_t(7 - i)], 0.1);
        double row = 0;
        for (int64_t k = 0; k < K; ++k) {
          CHECK(m.t[size_t(i * K + k)] == doctest::Approx(lam * y1[size_t(k)] + (1 - lam) * y2[size_t(k)]).epsilon(1e-5));
          row += m.t[size_t(i * K + k)];
        }
        CHECK(row == doctest::Approx(1.0).epsilon(1e-6));
        for (int64_t k = 0; k < CHW; ++k)
          CHECK(m.x[size_t(i * CHW + k)] ==
                doctest::Approx(lam * x.x[size_t(i * CHW + k)] + (1 - lam) * x.x[size_t((7 - i) * CHW + k)])
                    .epsilon(1e-5).scale(1));
      }
    }
  CHECK(lams.size() == 15u);  // one fresh lam per batch
}

TEST_CASE("Augment: cutmix pastes one box from the partner, and the target weight is the box's area fraction") {
  // images constant per sample and distinct, so every pixel tells which sample it came from
  const int64_t C = 2, H = 7, W = 6, HW = H * W, B = 6;
  const Dataset d = make_data(30, C, H, W, 6, [](int64_t i, int64_t k) { return int(5 + 8 * i + (k >= HW ? 1 : 0)); });
  AugmentConfig a = plain(true);
  AugmentConfig cut = a;
  cut.cutmix = 1.0;
  BatchLoader none(d, B, 9, a, true), mixed(d, B, 9, cut, true);
  int clipped = 0, empty = 0, boxes = 0;
  for (int64_t e = 0; e < 8; ++e)
    for (int64_t s = 0; s < 5; ++s) {
      CAPTURE(e);
      CAPTURE(s);
      const Batch x = get(none, d, e, s), m = get(mixed, d, e, s);
      REQUIRE(x.y == m.y);
      std::set<int64_t> box;  // (y, x) positions taken from the partner, the same for every sample and channel
      for (int64_t i = 0; i < B; ++i)
        for (int64_t c = 0; c < C; ++c) {
          std::set<int64_t> mine;
          for (int64_t k = 0; k < HW; ++k) {
            const float v = m.x[size_t((i * C + c) * HW + k)];
            const float own = x.x[size_t((i * C + c) * HW + k)], other = x.x[size_t(((B - 1 - i) * C + c) * HW + k)];
            REQUIRE((v == own || v == other));
            if (v == other && v != own) mine.insert(k);
          }
          if (i == 0 && c == 0) box = mine;
          CHECK(mine == box);
        }
      // a rectangle
      if (box.empty()) {
        ++empty;
      } else {
        ++boxes;
        int64_t y0 = H, y1 = -1, x0 = W, x1 = -1;
        for (int64_t k : box) y0 = std::min(y0, k / W), y1 = std::max(y1, k / W), x0 = std::min(x0, k % W), x1 = std::max(x1, k % W);
        CHECK(int64_t(box.size()) == (y1 - y0 + 1) * (x1 - x0 + 1));
        clipped += (y0 == 0 || x0 == 0 || y1 == H - 1 || x1 == W - 1);
      }
      // smoothing 0: the own label weighs 1 - area fraction, the partner's the area fraction
      const double frac = double(box.size()) / double(HW);
      for (int64_t i = 0; i < B; ++i) {
        const int32_t y1 = m.y[size_t(i)], y2 = m.y[size_t(B - 1 - i)];
        if (y1 == y2) {
          CHECK(m.t[size_t(i * 6 + y1)] == doctest::Approx(1.0));
        } else {
          CHECK(m.t[size_t(i * 6 + y1)] == doctest::Approx(1.0 - frac).epsilon(1e-6));
          CHECK(m.t[size_t(i * 6 + y2)] == doctest::Approx(frac).epsilon(1e-6));
        }
      }
    }
  CHECK(boxes > 20);   // Beta(1, 1): most boxes are non-empty
  CHECK(clipped > 0);  // and some are cut by the border (timm clips, correct_lam recomputes lam)
}

TEST_CASE("Augment: lam ~ Beta(alpha, alpha), and mixup_prob and mixup_switch_prob are the batch fractions") {
  // two 1x1 samples, labels 0 and 1, batch 2: row 0's weight on class 0 is lam
  const Dataset d = make_data(2, 1, 1, 1, 2, [](int64_t i, int64_t) { return int(100 * i); });
  auto lams = [&](const AugmentConfig& a, int n) {
    BatchLoader L(d, 2, 11, a, true);
    std::vector<double> out;
    for (int64_t e = 0; e < n; ++e) {
      const Batch b = get(L, d, e, 0);
      out.push_back(b.t[size_t(b.y[0])]);  // sample 0 is label y[0]; its partner has the other label
    }
    return out;
  };
  const int N = 4000;
  for (double alpha : {0.2, 1.0, 2.0, 5.0}) {
    CAPTURE(alpha);
    AugmentConfig a = plain(true);
    a.mixup = alpha;
    std::vector<double> l = lams(a, N);
    double mean = 0, var = 0;
    for (double x : l) mean += x / N;
    for (double x : l) var += (x - mean) * (x - mean) / (N - 1);
    CHECK(*std::min_element(l.begin(), l.end()) >= 0);
    CHECK(*std::max_element(l.begin(), l.end()) <= 1);
    CHECK(mean == doctest::Approx(0.5).epsilon(0.05));                                // symmetric
    CHECK(var == doctest::Approx(1.0 / (4.0 * (2.0 * alpha + 1.0))).epsilon(0.08));  // Beta(a, a) variance
    if (alpha == 1.0 || alpha == 2.0) {  // Kolmogorov-Smirnov against the closed-form CDF (1% level: 1.63/sqrt(N))
      std::sort(l.begin(), l.end());
      double dmax = 0;
      for (int i = 0; i < N; ++i) {
        const double x = l[size_t(i)], F = alpha == 1.0 ? x : 3 * x * x - 2 * x * x * x;
        dmax = std::max({dmax, std::abs(F - double(i) / N), std::abs(F - double(i + 1) / N)});
      }
      CHECK(dmax < 1.63 / std::sqrt(double(N)));
    }
  }
  AugmentConfig a = plain(true);
  a.mixup = 1.0;
  a.mixup_prob = 0.3;  // the rest of the batches keep lam = 1
  const auto l = lams(a, N);
  CHECK(double(std::count(l.begin(), l.end(), 1.0)) / N == doctest::Approx(0.7).epsilon(0.05));
  // both on: on 1x1 images timm's cutmix box is always empty (int(1 * sqrt(1 - lam)) = 0), so lam = 1
  // marks exactly the cutmix batches
  a.mixup_prob = 1.0;
  a.cutmix = 1.0;
  a.mixup_switch_prob = 0.25;
  const auto s = lams(a, N);
  CHECK(double(std::count(s.begin(), s.end(), 1.0)) / N == doctest::Approx(0.25).epsilon(0.1));
}

TEST_CASE("Loader: batches are identical for 1 and 2 OpenMP threads and for repeated calls") {
  const Dataset d = make_data(64, 3, 32, 32, 10, [](int64_t i, int64_t k) { return int((i * 131 + k * 7 + (k >> 5)) % 256); });
  AugmentConfig a;  // everything on
  a.mean = {0.4914, 0.4822, 0.4465};
  a.std = {0.2470, 0.2435, 0.2616};
  a.mixup = 0.8;
  a.cutmix = 1.0;
  const int threads = omp_get_max_threads();
  for (bool train : {true, false}) {
    BatchLoader L(d, 16, 3, a, train);
    std::vector<Batch> one, two;
    omp_set_num_threads(1);
    for (int64_t e = 0; e < 3; ++e)
      for (int64_t s = 0; s < 4; ++s) one.push_back(get(L, d, e, s));
    omp_set_num_threads(2);
    for (int64_t e = 2; e >= 0; --e)  // and in another order
      for (int64_t s = 3; s >= 0; --s) two.insert(two.begin(), get(L, d, e, s));
    omp_set_num_threads(threads);
    REQUIRE(one.size() == two.size());
    for (size_t i = 0; i < one.size(); ++i) {
      CAPTURE(i);
      CHECK(one[i] == two[i]);
      CHECK(std::all_of(one[i].x.begin(), one[i].x.end(), [](float v) { return std::isfinite(v); }));
    }
    CHECK(get(L, d, 1, 2) == one[6]);
    if (train) CHECK(!(one[0] == one[4]));  // epochs differ
  }
}

TEST_CASE("Loader: a shard of rows is those rows of the whole batch, bitwise, with mixup, cutmix, crops and flips") {
  const Dataset d = make_data(64, 3, 12, 12, 10, [](int64_t i, int64_t k) { return int((i * 37 + k * 11 + (k >> 3)) % 256); });
  for (const char* mode : {"plain", "mixup", "cutmix", "both"}) {
    CAPTURE(mode);
    AugmentConfig a;
    a.mean = {0.5};
    a.std = {0.25};
    a.mixup = std::string(mode) == "mixup" || std::string(mode) == "both" ? 0.8 : 0;
    a.cutmix = std::string(mode) == "cutmix" || std::string(mode) == "both" ? 1.0 : 0;
    const int64_t B = 15, C = 3, HW = 144, K = 10;  // odd B: the middle row mixes with itself
    const BatchLoader whole(d, B, 5, a, true);
    for (const auto& [first, count] : std::vector<std::pair<int64_t, int64_t>>{{0, 7}, {7, 8}, {0, 5}, {5, 5}, {10, 5},
                                                                              {3, 1}, {0, 15}}) {
      CAPTURE(first);
      CAPTURE(count);
      BatchLoader part(d, B, 5, a, true);
      part.set_shard(first, count);
      CHECK(part.rows() == count);
      for (int64_t e = 0; e < 2; ++e)
        for (int64_t s = 0; s < 4; ++s) {
          const Batch w = get(whole, d, e, s);
          std::vector<float> x(size_t(count * C * HW), NAN), t(size_t(count * K), NAN);
          std::vector<int32_t> y(size_t(count), -1);
          CHECK(part.batch(e, s, x.data(), y.data(), t.data()) == count);
          CHECK(std::equal(x.begin(), x.end(), w.x.begin() + first * C * HW));
          CHECK(std::equal(t.begin(), t.end(), w.t.begin() + first * K));
          CHECK(std::equal(y.begin(), y.end(), w.y.begin() + first));
        }
    }
  }
  AugmentConfig a;
  a.mean = {0.5};
  a.std = {0.25};
  BatchLoader L(d, 16, 5, a, true);
  CHECK_THROWS_WITH(L.set_shard(8, 9), doctest::Contains("rows [8, 17) are not within a batch of 16"));
  BatchLoader E(d, 16, 5, a, false);
  CHECK_THROWS_WITH(E.set_shard(0, 8), doctest::Contains("not sharded"));
}
