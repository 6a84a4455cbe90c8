// tests/test_gemm.cpp: gemm() against a plain double-precision triple loop, on shapes that reach the AVX-512
// float kernel (src/sgemm_avx512.cpp) and its edges: ragged tiles in M and N, several slices of K, transposes,
// leading dimensions wider than the matrix, alpha/beta/bias, and calls from inside an OpenMP region.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "gradcheck.h"
#include "tapevit/gemm.h"

using namespace tapevit;
using namespace tapevit::test;

namespace {

struct Case {
  bool ta, tb;
  int64_t M, N, K;
  float alpha, beta;
  bool bias;
};

// Relative max error of gemm<float> against the double reference; pad widens every leading dimension.
double run_case(const Case& c, int64_t pad, bool nested) {
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
        const double a = c.ta ? A[size_t(k * lda + i)] : A[size_t(i * lda + k)];
        const double b = c.tb ? B[size_t(j * ldb + k)] : B[size_t(k * ldb + j)];
        s += a * b;
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

}  // namespace

TEST_CASE("gemm<float>: large products (the AVX-512 path where built for it) match a double reference") {
  const Case cases[] = {
      {false, true, 6400 / 8, 576 / 2, 192, 1.f, 0.f, true},  // a Linear's forward: y = x W^T + b
      {false, false, 803, 197, 300, 1.f, 1.f, false},         // dx += dy W, ragged in M and N, two K slices
      {true, false, 129, 75, 1000, 1.f, 1.f, false},          // dW += dy^T x: long K, four slices
      {true, true, 61, 45, 333, -0.5f, 0.25f, false},         // both transposed, alpha and beta
      {false, true, 40, 33, 257, 2.f, 0.f, false},            // one column past a tile, one k past a slice
      {false, false, 12, 32, 2048, 1.f, 0.f, true},           // exactly one tile
  };
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
        // float accumulation over K terms of unit-variance products: error ~ sqrt(K) * 6e-8 relative
        CHECK(run_case(c, pad, nested) < 2e-5);
      }
}

TEST_CASE("gemm: a bias row with beta != 0 is an error") {
  float a[4] = {}, c[4] = {}, b[2] = {};
  CHECK_THROWS(gemm<float>(false, false, 2, 2, 2, 1.f, a, 2, a, 2, 1.f, c, 2, b));
}
