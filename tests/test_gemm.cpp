// tests/test_gemm.cpp: gemm() and gemm_map() (tapevit/gemm.h). Against a plain double-precision triple loop, on
// shapes that reach the AVX-512 kernels (src/core/sgemm_avx512.cpp; sbgemm_avx512.cpp under a Bf16Scope, against
// operands rounded as torch rounds them to bfloat16) and their edges: ragged tiles in M and N, several slices of K,
// transposes, leading dimensions wider than the matrix, alpha/beta/bias, calls from inside an OpenMP region. The
// same bits for 1, 2 and 3 threads. The maps fused into the packing and the epilogue (GELU, LayerNorm's normalise,
// the activation's backward, the bias gradient's row sums) equal the separate passes bit for bit. The misuses that
// are errors (a bias with beta != 0, row sums of a mapped A).
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "gradcheck.h"
#include "tapevit/error.h"
#include "tapevit/gemm.h"
#include "tapevit/layers/gelu.h"
#include "tapevit/layers/layernorm.h"
#include "tapevit/rng.h"

using namespace tapevit;
using namespace tapevit::test;

namespace {

struct Case {
  bool ta, tb;
  int64_t M, N, K;
  float alpha, beta;
  bool bias;
};

// Relative max error of gemm<float> against the double reference; pad widens every leading dimension. bf16: the
// product runs under a Bf16Scope and the reference rounds A and B to bfloat16 first (round_to_bf16) unless
// unrounded_reference is set.
double run_case(const Case& c, int64_t pad, bool nested, bool bf16 = false, bool unrounded_reference = false) {
  const int64_t lda = (c.ta ? c.M : c.K) + pad, ldb = (c.tb ? c.K : c.N) + pad, ldc = c.N + pad;
  const int64_t arows = c.ta ? c.K : c.M, brows = c.tb ? c.N : c.K;
  auto rnd = [](int64_t n, uint64_t seed) {
    std::vector<double> d = random_vector(n, seed);
    return std::vector<float>(d.begin(), d.end());
  };
  std::vector<float> A = rnd(arows * lda, 1), B = rnd(brows * ldb, 2), C0 = rnd(c.M * ldc, 3), bias = rnd(c.N, 4);
  if (c.beta == 0)  // beta = 0 must not read C: NaNs there would leak into the result
    for (float& v : C0) v = std::nanf("");
  std::vector<float> C = C0;
  auto call = [&] {
    Bf16Scope scope(bf16);
    gemm<float>(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C.data(), ldc,
                c.bias ? bias.data() : nullptr);
  };
  if (nested) {
#pragma omp parallel num_threads(2)
    {
#pragma omp single
      call();
    }
  } else {
    call();
  }
  double max_err = 0, scale = 0;
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < c.K; ++k) {
        float a = c.ta ? A[size_t(k * lda + i)] : A[size_t(i * lda + k)];
        float b = c.tb ? B[size_t(j * ldb + k)] : B[size_t(k * ldb + j)];
        if (bf16 && !unrounded_reference) a = bf16_to_float(round_to_bf16(a)), b = bf16_to_float(round_to_bf16(b));
        s += double(a) * double(b);
      }
      double ref = c.alpha * s + (c.bias ? bias[size_t(j)] : 0.0);
      if (c.beta != 0) ref += c.beta * double(C0[size_t(i * ldc + j)]);
      max_err = std::max(max_err, std::abs(double(C[size_t(i * ldc + j)]) - ref));
      scale = std::max(scale, std::abs(ref));
    }
  // Nothing outside the M x N window may change (the padding columns of C).
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = c.N; j < ldc; ++j)
      if (!(std::isnan(C0[size_t(i * ldc + j)]) && std::isnan(C[size_t(i * ldc + j)])) &&
          C[size_t(i * ldc + j)] != C0[size_t(i * ldc + j)])
        return 1e30;
  return max_err / scale;
}

// Every case with and without padded leading dimensions, from outside and inside an OpenMP region.
template <size_t N>
void check_cases(const Case (&cases)[N], bool bf16, double tolerance) {
  for (const Case& c : cases)
    for (int64_t pad : {0, 5})
      for (bool nested : {false, true}) {
        CAPTURE(c.ta);
        CAPTURE(c.tb);
        CAPTURE(c.M);
        CAPTURE(c.N);
        CAPTURE(c.K);
        CAPTURE(pad);
        CAPTURE(nested);
        CHECK(run_case(c, pad, nested, bf16) < tolerance);
      }
}

}  // namespace

TEST_CASE("gemm<float>: large products (the AVX-512 path where built for it) match a double reference") {
  const Case cases[] = {
      {false, true, 6400 / 8, 576 / 2, 192, 1.f, 0.f, true},  // a Linear's forward: y = x W^T + b
      {false, false, 803, 197, 300, 1.f, 1.f, false},         // dx += dy W, ragged in M and N, two K slices
      {true, false, 129, 75, 1000, 1.f, 1.f, false},          // dW += dy^T x: long K, four slices
      {true, true, 61, 45, 333, -0.5f, 0.25f, false},         // both transposed, alpha and beta
      {false, true, 40, 33, 257, 2.f, 0.f, false},            // one column past a tile, one k past a slice
      {false, false, 12, 32, 2048, 1.f, 0.f, true},           // exactly one tile
      {false, false, 250, 800, 300, 1.f, 1.f, false},         // >= 12 panels of B a thread: tiles of A outside
      {false, true, 131, 805, 192, 1.f, 0.f, true},           // the same, ragged, with a bias
  };
  // float accumulation over K terms of unit-variance products: error ~ sqrt(K) * 6e-8 relative
  check_cases(cases, false, 2e-5);
}

// Each thread owns a rectangle of C over the whole of K, so every element is summed in the same order whatever the
// team: 1, 2 or 3 threads (a prime team, whose grid is 3 x 1 or 1 x 3) give the same bits, in float32 and bfloat16.
TEST_CASE("gemm<float>: the result does not depend on the number of threads") {
  const Case cases[] = {
      {false, true, 803, 197, 300, 1.f, 0.f, true},   // rows split (M > N)
      {true, false, 75, 600, 1000, 1.f, 1.f, false},  // columns split (N > M), a long K
      {false, false, 13, 33, 2048, 1.f, 0.f, false},  // two tiles in each direction: fewer threads than asked
      {false, true, 250, 805, 200, 1.f, 0.f, true},   // many panels of B: tiles of A outside
  };
  for (bool bf16 : {false, true}) {
    if (bf16 && !bf16_available()) continue;
    for (const Case& c : cases) {
      const int64_t lda = c.ta ? c.M : c.K, ldb = c.tb ? c.K : c.N;
      const std::vector<double> a = random_vector((c.ta ? c.K : c.M) * lda, 5), b = random_vector((c.tb ? c.N : c.K) * ldb, 6),
                                c0 = random_vector(c.M * c.N, 7), bias = random_vector(c.N, 8);
      const std::vector<float> A(a.begin(), a.end()), B(b.begin(), b.end()), Bias(bias.begin(), bias.end());
      std::vector<std::vector<float>> results;
      for (int threads : {1, 2, 3}) {
        std::vector<float> C(c0.begin(), c0.end());
        const int before = omp_get_max_threads();
        omp_set_num_threads(threads);
        {
          Bf16Scope scope(bf16);
          gemm<float>(c.ta, c.tb, c.M, c.N, c.K, c.alpha, A.data(), lda, B.data(), ldb, c.beta, C.data(), c.N,
                      c.bias ? Bias.data() : nullptr);
        }
        omp_set_num_threads(before);
        results.push_back(C);
      }
      CAPTURE(bf16);
      CAPTURE(c.M);
      CAPTURE(c.N);
      CHECK(results[0] == results[1]);
      CHECK(results[0] == results[2]);
      CHECK(results[0] != std::vector<float>(c0.begin(), c0.end()));
    }
  }
}

TEST_CASE("gemm: a bias row with beta != 0 is an error") {
  float a[4] = {}, c[4] = {}, b[2] = {};
  CHECK_THROWS_WITH_AS(gemm<float>(false, false, 2, 2, 2, 1.f, a, 2, a, 2, 1.f, c, 2, b), "gemm: a bias row needs beta = 0",
                       Error);
}

TEST_CASE("gemm_map: row sums of a mapped A are an error (they are the unmapped A's), and nothing is written") {
  float a[4] = {1, 2, 3, 4}, c[4] = {7, 7, 7, 7}, sums[2] = {5, 5};
  const ElementMap<float> gelu_map = act_map<float>(Act::Gelu);
  CHECK_THROWS_WITH(gemm_map<float>(true, false, 2, 2, 2, 1.f, a, 2, gelu_map, a, 2, nullptr, 0.f, c, 2, nullptr,
                                    nullptr, sums),
                    doctest::Contains("unmapped A"));
  CHECK(c[0] == 7.f);
  CHECK(sums[0] == 5.f);
}

TEST_CASE("gemm<float> under Bf16Scope: bfloat16 operands, float32 accumulation, on odd shapes") {
  if (!bf16_available()) {
    MESSAGE("bfloat16 GEMM not tested: " << bf16_unavailable_reason());
    CHECK_THROWS_WITH_AS(Bf16Scope(true), doctest::Contains("needs AVX512_BF16"), Error);
    return;
  }
  // every case has at least kBf16MinMacs multiply-adds (smaller products stay float32, below)
  const Case cases[] = {
      {false, true, 6400 / 8, 576 / 2, 192, 1.f, 0.f, true},  // a Linear's forward
      {false, false, 803, 197, 300, 1.f, 1.f, false},         // dx += dy W, ragged tiles, two K slices
      {true, false, 129, 75, 1001, 1.f, 1.f, false},          // dW += dy^T x: long odd K
      {true, true, 61, 45, 333, -0.5f, 0.25f, false},         // both transposed, alpha and beta, odd K
      {false, true, 197, 197, 17, 0.125f, 0.f, false},        // attention's q k^T at 197 tokens, odd head dim
      {false, false, 197, 64, 197, 1.f, 0.f, false},          // attention's p v at 197 tokens
      {false, true, 1, 300, 1001, 1.f, 0.f, true},            // one row
      {true, false, 300, 300, 3, 1.f, 0.f, false},            // K shorter than a pair of pairs
      {false, false, 12, 32, 2048, 1.f, 0.f, true},           // exactly one tile
      {false, false, 250, 800, 300, 1.f, 1.f, false},         // >= 12 panels of B a thread: tiles of A outside
      {false, true, 131, 805, 192, 1.f, 0.f, true},           // the same, ragged, with a bias
  };
  for (const Case& c : cases) REQUIRE(c.M * c.N * c.K >= kBf16MinMacs);
  // The products of two bfloat16 values are exact in float32; what is left is float32 accumulation, as in the
  // float32 test: ~sqrt(K) * 6e-8 relative.
  check_cases(cases, true, 2e-5);
  // smaller products (attention's per head at 50 tokens) stay float32: exact against the unrounded operands
  for (const Case& c : {Case{false, true, 50, 50, 64, 0.125f, 0.f, false}, Case{false, false, 50, 64, 50, 1.f, 0.f, false}}) {
    REQUIRE(c.M * c.N * c.K < kBf16MinMacs);
    CHECK(run_case(c, 0, true, true, true) < 2e-5);
  }
  // and the rounding did happen: against the unrounded operands the error is bfloat16's (8 bits: ~1e-3 relative)
  const double unrounded = run_case({false, true, 200, 64, 256, 1.f, 0.f, false}, 0, false, true, true);
  CHECK(unrounded > 1e-4);
  CHECK(unrounded < 2e-2);
  // the scope ends with its block: float32 again
  CHECK_FALSE(gemm_bf16());
  CHECK(run_case({false, true, 200, 64, 256, 1.f, 0.f, false}, 0, false) < 2e-5);
}

TEST_CASE("round_to_bf16: torch's rounding (to nearest, ties to even), NaN stays NaN") {
  CHECK(round_to_bf16(1.0f) == 0x3f80);
  CHECK(bf16_to_float(round_to_bf16(1.0f + 0x1p-8f)) == 1.0f);            // a tie: to the even 1.0
  CHECK(bf16_to_float(round_to_bf16(1.0f + 3 * 0x1p-8f)) == 1.0f + 0x1p-6f);  // a tie: to the even 1 + 2^-6
  CHECK(bf16_to_float(round_to_bf16(1.0f + 0x1p-8f + 0x1p-20f)) == 1.0f + 0x1p-7f);  // above the tie: up
  CHECK(bf16_to_float(round_to_bf16(-2.5f)) == -2.5f);
  CHECK(std::isnan(bf16_to_float(round_to_bf16(std::nanf("")))));
  CHECK(std::isinf(bf16_to_float(round_to_bf16(3.4e38f))));  // beyond bfloat16's largest finite: infinity, as torch
}

TEST_CASE("gemm_map: GELU applied while packing equals the product of the GELU pass's output, bit for bit") {
  // The kernels map a row-major A's rows (float32: into a block of rows; bf16: each row before rounding) and B's
  // rows of K (float32: into the packed panel; bf16: two rows per pair); other layouts map into a temporary. Shapes:
  // ragged tiles in M and N, K over one slice (KC 256) and odd for the bf16 pairs, a bias, beta 1.
  const ElementMap<float> gelu_map = act_map<float>(Act::Gelu);
  REQUIRE(bool(gelu_map));
  struct MapCase {
    bool ta, tb;
    int64_t M, N, K;
    float beta;
    bool bias;
  };
  const MapCase cases[] = {
      {false, true, 803, 70, 300, 1.f, false},  // fc2's forward act(a) W^T (into the residual)
      {false, true, 100, 64, 193, 0.f, true},   // with a bias
      {true, false, 45, 197, 1001, 1.f, false},  // fc2's dW = dy^T act(a), long odd K
      {false, false, 257, 33, 17, 0.f, false},  // both row-major, both mapped below
      {true, true, 61, 45, 333, 0.f, false},    // transposed mapped operands: the temporary
  };
  for (bool bf16 : {false, true}) {
    if (bf16 && !bf16_available()) continue;
    const Bf16Scope amp(bf16);
    for (const MapCase& c : cases) {
      CAPTURE(bf16);
      CAPTURE(c.M);
      const int64_t lda = c.ta ? c.M : c.K, ldb = c.tb ? c.K : c.N;
      const std::vector<double> a64 = random_vector(size_t(c.M * c.K), 31, 2.0), b64 = random_vector(size_t(c.K * c.N), 32, 2.0);
      const std::vector<double> c64 = random_vector(size_t(c.M * c.N), 33, 1.0), bias64 = random_vector(size_t(c.N), 34, 1.0);
      const std::vector<float> A(a64.begin(), a64.end()), B(b64.begin(), b64.end()), bias(bias64.begin(), bias64.end());
      std::vector<float> gA(A.size()), gB(B.size());
      gelu_forward(gA.data(), A.data(), int64_t(A.size()));  // the unfused pass
      gelu_forward(gB.data(), B.data(), int64_t(B.size()));
      for (int which = 0; which < 3; ++which) {  // map A, map B, map both
        CAPTURE(which);
        const bool fa = which != 1, fb = which != 0;
        std::vector<float> fused(c64.begin(), c64.end()), plain(c64.begin(), c64.end());
        const float* bp = c.bias ? bias.data() : nullptr;
        gemm_map<float>(c.ta, c.tb, c.M, c.N, c.K, 1.f, A.data(), lda, fa ? gelu_map : nullptr, B.data(), ldb,
                        fb ? gelu_map : nullptr, c.beta, fused.data(), c.N, bp);
        gemm<float>(c.ta, c.tb, c.M, c.N, c.K, 1.f, fa ? gA.data() : A.data(), lda, fb ? gB.data() : B.data(), ldb,
                    c.beta, plain.data(), c.N, bp);
        int64_t differ = 0;
        for (size_t i = 0; i < fused.size(); ++i) differ += fused[i] != plain[i];
        CHECK(differ == 0);
      }
    }
  }
}

TEST_CASE("gemm_map: LayerNorm's normalise while packing equals the product of layernorm_forward's output, bit for bit") {
  // The map reads the row's statistics and the column's weight and bias from its position in the stored operand, so
  // slices that start inside a row (K slices of 256, a thread's columns) must find the right ones. The statistics are
  // over the stored rows of the mapped operand, whichever way the product reads it. Shapes: norm_linear's forward
  // (x rows into qkv, K = C over two slices) and its weight gradient (x as B, rows of K = B*N), a column split, odd
  // K for the bf16 pairs, and transposed mapped operands (the temporary).
  struct LnCase {
    bool ta, tb;
    int64_t M, N, K;
    bool map_a;  // else map B
  };
  const LnCase cases[] = {
      {false, true, 203, 70, 300, true},    // y = LN(x) W^T + b, two K slices
      {false, true, 24, 900, 193, true},    // few rows, columns split between threads, odd K
      {true, false, 45, 300, 203, false},   // dW = dy^T LN(x): B's rows are x's rows
      {true, false, 40, 96, 1001, false},   // long odd K
      {true, true, 61, 45, 333, true},      // transposed mapped operand: the temporary
      {false, true, 33, 40, 300, false},    // transposed mapped B: the temporary
  };
  for (bool bf16 : {false, true}) {
    if (bf16 && !bf16_available()) continue;
    const Bf16Scope amp(bf16);
    for (const LnCase& c : cases) {
      CAPTURE(bf16);
      CAPTURE(c.M);
      CAPTURE(c.N);
      const int64_t lda = c.ta ? c.M : c.K, ldb = c.tb ? c.K : c.N;
      const int64_t rows = c.map_a ? (c.ta ? c.K : c.M) : (c.tb ? c.N : c.K), cols = c.map_a ? lda : ldb;
      auto floats = [](int64_t n, uint64_t seed, double scale, double shift) {
        const std::vector<double> d = random_vector(size_t(n), seed, scale);
        std::vector<float> f(d.size());
        for (size_t i = 0; i < d.size(); ++i) f[i] = float(d[i] + shift);
        return f;
      };
      const std::vector<float> A = floats(c.M * c.K, 41, 2.0, 0.5), B = floats(c.K * c.N, 42, 2.0, -0.25);
      const std::vector<float> w = floats(cols, 43, 1.0, 1.0), b = floats(cols, 44, 0.5, 0.0);
      const std::vector<float>& X = c.map_a ? A : B;
      const size_t nrows = static_cast<size_t>(rows);
      std::vector<float> normed(X.size()), mean(nrows), rstd(nrows), mean2(nrows), rstd2(nrows);
      layernorm_forward(normed.data(), mean.data(), rstd.data(), X.data(), w.data(), b.data(), rows, cols, 1e-6f);
      layernorm_stats(mean2.data(), rstd2.data(), X.data(), rows, cols, 1e-6f);
      CHECK(mean2 == mean);
      CHECK(rstd2 == rstd);
      const LayerNormMap<float> at{mean.data(), rstd.data(), w.data(), b.data()};
      std::vector<float> fused(size_t(c.M * c.N)), plain(size_t(c.M * c.N));
      gemm_map<float>(c.ta, c.tb, c.M, c.N, c.K, 1.f, A.data(), lda, c.map_a ? at.map() : nullptr, B.data(), ldb,
                      c.map_a ? nullptr : at.map(), 0.f, fused.data(), c.N);
      gemm<float>(c.ta, c.tb, c.M, c.N, c.K, 1.f, c.map_a ? normed.data() : A.data(), lda,
                  c.map_a ? B.data() : normed.data(), ldb, 0.f, plain.data(), c.N);
      int64_t differ = 0;
      for (size_t i = 0; i < fused.size(); ++i) differ += fused[i] != plain[i];
      CHECK(differ == 0);
    }
  }
}

TEST_CASE("gemm_map: the activation's backward as the product's epilogue equals the pass over the product, bit for bit") {
  // residual_linear's da = act'(a) * (d branch W): the epilogue maps C's final rows, reading a at the same position.
  // Applied after an earlier K slice too (or twice), it would differ; so would a position off by a row or a column.
  // Shapes: fc2's backward-data product (K = C), several K slices, a column split, beta 1 (the map sees
  // alpha AB + beta C), ragged tiles, and small products (the Eigen product, then the rows mapped).
  struct EpiCase {
    int64_t M, N, K;
    float beta;
  };
  const EpiCase cases[] = {{203, 300, 70, 0.f}, {150, 100, 600, 0.f}, {24, 900, 193, 0.f}, {100, 64, 300, 1.f},
                           {9, 20, 5, 0.f}};
  for (Act act : {Act::Gelu, Act::GeluTanh, Act::QuickGelu}) {
    for (bool bf16 : {false, true}) {
      if (bf16 && !bf16_available()) continue;
      const Bf16Scope amp(bf16);
      for (const EpiCase& c : cases) {
        CAPTURE(int(act));
        CAPTURE(bf16);
        CAPTURE(c.M);
        const int64_t lda_a = c.N + 3;  // a's rows wider than C's
        const std::vector<double> d64 = random_vector(size_t(c.M * c.K), 51, 1.0), w64 = random_vector(size_t(c.K * c.N), 52, 1.0);
        const std::vector<double> a64 = random_vector(size_t(c.M * lda_a), 53, 3.0), c64 = random_vector(size_t(c.M * c.N), 54, 1.0);
        const std::vector<float> D(d64.begin(), d64.end()), W(w64.begin(), w64.end()), a(a64.begin(), a64.end());
        std::vector<float> fused(c64.begin(), c64.end()), prod(c64.begin(), c64.end()), plain(size_t(c.M * c.N));
        const ActGradMap<float> at{a.data(), lda_a};
        gemm_map<float>(false, false, c.M, c.N, c.K, 1.f, D.data(), c.K, nullptr, W.data(), c.N, nullptr, c.beta,
                        fused.data(), c.N, nullptr, at.map(act));
        gemm<float>(false, false, c.M, c.N, c.K, 1.f, D.data(), c.K, W.data(), c.N, c.beta, prod.data(), c.N);
        for (int64_t r = 0; r < c.M; ++r)  // the pass, over a's rows
          act_backward(act, plain.data() + r * c.N, prod.data() + r * c.N, a.data() + r * lda_a, c.N, true);
        int64_t differ = 0;
        for (size_t i = 0; i < fused.size(); ++i) differ += fused[i] != plain[i];
        CHECK(differ == 0);
      }
    }
  }
}

TEST_CASE("gemm_map: the sums of op(A)'s rows (a Linear's bias gradient) equal add_column_sums, bit for bit") {
  // dW = dy^T x adds db = the column sums of dy as it packs dy: per row of op(A), in blocks of 64 k and a tree over
  // the blocks, across K slices, added once however many threads packed the same rows (a column split), onto what
  // sum_a held. Also the small products (Eigen), a row-major A (summed before the product), a leading dimension
  // wider than the matrix, and as many rows as a large batch's B*N (ragged in blocks, slices and MC blocks).
  struct SumCase {
    bool ta;
    int64_t M, N, K, pad;
  };
  const SumCase cases[] = {{true, 45, 197, 1001, 0},  {true, 576, 192, 700, 0},  {true, 24, 900, 300, 0},
                           {true, 40, 64, 300, 5},    {true, 7, 9, 11, 0},       {false, 203, 70, 300, 3},
                           {true, 131, 40, 53011, 0}, {true, 100, 64, 20000, 7}, {false, 30, 40, 5000, 3}};
  for (bool bf16 : {false, true}) {
    if (bf16 && !bf16_available()) continue;
    const Bf16Scope amp(bf16);
    for (const SumCase& c : cases) {
      CAPTURE(bf16);
      CAPTURE(c.M);
      const int64_t lda = (c.ta ? c.M : c.K) + c.pad, arows = c.ta ? c.K : c.M;
      const std::vector<double> a64 = random_vector(size_t(arows * lda), 61, 1.0), b64 = random_vector(size_t(c.K * c.N), 62, 1.0);
      const std::vector<double> s64 = random_vector(size_t(c.M), 63, 1.0);
      const std::vector<float> A(a64.begin(), a64.end()), B(b64.begin(), b64.end());
      std::vector<float> fused(s64.begin(), s64.end()), plain(s64.begin(), s64.end());
      std::vector<float> C1(size_t(c.M * c.N)), C2(size_t(c.M * c.N));
      gemm_map<float>(c.ta, false, c.M, c.N, c.K, 1.f, A.data(), lda, nullptr, B.data(), c.N, nullptr, 0.f, C1.data(),
                      c.N, nullptr, nullptr, fused.data());
      gemm<float>(c.ta, false, c.M, c.N, c.K, 1.f, A.data(), lda, B.data(), c.N, 0.f, C2.data(), c.N);
      CHECK(C1 == C2);  // the product itself is unchanged
      if (c.ta && c.pad == 0) {
        add_column_sums(plain.data(), A.data(), c.K, c.M);
      } else {  // op(A) transposed into a dense (K, M) copy first
        std::vector<float> T(size_t(c.K * c.M));
        for (int64_t k = 0; k < c.K; ++k)
          for (int64_t i = 0; i < c.M; ++i) T[size_t(k * c.M + i)] = c.ta ? A[size_t(k * lda + i)] : A[size_t(i * lda + k)];
        add_column_sums(plain.data(), T.data(), c.K, c.M);
      }
      int64_t differ = 0;
      for (int64_t i = 0; i < c.M; ++i) differ += fused[size_t(i)] != plain[size_t(i)];
      CHECK(differ == 0);
    }
  }
}

// The bias sums (gemm_map's sum_a and add_column_sums) on as many rows as a large batch's B*N.
namespace {

// dy-like values (rows, cols): column c's mean (kMeans[c % 5]) plus N(0, 1), as floats. Columns dominated by their
// mean grow large partial sums, where every addend of a single chain loses its low bits; others are mostly noise.
std::vector<float> bias_grad_like(int64_t rows, int64_t cols, uint64_t seed) {
  static constexpr double kMeans[] = {0.0, 0.25, 1.0, 4.0, -2.0};
  const uint64_t key = splitmix64(seed);
  std::vector<float> x(size_t(rows * cols));
  for (int64_t i = 0; i < rows * cols; ++i) x[size_t(i)] = float(kMeans[i % cols % 5] + Rng::normal(key, uint64_t(i)));
  return x;
}

// The three ways a bias gradient is summed: fused into the weight gradient dW = dy^T x as the float32 or the
// bfloat16 kernel packs dy (gemm_map's sum_a), or add_column_sums alone.
enum class SumPath { fused, fused_bf16, standalone };
const char* path_name(SumPath p) {
  return p == SumPath::fused ? "fused float32" : p == SumPath::fused_bf16 ? "fused bfloat16" : "add_column_sums";
}
std::vector<SumPath> sum_paths() {
  std::vector<SumPath> paths = {SumPath::fused, SumPath::standalone};
  if (bf16_available()) paths.push_back(SumPath::fused_bf16);
  return paths;
}

// The column sums of dy (rows, cols) by `path` on `threads` OpenMP threads; x (rows, n) is the weight gradient's
// other operand.
std::vector<float> bias_sums(SumPath path, const std::vector<float>& dy, const std::vector<float>& x, int64_t rows,
                             int64_t cols, int64_t n, int threads) {
  std::vector<float> sums(size_t(cols), 0.f), dw(size_t(cols * n), 0.f);
  const int before = omp_get_max_threads();
  omp_set_num_threads(threads);
  if (path == SumPath::standalone) {
    add_column_sums(sums.data(), dy.data(), rows, cols);
  } else {
    const Bf16Scope amp(path == SumPath::fused_bf16);
    gemm_map<float>(true, false, cols, n, rows, 1.f, dy.data(), cols, nullptr, x.data(), n, nullptr, 1.f, dw.data(), n,
                    nullptr, nullptr, sums.data());
  }
  omp_set_num_threads(before);
  return sums;
}

std::vector<float> random_floats(int64_t n, uint64_t seed) {
  const std::vector<double> d = random_vector(n, seed);
  return std::vector<float>(d.begin(), d.end());
}

}  // namespace

TEST_CASE("bias sums: within (63 + log2 blocks) u sum|x| of a float64 sum on 53,011 rows, every path") {
  // Rows go in blocks of 64 summed in order, and the block sums through a pairwise tree of depth at most
  // L = bit_width(blocks), so each value meets at most 63 + L roundings: |sum - exact| <= (63 + L) u sum_r |x_rc|
  // (u = 2^-24, to first order; over |exact| that is (63 + L) u times the column's condition number). A single
  // float32 chain down all rows is only bounded by (rows - 1) u sum|x|, and its errors grow ~ sqrt(rows) u sum|x|
  // on columns whose mean dominates. 53,011 rows: 829 blocks, L = 10, a bound of 73 u sum|x|.
  const int64_t rows = 53011, n = 40;
  const std::vector<float> x = random_floats(rows * n, 72);
  int64_t blocks = (rows + kSumBlockRows - 1) / kSumBlockRows, levels = 0;
  while (blocks >> levels) ++levels;
  const double bound = double(kSumBlockRows - 1 + levels);
  for (int64_t cols : {5, 100, 131}) {  // 5: too few for the kernels (add_column_sums); 100: a ragged MC block
    const std::vector<float> dy = bias_grad_like(rows, cols, 71);
    std::vector<double> exact(size_t(cols), 0.0), abs_sum(size_t(cols), 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        exact[size_t(c)] += dy[size_t(r * cols + c)];
        abs_sum[size_t(c)] += std::fabs(dy[size_t(r * cols + c)]);
      }
    for (SumPath path : sum_paths()) {
      const std::vector<float> s = bias_sums(path, dy, x, rows, cols, n, 2);
      double worst = 0, worst_rel = 0;  // in units of u sum|x|; relative to |exact|
      for (int64_t c = 0; c < cols; ++c) {
        const double err = std::fabs(double(s[size_t(c)]) - exact[size_t(c)]);
        worst = std::max(worst, err / (0x1p-24 * abs_sum[size_t(c)]));
        worst_rel = std::max(worst_rel, err / std::fabs(exact[size_t(c)]));
      }
      std::printf("bias sums, %s, %lld rows x %lld columns: max error %.1f u sum|x| (bound %.0f), max relative %.2e\n",
                  path_name(path), (long long)rows, (long long)cols, worst, bound, worst_rel);
      const std::string name = path_name(path);
      CAPTURE(name);
      CAPTURE(cols);
      CHECK(worst <= bound);
    }
  }
}

TEST_CASE("bias sums: the same bits on 1, 2 or 3 threads, fused into the weight gradient or alone") {
  // The block boundaries are multiples of 64 rows of the whole problem, whichever thread packs which rows and however
  // K is sliced; a column split (24 x 200) has both threads pack, and sum, the same rows.
  struct SumShape {
    int64_t cols, n, rows;
  };
  for (const SumShape& sh : {SumShape{131, 40, 53011}, SumShape{24, 200, 9000}, SumShape{5, 40, 53011}}) {
    const std::vector<float> dy = bias_grad_like(sh.rows, sh.cols, 73), x = random_floats(sh.rows * sh.n, 74);
    const std::vector<float> alone = bias_sums(SumPath::standalone, dy, x, sh.rows, sh.cols, sh.n, 1);
    for (SumPath path : sum_paths())
      for (int threads : {1, 2, 3}) {
        const std::string name = path_name(path);
        CAPTURE(name);
        CAPTURE(sh.cols);
        CAPTURE(threads);
        CHECK(bias_sums(path, dy, x, sh.rows, sh.cols, sh.n, threads) == alone);
      }
  }
}
