// tests/test_loss.cpp: softmax cross-entropy, label smoothing as timm, soft targets.
#include "gradcheck.h"
#include "tapevit/layers/loss.h"

using namespace tapevit;
using namespace tapevit::test;

TEST_CASE("cross_entropy: equal logits give log K, and smoothing matches timm's formula") {
  double z[] = {0, 0, 0, 0, 1, 2, 3, 4};  // B=2, K=4
  int32_t labels[] = {1, 3};
  Tape<double> t(1 << 24);
  Var<double> l = cross_entropy(t, t.wrap(z, {2, 4}), labels);
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0) + std::exp(4.0));
  CHECK(l->data[0] == doctest::Approx((std::log(4.0) + (lse - 4.0)) / 2).epsilon(1e-14));
  // timm LabelSmoothingCrossEntropy: (1 - e) * nll + e * mean_k(-log p_k)
  const double e = 0.1;
  const double row1 = (1 - e) * (lse - 4.0) + e * ((lse - 1) + (lse - 2) + (lse - 3) + (lse - 4)) / 4;
  const double row0 = (1 - e) * std::log(4.0) + e * std::log(4.0);
  Var<double> ls = cross_entropy(t, t.wrap(z, {2, 4}), labels, e);
  CHECK(ls->data[0] == doctest::Approx((row0 + row1) / 2).epsilon(1e-14));
}

TEST_CASE("cross_entropy: a label outside 0..K-1 names the sample") {
  double z[] = {0, 0, 0};
  int32_t labels[] = {3};
  Tape<double> t(1 << 24);
  CHECK_THROWS_WITH_AS(cross_entropy(t, t.wrap(z, {1, 3}), labels), "label 3 of sample 0 is outside [0, 3)", Error);
}

TEST_CASE("cross_entropy and soft targets: logit gradients") {
  Leaf z({5, 7}, 1, 3.0);
  int32_t labels[] = {0, 6, 3, 3, 1};
  for (double e : {0.0, 0.1})
    expect_grads_ok(e > 0 ? "cross_entropy smoothing 0.1 B5 K7" : "cross_entropy B5 K7",
                    gradcheck([&](Tape<double>& t) { return cross_entropy(t, z.var(), labels, e); }, {{"logits", z.var()}}));
  std::vector<double> soft(35, 0.0);  // mixup-like: two classes per row
  for (int b = 0; b < 5; ++b) soft[size_t(b * 7 + b)] += 0.7, soft[size_t(b * 7 + (b + 2) % 7)] += 0.3;
  expect_grads_ok("soft_target_cross_entropy B5 K7",
                  gradcheck([&](Tape<double>& t) { return soft_target_cross_entropy(t, z.var(), soft.data()); },
                            {{"logits", z.var()}}));
}
