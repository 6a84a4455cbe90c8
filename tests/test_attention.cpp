// tests/test_attention.cpp: the attention core and MultiHeadSelfAttention, by hand and by central differences.
#include "gradcheck.h"
#include "tapevit/layers/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

using namespace tapevit;
using namespace tapevit::test;

TEST_CASE("Attention core: uniform scores average v, a sharp score selects one token") {
  // B=1, N=2, H=2, D=2 -> C=4, qkv row = [q(4) k(4) v(4)]; q = 0 makes every score equal.
  double qkv[] = {0, 0, 0, 0, 1, 2, 3, 4, 1, 2, 3, 4,
                  0, 0, 0, 0, 5, 6, 7, 8, 5, 6, 7, 8};
  Tape<double> t(1 << 24);
  Var<double> o = attention_core(t, t.wrap(qkv, {1, 2, 12}), 2, 0.0, "attn");
  CHECK(o->shape == Shape{1, 2, 4});
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 4; ++c) CHECK(o->data[n * 4 + c] == doctest::Approx((qkv[8 + c] + qkv[20 + c]) / 2));
  // timm layout check: head h of token n reads q at [n, 0*C + h*D + d]; make head 1's q pick token 1's key.
  // k(token0) = e0 in both heads, k(token1) = e1; q of head 1 = 100 * e1 -> head 1 attends to token 1.
  double qkv2[] = {0, 0, 0, 100, 1, 0, 1, 0, 10, 11, 12, 13,
                   0, 0, 0, 100, 0, 1, 0, 1, 20, 21, 22, 23};
  Var<double> o2 = attention_core(t, t.wrap(qkv2, {1, 2, 12}), 2, 0.0, "attn");
  CHECK(o2->data[2] == doctest::Approx(22.0));  // head 1, d 0 of token 0 = v(token 1)[2]
  CHECK(o2->data[3] == doctest::Approx(23.0));
  CHECK(o2->data[0] == doctest::Approx(15.0));  // head 0: q = 0, uniform
}

TEST_CASE("Attention core: gradient of qkv, with and without attention dropout") {
  for (double p : {0.0, 0.2}) {
    Leaf qkv({2, 5, 3 * 6}, 61);
    auto reps = gradcheck([&](Tape<double>& t) { return attention_core(t, qkv.var(), 3, p, "attn"); },
                          {{"qkv", qkv.var()}}, nullptr, /*training=*/true);
    expect_grads_ok(p > 0 ? "attention core B2 N5 H3 D2 attn_drop 0.2" : "attention core B2 N5 H3 D2", reps);
  }
}

TEST_CASE("MultiHeadSelfAttention: every gradient, qkv_bias on and off") {
  for (bool qkv_bias : {true, false}) {
    Params<double> p;
    MultiHeadSelfAttention<double> attn(p, "blocks.0.attn", 8, 2, qkv_bias);
    p.allocate();
    for (size_t i = 0; i < p.size(); ++i) fill_param(p.value(i), 70 + i, 0.5);
    Leaf x({2, 4, 8}, 69);
    std::vector<Wrt> wrt{{"x", x.var()}};
    for (size_t i = 0; i < p.size(); ++i) wrt.push_back({p.info(i).name, p.value(i), true});
    auto reps = gradcheck([&](Tape<double>& t) { return attn(t, x.var()); }, wrt, &p);
    expect_grads_ok(qkv_bias ? "MHSA C8 H2 N4 qkv_bias" : "MHSA C8 H2 N4 no qkv_bias", reps);
  }
}

TEST_CASE("MultiHeadSelfAttention: dim not divisible by heads is an error") {
  Params<float> p;
  CHECK_THROWS_WITH_AS(MultiHeadSelfAttention<float>(p, "blocks.0.attn", 10, 3, true),
                       "Attention 'blocks.0.attn': dim 10 is not divisible by num_heads 3", Error);
}

TEST_CASE("Attention core: float (AVX-512 head kernels when built with them) matches double") {
  // Shapes that take every edge of the float path: one token, rows not a multiple of 6, columns not a multiple of
  // 16 (N 7, 70; D 24), more than one 64-column block (N 70), vit-fmnist's and vit_tiny's heads (N 50, 197; D 64).
  struct Case { int64_t B, N, H, D; double drop; };
  for (const Case c : {Case{1, 1, 2, 16, 0}, Case{2, 7, 3, 24, 0}, Case{2, 50, 3, 64, 0}, Case{1, 70, 2, 32, 0.1},
                       Case{1, 197, 1, 64, 0}}) {
    CAPTURE(c.N);
    CAPTURE(c.D);
    const int64_t C = c.H * c.D, nqkv = c.B * c.N * 3 * C, nout = c.B * c.N * C;
    // scores up to ~+-40: softmax rows from flat to one-hot, exp far into its negative range
    std::vector<double> qkv = random_vector(size_t(nqkv), 91, 2.5), dout = random_vector(size_t(nout), 92, 1.0);
    std::vector<double> acc0 = random_vector(size_t(nqkv), 93, 1.0);
    auto run = [&](auto zero) {
      using T = decltype(zero);
      std::vector<T> x(qkv.begin(), qkv.end()), g(dout.begin(), dout.end()), out(static_cast<size_t>(nout), T(0));
      std::vector<T> probs(size_t(c.B * c.H * c.N * c.N));
      std::vector<T> scratch(size_t(omp_get_max_threads() * attention_scratch(c.N, c.D)));
      std::vector<T> assigned(size_t(nqkv), T(7)), accumulated(acc0.begin(), acc0.end());
      attention_forward<T>(out.data(), probs.data(), x.data(), c.B, c.N, c.H, c.D, c.drop, 5, scratch.data());
      attention_backward<T>(assigned.data(), g.data(), x.data(), probs.data(), c.B, c.N, c.H, c.D, c.drop, 5,
                            scratch.data(), true);
      attention_backward<T>(accumulated.data(), g.data(), x.data(), probs.data(), c.B, c.N, c.H, c.D, c.drop, 5,
                            scratch.data(), false);
      std::vector<std::vector<double>> r;
      for (const auto* v : {&out, &probs, &assigned, &accumulated}) r.emplace_back(v->begin(), v->end());
      return r;
    };
    const auto f = run(0.f), d = run(0.0);
    const char* names[] = {"out", "probs", "dqkv assigned", "dqkv accumulated"};
    for (size_t k = 0; k < f.size(); ++k) {
      double worst = 0, scale = 0;
      for (size_t i = 0; i < f[k].size(); ++i) {
        worst = std::max(worst, std::abs(f[k][i] - d[k][i]));
        scale = std::max(scale, std::abs(d[k][i]));
      }
      CAPTURE(names[k]);
      CHECK(scale > 0);
      CHECK(worst <= 2e-5 * scale);  // float rounding of sums over <= 197 terms
    }
  }
}
