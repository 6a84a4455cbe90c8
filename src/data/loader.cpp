// src/data/loader.cpp: BatchLoader, uint8 data set -> float batches (B, C, H, W), labels (B), targets (B, K).
//
// Train, per sample: torchvision RandomCrop(size=(H, W), padding=p) (zero pixels around the image, offset
// uniform in [0, 2p] per axis), then RandomHorizontalFlip(hflip), then Normalize: (x/255 - mean[c]) / std[c].
// Then, per batch, timm's Mixup in mode 'batch': with probability mixup_prob one lam for the whole batch,
// sample i mixed with sample B-1-i (timm's x.flip(0)):
//   mixup:  lam ~ Beta(mixup, mixup), x_i = lam x_i + (1 - lam) x_{B-1-i}
//   cutmix: lam ~ Beta(cutmix, cutmix), timm's rand_bbox (side sqrt(1 - lam) of the image's, centre uniform,
//           clipped to the image) pasted from x_{B-1-i}; lam := 1 - box area / image area (correct_lam=True)
//   both on: cutmix with probability mixup_switch_prob, else mixup.
// Targets are timm's mixup_target: lam * y_i + (1 - lam) * y_{B-1-i} with smoothed one-hots
// (off = smoothing / K, on = 1 - smoothing + off). An odd B mixes its middle sample with itself (timm asserts B
// is even; a constant training batch shape makes that a batch_size choice, so we do not forbid it).
// Eval: samples in order, no augmentation or mixing, targets = smoothed one-hots.
//
// Every random draw is Rng::bits(key, i) with key = a hash of (seed, purpose, epoch[, step]) and i the sample's
// position in the epoch: a batch is a pure function of (seed, epoch, step), independent of the thread count,
// of call order and of the mixing settings (turning mixup on does not change the crops).
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tapevit/data/loader.h"
#include "tapevit/error.h"
#include "tapevit/rng.h"

namespace tapevit {

namespace {

const uint64_t kShuffle = hash_name("tapevit.data.shuffle");
const uint64_t kAugment = hash_name("tapevit.data.augment");
const uint64_t kMix = hash_name("tapevit.data.mix");

uint64_t stream_key(uint64_t seed, uint64_t purpose, int64_t epoch, int64_t step) {
  return splitmix64(splitmix64(splitmix64(seed ^ purpose) ^ uint64_t(epoch)) ^ uint64_t(step));
}

// uniform integer in [0, n); 53 random bits, so the bias is below n / 2^53
int64_t uniform_int(uint64_t key, uint64_t i, int64_t n) {
  return std::min<int64_t>(int64_t(Rng::uniform(key, i) * double(n)), n - 1);
}

// log of a Gamma(a, 1) draw: Marsaglia & Tsang, "A simple method for generating gamma variables" (2000).
// For a < 1 their boost G(a) = G(a + 1) * U^(1/a), kept in log space so tiny alphas do not underflow to 0.
// Normals and uniforms come from two sub-streams of key.
double log_gamma_draw(double a, uint64_t key) {
  const uint64_t knorm = Rng::bits(key, 1), kunif = Rng::bits(key, 2);
  double log_boost = 0;
  if (a < 1) {
    log_boost = std::log(1.0 - Rng::uniform(kunif, 0)) / a;  // 1 - U in (0, 1]
    a += 1;
  }
  const double d = a - 1.0 / 3.0, c = 1.0 / std::sqrt(9.0 * d);
  for (uint64_t t = 0; t < 100000; ++t) {  // acceptance >= 95% per try; the bound only guards against NaN
    const double x = Rng::normal(knorm, t);
    double v = 1 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    const double u = 1.0 - Rng::uniform(kunif, t + 1);  // in (0, 1]
    if (u < 1 - 0.0331 * x * x * x * x || std::log(u) < 0.5 * x * x + d * (1 - v + std::log(v)))
      return log_boost + std::log(d * v);
  }
  fail("Gamma sampler: no acceptance for shape ", a);
}

// Beta(a, a) = G1 / (G1 + G2) = 1 / (1 + G2/G1)
double beta_draw(double a, uint64_t key) {
  const double l1 = log_gamma_draw(a, Rng::bits(key, 0)), l2 = log_gamma_draw(a, Rng::bits(key, 1));
  return 1.0 / (1.0 + std::exp(l2 - l1));
}

void check_unit(const char* key, double x) {
  if (!(x >= 0 && x <= 1)) fail("key '", key, "' must be in [0, 1], got ", x);
}

}  // namespace

// mean/std: one entry per channel, or a single entry used for every channel (as torchvision's Normalize
// broadcasts a length-1 mean); empty = the data set's defaults (the data set table), filled in by BatchLoader.
void AugmentConfig::validate(int64_t channels) const {
  for (const auto* v : {&mean, &std}) {
    const char* key = v == &mean ? "mean" : "std";
    if (channels > 0 && !v->empty() && int64_t(v->size()) != 1 && int64_t(v->size()) != channels)
      fail("key '", key, "' has ", v->size(), " values, expected ",
           channels == 1 ? std::string("1 (in_chans is 1)") : std::to_string(channels) + " (one per channel, in_chans " +
                                                                   std::to_string(channels) + ") or 1 (for all)");
    for (double x : *v) {
      if (!std::isfinite(x)) fail("key '", key, "' must be finite, got ", x);
      if (v == &std && !(x > 0)) fail("key 'std' must be > 0, got ", x);
    }
  }
  if (crop_padding < 0) fail("key 'crop_pad' must be >= 0, got ", crop_padding);
  check_unit("hflip", hflip);
  if (!(mixup >= 0 && std::isfinite(mixup))) fail("key 'mixup' (Beta alpha) must be >= 0, got ", mixup);
  if (!(cutmix >= 0 && std::isfinite(cutmix))) fail("key 'cutmix' (Beta alpha) must be >= 0, got ", cutmix);
  check_unit("mixup_prob", mixup_prob);
  check_unit("mixup_switch_prob", mixup_switch_prob);
  if (!(smoothing >= 0 && smoothing < 1)) fail("key 'smoothing' must be in [0, 1), got ", smoothing);
}

BatchLoader::BatchLoader(const Dataset& data, int64_t batch_size, uint64_t seed, const AugmentConfig& aug, bool train)
    : data_(data), batch_(batch_size), seed_(seed), aug_(aug), train_(train) {
  const int64_t C = data.channels, HW = data.height * data.width;
  if (batch_size <= 0) fail("key 'batch_size' must be positive, got ", batch_size);
  if (data.n < 0 || C <= 0 || data.height <= 0 || data.width <= 0 || data.num_classes <= 0)
    fail("data set '", data.name, "' has n=", data.n, ", shape [", C, ", ", data.height, ", ",
         data.width, "], ", data.num_classes, " classes");
  const int64_t held = data.is_folder() ? int64_t(data.files.size()) * C * HW : int64_t(data.images.size());
  if (held != data.n * C * HW || int64_t(data.labels.size()) != data.n)
    fail("data set '", data.name, "' holds ", data.images.size(), " pixels and ", data.labels.size(),
         " labels, expected ", data.n * C * HW, " and ", data.n);
  for (int64_t i = 0; i < data.n; ++i)
    if (data.labels[size_t(i)] < 0 || data.labels[size_t(i)] >= data.num_classes)
      fail("label ", data.labels[size_t(i)], " of sample ", i, " of '", data.name, "' is outside [0, ",
           data.num_classes, ")");
  if (train && data.n < batch_size)
    fail("batch_size ", batch_size, " is larger than the '", data.name, "' training set (", data.n,
         " samples); a training epoch drops its last incomplete batch, so it would have none");

  if (aug_.mean.empty() || aug_.std.empty()) {
    const DataSetKind& kind = data_set_kind(data.name);  // throws for an unknown name: give mean and std then
    if (aug_.mean.empty()) aug_.mean = kind.mean;
    if (aug_.std.empty()) aug_.std = kind.std;
  }
  aug_.validate(C);
  if (data.is_folder()) {
    aug_.image.validate();
    if (!aug_.image.aa.empty())
      aa_ = std::make_shared<RandAugment>(aug_.image.aa, data.height, aug_.mean, aug_.image.train_interpolation);
  }
  if (aug_.mean.size() == 1) aug_.mean.assign(size_t(C), aug_.mean[0]);
  if (aug_.std.size() == 1) aug_.std.assign(size_t(C), aug_.std[0]);

  lut_.resize(size_t(C * 256));
  for (int64_t c = 0; c < C; ++c)
    for (int v = 0; v < 256; ++v)
      lut_[size_t(c * 256 + v)] = float((v / 255.0 - aug_.mean[size_t(c)]) / aug_.std[size_t(c)]);
}

void BatchLoader::set_shard(int64_t first, int64_t count) {
  if (!train_) fail("BatchLoader::set_shard: evaluation batches are not sharded by rows");
  if (first < 0 || count <= 0 || first + count > batch_)
    fail("BatchLoader::set_shard: rows [", first, ", ", first + count, ") are not within a batch of ", batch_);
  shard_first_ = first;
  shard_count_ = count == batch_ ? 0 : count;
}

int64_t BatchLoader::steps_per_epoch() const { return train_ ? data_.n / batch_ : (data_.n + batch_ - 1) / batch_; }

namespace {

// timm's Mixup._params_per_batch then _mix_batch, in place on images (B, C, H, W): sample i with sample B-1-i.
// Returns lam (1 when this batch is not mixed). Only the pairs with a row in [lo, hi) are mixed (a shard).
double mix_batch(float* images, int64_t B, int64_t C, int64_t H, int64_t W, const AugmentConfig& aug, uint64_t key,
                 bool parallel, int64_t lo, int64_t hi) {
  const int64_t HW = H * W, CHW = C * HW;
  if (!(Rng::uniform(key, 0) < aug.mixup_prob)) return 1.0;
  bool cutmix = aug.mixup <= 0;
  if (aug.mixup > 0 && aug.cutmix > 0) cutmix = Rng::uniform(key, 1) < aug.mixup_switch_prob;
  double lam = beta_draw(cutmix ? aug.cutmix : aug.mixup, Rng::bits(key, 2));
  const int64_t half = B / 2;
  auto skip = [&](int64_t i) { return (i < lo || i >= hi) && (B - 1 - i < lo || B - 1 - i >= hi); };
  if (cutmix) {
    // timm's rand_bbox: cut = int(side * sqrt(1 - lam)), centre uniform in the image, half-cuts clipped
    const double ratio = std::sqrt(1.0 - lam);
    const int64_t cut_h = int64_t(double(H) * ratio), cut_w = int64_t(double(W) * ratio);
    const int64_t cy = uniform_int(key, 3, H), cx = uniform_int(key, 4, W);
    const int64_t y0 = std::clamp<int64_t>(cy - cut_h / 2, 0, H), y1 = std::clamp<int64_t>(cy + cut_h / 2, 0, H);
    const int64_t x0 = std::clamp<int64_t>(cx - cut_w / 2, 0, W), x1 = std::clamp<int64_t>(cx + cut_w / 2, 0, W);
    lam = 1.0 - double((y1 - y0) * (x1 - x0)) / double(HW);
    // both partners take the box from each other: swap it
#pragma omp parallel for schedule(static) if (parallel && B * CHW >= 16384)
    for (int64_t i = 0; i < half; ++i) {
      if (skip(i)) continue;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t y = y0; y < y1; ++y) {
          float* a = images + i * CHW + c * HW + y * W;
          float* b = images + (B - 1 - i) * CHW + c * HW + y * W;
          std::swap_ranges(a + x0, a + x1, b + x0);
        }
    }
  } else {
    const float l = float(lam), m = float(1.0 - lam);
#pragma omp parallel for schedule(static) if (parallel && B * CHW >= 16384)
    for (int64_t i = 0; i < half; ++i) {
      if (skip(i)) continue;
      float* a = images + i * CHW;
      float* b = images + (B - 1 - i) * CHW;
      for (int64_t k = 0; k < CHW; ++k) {
        const float va = a[k], vb = b[k];
        a[k] = l * va + m * vb;
        b[k] = l * vb + m * va;
      }
    }
  }
  return lam;
}

// timm's mixup_target: lam * smoothed_onehot(y_i) + (1 - lam) * smoothed_onehot(y_{B-1-i}), for rows [lo, hi) of
// the batch into targets (hi - lo, K); labels: the whole batch's (B).
void mixup_targets(float* targets, const int32_t* labels, int64_t B, int64_t K, double smoothing, double lam,
                   int64_t lo, int64_t hi) {
  const double off = smoothing / double(K), on = 1.0 - smoothing + off;
  for (int64_t i = lo; i < hi; ++i) {
    const int32_t y1 = labels[i], y2 = labels[B - 1 - i];
    float* t = targets + (i - lo) * K;
    for (int64_t k = 0; k < K; ++k)
      t[k] = float(lam * (k == y1 ? on : off) + (1.0 - lam) * (k == y2 ? on : off));
  }
}

}  // namespace

std::shared_ptr<const std::vector<int64_t>> BatchLoader::permutation(int64_t epoch) const {
  std::lock_guard<std::mutex> lock(perm_mutex_);
  if (perm_epoch_ != epoch) {  // Fisher-Yates from the identity: the order depends on the epoch only
    const uint64_t key = stream_key(seed_, kShuffle, epoch, 0);
    auto perm = std::make_shared<std::vector<int64_t>>(size_t(data_.n));
    std::iota(perm->begin(), perm->end(), int64_t(0));
    for (int64_t i = data_.n - 1; i > 0; --i) std::swap((*perm)[size_t(i)], (*perm)[size_t(uniform_int(key, uint64_t(i), i + 1))]);
    perm_ = std::move(perm);  // a worker still holding the previous epoch's order keeps it alive
    perm_epoch_ = epoch;
  }
  return perm_;
}

// In-memory images: crop from the zero-padded image, flip, normalise.
void BatchLoader::memory_sample(int64_t src, int64_t pos, uint64_t aug_key, float* out) const {
  const int64_t C = data_.channels, H = data_.height, W = data_.width, HW = H * W;
  const bool augment = train_ && aug_.augment;
  const int64_t pad = augment ? aug_.crop_padding : 0;
  int64_t oy = pad, ox = pad;  // crop offset in the padded image; (pad, pad) is the image itself
  bool flip = false;
  if (augment) {
    if (pad > 0) {
      oy = uniform_int(aug_key, 3 * uint64_t(pos), 2 * pad + 1);
      ox = uniform_int(aug_key, 3 * uint64_t(pos) + 1, 2 * pad + 1);
    }
    flip = Rng::uniform(aug_key, 3 * uint64_t(pos) + 2) < aug_.hflip;
  }
  // out(y, x) = padded(y + oy, x' + ox) = image(y + oy - pad, x' + ox - pad), x' = flip ? W-1-x : x
  const int64_t dy = oy - pad, dx = ox - pad;
  for (int64_t c = 0; c < C; ++c) {
    const uint8_t* img = data_.images.data() + src * C * HW + c * HW;
    const float* lc = lut_.data() + c * 256;
    for (int64_t y = 0; y < H; ++y) {
      const int64_t sy = y + dy;
      float* row = out + c * HW + y * W;
      if (sy < 0 || sy >= H) {
        std::fill(row, row + W, lc[0]);
        continue;
      }
      const uint8_t* srow = img + sy * W;
      for (int64_t x = 0; x < W; ++x) {
        const int64_t sx = (flip ? W - 1 - x : x) + dx;
        row[x] = sx >= 0 && sx < W ? lc[srow[sx]] : lc[0];
      }
    }
  }
}

// A folder's image: decode (or take the cached one), timm's train or eval chain, normalise, random erasing.
void BatchLoader::folder_sample(int64_t src, int64_t pos, uint64_t aug_key, float* out) const {
  const int64_t C = data_.channels, S = data_.height;
  // per-thread buffers, reused from image to image: no allocation, zeroing or page faults per image
  thread_local Image decoded, t;
  thread_local TransformScratch scratch;
  thread_local std::vector<uint8_t> bytes;
  if (data_.decoded.empty()) read_image(data_.files[size_t(src)], int(C), decoded, bytes);
  const Image& im = data_.decoded.empty() ? decoded : data_.decoded[size_t(src)];
  Draws d{Rng::bits(aug_key, uint64_t(pos))};
  const bool augment = train_ && aug_.augment;
  if (augment) train_transform(im, S, aug_.hflip, aug_.image, aa_.get(), d, t, scratch);
  else eval_transform(im, S, aug_.image, t, scratch);
  for (int64_t c = 0; c < C; ++c) {  // HWC bytes -> CHW normalised floats
    const float* lc = lut_.data() + c * 256;
    for (int64_t i = 0; i < S * S; ++i) out[c * S * S + i] = lc[t.pixels[size_t(i * C + c)]];
  }
  if (augment) random_erasing(out, C, S, S, aug_.image, d);
}

int64_t BatchLoader::batch(int64_t epoch, int64_t step, float* images, int32_t* labels, float* targets,
                           bool parallel) const {
  const int64_t steps = steps_per_epoch();
  if (epoch < 0) fail("BatchLoader::batch: epoch must be >= 0, got ", epoch);
  if (step < 0 || step >= steps)
    fail("BatchLoader::batch: step ", step, " is outside [0, ", steps, ") (", data_.n, " samples, batch_size ", batch_,
         train_ ? ", train)" : ", eval)");
  const int64_t C = data_.channels, H = data_.height, W = data_.width, K = data_.num_classes;
  const int64_t HW = H * W, CHW = C * HW;
  const int64_t first = step * batch_, B = std::min(batch_, data_.n - first);

  // the rows asked for, [r0, r1) (a shard, or the whole batch); with mixing, their partners B-1-i are made too, in a
  // scratch batch that holds every row where it would be
  const int64_t r0 = shard_count_ > 0 ? shard_first_ : 0, r1 = shard_count_ > 0 ? shard_first_ + shard_count_ : B;
  const bool augment = train_ && aug_.augment;
  const bool mixing = augment && (aug_.mixup > 0 || aug_.cutmix > 0);
  const bool whole = r0 == 0 && r1 == B;
  thread_local std::vector<float> scratch_batch;
  float* canvas = images;  // row i at canvas + (i - base) * CHW
  int64_t base = r0;
  if (mixing && !whole) {
    scratch_batch.resize(size_t(B * CHW));
    canvas = scratch_batch.data();
    base = 0;
  }
  auto wanted = [&](int64_t i) { return (i >= r0 && i < r1) || (mixing && B - 1 - i >= r0 && B - 1 - i < r1); };

  const auto order = train_ ? permutation(epoch) : nullptr;
  const int64_t* perm = train_ ? order->data() : nullptr;
  const uint64_t aug_key = stream_key(seed_, kAugment, epoch, 0);
  const bool folder = data_.is_folder();
  std::vector<int32_t> all_labels(static_cast<size_t>(B));
  std::exception_ptr error;  // the first sample that failed (a corrupt image)
#pragma omp parallel for schedule(dynamic, 4) if (parallel && (folder || B * CHW >= 16384))
  for (int64_t i = 0; i < B; ++i) {
    const int64_t src = train_ ? perm[first + i] : first + i;
    all_labels[size_t(i)] = data_.labels[size_t(src)];
    if (!wanted(i)) continue;
    try {
      if (folder) folder_sample(src, first + i, aug_key, canvas + (i - base) * CHW);
      else memory_sample(src, first + i, aug_key, canvas + (i - base) * CHW);
    } catch (...) {
#pragma omp critical(batch_error)
      if (!error) error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);

  // per batch: mixup / cutmix, then the (mixed, smoothed) targets
  double lam = 1.0;
  if (mixing) lam = mix_batch(canvas, B, C, H, W, aug_, stream_key(seed_, kMix, epoch, step), parallel, r0, r1);
  if (canvas != images) std::copy(canvas + r0 * CHW, canvas + r1 * CHW, images);
  std::copy(all_labels.begin() + r0, all_labels.begin() + r1, labels);
  mixup_targets(targets, all_labels.data(), B, K, aug_.smoothing, lam, r0, r1);
  return r1 - r0;
}

int default_workers(const Dataset& d) {
  return d.is_folder() ? int(std::max(1u, std::thread::hardware_concurrency() / 2)) : 0;
}

Prefetcher::Prefetcher(const BatchLoader& loader, int64_t epoch, int64_t step, int workers, int depth)
    : loader_(loader), epoch0_(epoch), step0_(step), steps_(loader.steps_per_epoch()) {
  if (workers < 0) fail("key 'workers' must be >= 0, got ", workers);
  slots_.resize(size_t(workers == 0 ? 1 : std::max(depth, workers + 1)));
  const Dataset& d = loader.data();
  const int64_t B = loader.rows(), K = d.num_classes;
  for (Slot& s : slots_) {
    s.batch.images.resize(size_t(B * d.channels * d.height * d.width));
    s.batch.targets.resize(size_t(B * K));
    s.batch.labels.resize(size_t(B));
  }
  for (int w = 0; w < workers; ++w) threads_.emplace_back([this] { work(); });
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void Prefetcher::make(int64_t pos, Slot& slot, bool parallel) {
  const int64_t e = epoch0_ + (step0_ + pos) / steps_, s = (step0_ + pos) % steps_;
  slot.error = nullptr;
  try {
    slot.batch.n = loader_.batch(e, s, slot.batch.images.data(), slot.batch.labels.data(), slot.batch.targets.data(), parallel);
  } catch (...) {
    slot.error = std::current_exception();
  }
}

// A worker: take the next position while it is within the slots ahead of the consumer, make it, mark it ready.
void Prefetcher::work() {
  // The lowest CPU priority: a worker takes what the training step leaves (its serial parts, the waits of its
  // thread team) instead of preempting one of the step's OpenMP threads, which would stall the whole team at its
  // next barrier. If the workers fall behind, the step waits in get(), its cores go idle and the workers run.
  setpriority(PRIO_PROCESS, pid_t(syscall(SYS_gettid)), 19);
  const int64_t depth = int64_t(slots_.size());
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || next_make_ < consumer_ + depth; });
    if (stop_) return;
    const int64_t pos = next_make_++;
    Slot& slot = slots_[size_t(pos % depth)];
    lock.unlock();
    make(pos, slot, /*parallel=*/false);
    lock.lock();
    slot.pos = pos;
    cv_.notify_all();
  }
}

const Prefetcher::Batch& Prefetcher::get(int64_t epoch, int64_t step) {
  const int64_t pos = (epoch - epoch0_) * steps_ + step - step0_;
  std::unique_lock<std::mutex> lock(mu_);
  if (pos != expected_)
    fail("Prefetcher: batch (epoch ", epoch, ", step ", step, ") asked for out of order (expected position ",
         expected_, ", got ", pos, ")");
  Slot& slot = slots_[size_t(pos % int64_t(slots_.size()))];
  consumer_ = pos;  // the slots of earlier positions are free again; this one is held until the next call
  expected_ = pos + 1;
  if (threads_.empty()) {
    lock.unlock();
    make(pos, slot, /*parallel=*/true);
    lock.lock();
    slot.pos = pos;
  } else {
    cv_.notify_all();
    cv_.wait(lock, [&] { return slot.pos == pos; });
  }
  if (slot.error) std::rethrow_exception(slot.error);
  return slot.batch;
}

}  // namespace tapevit
