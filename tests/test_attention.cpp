// tests/test_attention.cpp: the attention core and MultiHeadSelfAttention (and their grouped-query form), by hand and
// by central differences.
#include "gradcheck.h"
#include "tapevit/gemm.h"
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
  Var<double> o = attention_core(t, t.wrap(qkv, {1, 2, 12}), 2, 2, 0.0, "attn");
  CHECK(o->shape == Shape{1, 2, 4});
  for (int n = 0; n < 2; ++n)
    for (int c = 0; c < 4; ++c) CHECK(o->data[n * 4 + c] == doctest::Approx((qkv[8 + c] + qkv[20 + c]) / 2));
  // timm layout check: head h of token n reads q at [n, 0*C + h*D + d]; make head 1's q pick token 1's key.
  // k(token0) = e0 in both heads, k(token1) = e1; q of head 1 = 100 * e1 -> head 1 attends to token 1.
  double qkv2[] = {0, 0, 0, 100, 1, 0, 1, 0, 10, 11, 12, 13,
                   0, 0, 0, 100, 0, 1, 0, 1, 20, 21, 22, 23};
  Var<double> o2 = attention_core(t, t.wrap(qkv2, {1, 2, 12}), 2, 2, 0.0, "attn");
  CHECK(o2->data[2] == doctest::Approx(22.0));  // head 1, d 0 of token 0 = v(token 1)[2]
  CHECK(o2->data[3] == doctest::Approx(23.0));
  CHECK(o2->data[0] == doctest::Approx(15.0));  // head 0: q = 0, uniform
}

TEST_CASE("Attention core: gradient of qkv, with and without attention dropout") {
  for (double p : {0.0, 0.2}) {
    Leaf qkv({2, 5, 3 * 6}, 61);
    auto reps = gradcheck([&](Tape<double>& t) { return attention_core(t, qkv.var(), 3, 3, p, "attn"); },
                          {{"qkv", qkv.var()}}, nullptr, /*training=*/true);
    expect_grads_ok(p > 0 ? "attention core B2 N5 H3 D2 attn_drop 0.2" : "attention core B2 N5 H3 D2", reps);
  }
}

TEST_CASE("Attention core, grouped-query: gradient of qkv with 1, 2 and num_heads kv heads, odd N, dropout") {
  // H 4 query heads, D 3; qkv rows (B, N, (4 + 2 Hkv) 3): q, then k and v of Hkv heads each
  for (int64_t Hkv : {1, 2, 4})
    for (int64_t N : {5, 7})
      for (double p : {0.0, 0.2}) {
        Leaf qkv({2, N, (4 + 2 * Hkv) * 3}, uint64_t(100 + 10 * Hkv + N));
        auto reps = gradcheck([&](Tape<double>& t) { return attention_core(t, qkv.var(), 4, Hkv, p, "attn"); },
                              {{"qkv", qkv.var()}}, nullptr, /*training=*/true);
        expect_grads_ok("attention core B2 N" + std::to_string(N) + " H4 Hkv" + std::to_string(Hkv) + " D3 attn_drop " +
                            std::to_string(p),
                        reps);
      }
}

TEST_CASE("Attention core, grouped-query: equals multi-head attention on k and v repeat_interleave'd") {
  // The reference is PyTorch's definition of enable_gqa: query head h reads kv head h / (H / Hkv), i.e. multi-head
  // attention on k, v with each kv head repeated H / Hkv times in order; then d k (d v) of a kv head is the sum of
  // the repeated heads' gradients. Run on the same kernels (float tiles, amp's bfloat16 tiles, double's gemm), with
  // attention dropout (its mask is keyed by the query head, the same in both).
  struct Case { int64_t B, N, H, Hkv, D; double drop; };
  // B 1 with one kv head: fewer (batch, kv head) pairs than threads, so the forward splits the query heads (3 into
  // runs of 2 and 1 on 2 threads).
  for (const Case c : {Case{2, 7, 4, 1, 8, 0}, Case{2, 9, 6, 2, 16, 0.1}, Case{1, 50, 6, 3, 64, 0},
                       Case{1, 33, 4, 2, 33, 0.2}, Case{1, 9, 3, 1, 16, 0.1}}) {
    CAPTURE(c.N);
    CAPTURE(c.H);
    CAPTURE(c.Hkv);
    const int64_t G = c.H / c.Hkv, D = c.D, C = c.H * D, Lg = (c.H + 2 * c.Hkv) * D, Lm = 3 * C;
    const std::vector<double> xg = random_vector(size_t(c.B * c.N * Lg), 96, 1.5);
    const std::vector<double> g = random_vector(size_t(c.B * c.N * C), 97, 1.0);
    std::vector<double> xm(size_t(c.B * c.N * Lm));  // k, v heads repeat_interleave'd
    for (int64_t r = 0; r < c.B * c.N; ++r)
      for (int64_t h = 0; h < c.H; ++h)
        for (int64_t d = 0; d < D; ++d) {
          const double* rg = &xg[size_t(r * Lg)];
          double* rm = &xm[size_t(r * Lm)];
          rm[h * D + d] = rg[h * D + d];
          rm[C + h * D + d] = rg[C + (h / G) * D + d];
          rm[2 * C + h * D + d] = rg[C + c.Hkv * D + (h / G) * D + d];
        }
    auto run = [&](auto zero, int64_t Hkv, const std::vector<double>& x64, bool amp) {
      using T = decltype(zero);
      const Bf16Scope scope(amp);
      const int64_t L = (c.H + 2 * Hkv) * D;
      std::vector<T> x(x64.begin(), x64.end()), dout(g.begin(), g.end()), out(size_t(c.B * c.N * C));
      std::vector<T> probs(size_t(c.B * c.H * c.N * c.N)), dx(size_t(c.B * c.N * L), T(7));
      std::vector<T> scratch(size_t(omp_get_max_threads() * attention_scratch(c.N, D)));
      attention_forward<T>(out.data(), probs.data(), x.data(), c.B, c.N, c.H, Hkv, D, c.drop, 3, scratch.data());
      attention_backward<T>(dx.data(), dout.data(), x.data(), probs.data(), c.B, c.N, c.H, Hkv, D, c.drop, 3,
                            scratch.data(), true);
      return std::make_pair(std::vector<double>(out.begin(), out.end()), std::vector<double>(dx.begin(), dx.end()));
    };
    auto check = [&](auto zero, bool amp, double tol) {
      CAPTURE(amp);
      CAPTURE(sizeof(zero));
      const auto gq = run(zero, c.Hkv, xg, amp), mh = run(zero, c.H, xm, amp);
      std::vector<double> ref(size_t(c.B * c.N * Lg), 0.0);  // multi-head gradients folded onto the kv heads
      for (int64_t r = 0; r < c.B * c.N; ++r)
        for (int64_t h = 0; h < c.H; ++h)
          for (int64_t d = 0; d < D; ++d) {
            const double* rm = &mh.second[size_t(r * Lm)];
            double* rg = &ref[size_t(r * Lg)];
            rg[h * D + d] = rm[h * D + d];
            rg[C + (h / G) * D + d] += rm[C + h * D + d];
            rg[C + c.Hkv * D + (h / G) * D + d] += rm[2 * C + h * D + d];
          }
      for (int t = 0; t < 2; ++t) {
        CAPTURE(t);  // 0: out, 1: dqkv
        const std::vector<double>&got = t ? gq.second : gq.first, &want = t ? ref : mh.first;
        double worst = 0, scale = 0;
        for (size_t i = 0; i < want.size(); ++i) {
          worst = std::max(worst, std::abs(got[i] - want[i]));
          scale = std::max(scale, std::abs(want[i]));
        }
        CHECK(scale > 0);
        CHECK(worst <= tol * scale);
      }
    };
    check(0.0, false, 1e-13);
    check(0.f, false, 1e-5);  // float sums of the G gradients in another order
    if (bf16_available()) check(0.f, true, 1e-5);
  }
}

TEST_CASE("MultiHeadSelfAttention, grouped-query: qkv holds q, k, v rows, every gradient") {
  for (int64_t kv : {1, 2}) {
    Params<double> p;
    MultiHeadSelfAttention<double> attn(p, "blocks.0.attn", 8, 4, true, 0.0, 0.0, kv);
    CHECK(attn.qkv.weight->shape == Shape{(4 + 2 * kv) * 2, 8});
    CHECK(attn.qkv.bias->shape == Shape{(4 + 2 * kv) * 2});
    p.allocate();
    for (size_t i = 0; i < p.size(); ++i) fill_param(p.value(i), 80 + i, 0.5);
    Leaf x({2, 5, 8}, 79);
    std::vector<Wrt> wrt{{"x", x.var()}};
    for (size_t i = 0; i < p.size(); ++i) wrt.push_back({p.info(i).name, p.value(i), true});
    auto reps = gradcheck([&](Tape<double>& t) { return attn(t, x.var()); }, wrt, &p);
    expect_grads_ok("MHSA C8 H4 Hkv" + std::to_string(kv) + " N5", reps);
  }
  Params<float> p;
  CHECK_THROWS_WITH_AS(MultiHeadSelfAttention<float>(p, "blocks.0.attn", 12, 6, true, 0.0, 0.0, 4),
                       "Attention 'blocks.0.attn': num_heads 6 is not divisible by num_kv_heads 4", Error);
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
  // Grouped- and multi-query cases (Hkv < H) too: one kv head's k and v shared by 2, 3 and 6 query heads.
  struct Case { int64_t B, N, H, Hkv, D; double drop; };
  for (const Case c : {Case{1, 1, 2, 2, 16, 0}, Case{2, 7, 3, 3, 24, 0}, Case{2, 50, 3, 3, 64, 0},
                       Case{1, 70, 2, 2, 32, 0.1}, Case{1, 197, 1, 1, 64, 0}, Case{2, 7, 6, 2, 24, 0},
                       Case{2, 50, 6, 1, 64, 0.1}, Case{1, 33, 4, 2, 33, 0}, Case{1, 33, 3, 1, 33, 0}}) {
    CAPTURE(c.N);
    CAPTURE(c.H);
    CAPTURE(c.Hkv);
    CAPTURE(c.D);
    const int64_t C = c.H * c.D, nqkv = c.B * c.N * (c.H + 2 * c.Hkv) * c.D, nout = c.B * c.N * C;
    // scores up to ~+-40: softmax rows from flat to one-hot, exp far into its negative range
    std::vector<double> qkv = random_vector(size_t(nqkv), 91, 2.5), dout = random_vector(size_t(nout), 92, 1.0);
    std::vector<double> acc0 = random_vector(size_t(nqkv), 93, 1.0);
    auto run = [&](auto zero) {
      using T = decltype(zero);
      std::vector<T> x(qkv.begin(), qkv.end()), g(dout.begin(), dout.end()), out(static_cast<size_t>(nout), T(0));
      std::vector<T> probs(size_t(c.B * c.H * c.N * c.N));
      std::vector<T> scratch(size_t(omp_get_max_threads() * attention_scratch(c.N, c.D)));
      std::vector<T> assigned(size_t(nqkv), T(7)), accumulated(acc0.begin(), acc0.end());
      attention_forward<T>(out.data(), probs.data(), x.data(), c.B, c.N, c.H, c.Hkv, c.D, c.drop, 5, scratch.data());
      attention_backward<T>(assigned.data(), g.data(), x.data(), probs.data(), c.B, c.N, c.H, c.Hkv, c.D, c.drop, 5,
                            scratch.data(), true);
      attention_backward<T>(accumulated.data(), g.data(), x.data(), probs.data(), c.B, c.N, c.H, c.Hkv, c.D, c.drop,
                            5, scratch.data(), false);
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

namespace {
// One head's attention in double, with the operands of each product rounded to bfloat16 first, where amp rounds
// them: q, k for the scores; the probabilities and v for the output; dout and v for d(probs); the probabilities and
// dout for dv; the score gradients and k, q for dq, dk. Softmax and its backward stay unrounded. Layout as
// attention_forward: qkv (B, N, (H + 2 Hkv) D), out (B, N, C), dqkv (B, N, (H + 2 Hkv) D) assigned; query head h
// reads kv head h / (H / Hkv), whose gradients sum over its query heads.
void attention_bf16_reference(std::vector<double>& out, std::vector<double>& dqkv, const std::vector<float>& qkv,
                              const std::vector<float>& dout, int64_t B, int64_t N, int64_t H, int64_t Hkv, int64_t D) {
  const int64_t C = H * D, C3 = (H + 2 * Hkv) * D;
  const double scale = 1.0 / std::sqrt(double(D));
  auto r = [](double x) { return double(bf16_to_float(round_to_bf16(float(x)))); };
  out.assign(size_t(B * N * C), 0.0);
  dqkv.assign(size_t(B * N * C3), 0.0);
  std::vector<double> P(size_t(N * N)), dS(size_t(N * N));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      auto q = [&](int64_t i, int64_t d) { return double(qkv[size_t((b * N + i) * C3 + h * D + d)]); };
      const int64_t hk = h / (H / Hkv), kc = C + hk * D, vc = C + Hkv * D + hk * D;  // this head's k and v columns
      auto k = [&](int64_t i, int64_t d) { return double(qkv[size_t((b * N + i) * C3 + kc + d)]); };
      auto v = [&](int64_t i, int64_t d) { return double(qkv[size_t((b * N + i) * C3 + vc + d)]); };
      auto g = [&](int64_t i, int64_t d) { return double(dout[size_t((b * N + i) * C + h * D + d)]); };
      for (int64_t i = 0; i < N; ++i) {
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < N; ++j) {
          double s = 0;
          for (int64_t d = 0; d < D; ++d) s += r(q(i, d)) * r(k(j, d));
          P[size_t(i * N + j)] = s * scale;
          mx = std::max(mx, s * scale);
        }
        for (int64_t j = 0; j < N; ++j) sum += (P[size_t(i * N + j)] = std::exp(P[size_t(i * N + j)] - mx));
        for (int64_t j = 0; j < N; ++j) P[size_t(i * N + j)] /= sum;
        for (int64_t d = 0; d < D; ++d) {
          double o = 0;
          for (int64_t j = 0; j < N; ++j) o += r(P[size_t(i * N + j)]) * r(v(j, d));
          out[size_t((b * N + i) * C + h * D + d)] = o;
        }
        double dot = 0;
        for (int64_t j = 0; j < N; ++j) {
          double dp = 0;
          for (int64_t d = 0; d < D; ++d) dp += r(g(i, d)) * r(v(j, d));
          dS[size_t(i * N + j)] = dp;
          dot += dp * P[size_t(i * N + j)];
        }
        for (int64_t j = 0; j < N; ++j) dS[size_t(i * N + j)] = P[size_t(i * N + j)] * (dS[size_t(i * N + j)] - dot);
      }
      for (int64_t j = 0; j < N; ++j)
        for (int64_t d = 0; d < D; ++d) {
          double dq = 0, dk = 0, dv = 0;
          for (int64_t l = 0; l < N; ++l) {
            dq += r(dS[size_t(j * N + l)]) * r(k(l, d));
            dk += r(dS[size_t(l * N + j)]) * r(q(l, d));
            dv += r(P[size_t(l * N + j)]) * r(g(l, d));
          }
          double* row = &dqkv[size_t((b * N + j) * C3)];
          row[h * D + d] = dq * scale, row[kc + d] += dk * scale, row[vc + d] += dv;
        }
    }
}
}  // namespace

TEST_CASE("Attention core: amp's bfloat16 head products match a reference that rounds the same operands") {
  if (!bf16_available()) {
    MESSAGE("skipped: " << bf16_unavailable_reason());
    return;
  }
  // Odd K for the pairs (D 7, 33; N 7, 33, 197 as the K of the probability products), rows not a multiple of 6,
  // columns not a multiple of 16, vit-fmnist's and vit_tiny's heads.
  // Grouped- and multi-query (Hkv < H): the k and v pairs packed once per kv head serve each of its query heads.
  struct Case { int64_t B, N, H, Hkv, D; };
  for (const Case c : {Case{1, 1, 2, 2, 16}, Case{2, 7, 3, 3, 7}, Case{1, 33, 2, 2, 33}, Case{2, 50, 3, 3, 64},
                       Case{1, 197, 1, 1, 64}, Case{2, 7, 6, 2, 7}, Case{2, 50, 6, 1, 64}, Case{1, 33, 4, 2, 33},
                       Case{1, 20, 3, 1, 16}}) {
    CAPTURE(c.N);
    CAPTURE(c.H);
    CAPTURE(c.Hkv);
    CAPTURE(c.D);
    const int64_t C = c.H * c.D, nqkv = c.B * c.N * (c.H + 2 * c.Hkv) * c.D, nout = c.B * c.N * C;
    const std::vector<double> x64 = random_vector(size_t(nqkv), 94, 1.0), g64 = random_vector(size_t(nout), 95, 1.0);
    const std::vector<float> x(x64.begin(), x64.end()), g(g64.begin(), g64.end());
    std::vector<double> ref_out, ref_dqkv;
    attention_bf16_reference(ref_out, ref_dqkv, x, g, c.B, c.N, c.H, c.Hkv, c.D);
    auto run = [&](bool bf16) {
      const Bf16Scope amp(bf16);
      std::vector<float> out(static_cast<size_t>(nout)), probs(size_t(c.B * c.H * c.N * c.N)), dqkv(size_t(nqkv), 7.f);
      std::vector<float> scratch(size_t(omp_get_max_threads() * attention_scratch(c.N, c.D)));
      attention_forward<float>(out.data(), probs.data(), x.data(), c.B, c.N, c.H, c.Hkv, c.D, 0.0, 0, scratch.data());
      attention_backward<float>(dqkv.data(), g.data(), x.data(), probs.data(), c.B, c.N, c.H, c.Hkv, c.D, 0.0, 0,
                                scratch.data(), true);
      return std::make_pair(std::vector<double>(out.begin(), out.end()), std::vector<double>(dqkv.begin(), dqkv.end()));
    };
    // Largest error relative to the largest reference value, and root-mean-square error relative to the reference's.
    auto errors = [](const std::vector<double>& got, const std::vector<double>& ref) {
      double worst = 0, scale = 0, se = 0, sr = 0;
      for (size_t i = 0; i < ref.size(); ++i) {
        worst = std::max(worst, std::abs(got[i] - ref[i]));
        scale = std::max(scale, std::abs(ref[i]));
        se += (got[i] - ref[i]) * (got[i] - ref[i]);
        sr += ref[i] * ref[i];
      }
      return std::make_pair(worst / scale, std::sqrt(se / sr));
    };
    const auto amp = run(true), f32 = run(false);
    for (int t = 0; t < 2; ++t) {
      CAPTURE(t);  // 0: out, 1: dqkv
      const auto e = errors(t ? amp.second : amp.first, t ? ref_dqkv : ref_out);
      const auto e32 = errors(t ? f32.second : f32.first, t ? ref_dqkv : ref_out);
      // What separates amp from the reference: float32 sums (~1e-7), and the rare probability or score gradient that
      // float and double put on the two sides of a bfloat16 rounding boundary (one bfloat16 step, 2^-8 of one term;
      // seen: worst 6e-4, rms 7e-5 at N 50). The float32 path, which does not round, is ~3e-3 rms away: the bound
      // tells the two apart.
      CHECK(e.first <= 2e-3);
      CHECK(e.second <= 2e-4);
      CHECK(e32.second > 1e-3);
    }
  }
}
