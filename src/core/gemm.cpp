// src/core/gemm.cpp: gemm() through Eigen's blocked GEMM over row-major maps (no copies, strides honoured), except
// large float products, which go to src/sgemm_avx512.cpp when the build targets AVX-512.
#include "tapevit/gemm.h"
#include "tapevit/error.h"
#include "column_sums.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

namespace tapevit {

namespace detail {
// src/core/sgemm_avx512.cpp: false when it does not take the product (small, or built without AVX-512).
// fa, fb, fc: gemm_map's maps, fa and fb taken only for a row-major A (!ta) and B (!tb); sum_a: only with ta.
bool sgemm_avx512(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias,
                  ElementMap<float> fa = nullptr, ElementMap<float> fb = nullptr, ElementMap<float> fc = nullptr,
                  float* sum_a = nullptr);
// src/core/sbgemm_avx512.cpp: bfloat16 operands, float32 accumulation (any shape with K > 0); maps as above.
bool sbgemm_built();
void sbgemm_avx512(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                   const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias,
                   ElementMap<float> fa = nullptr, ElementMap<float> fb = nullptr, ElementMap<float> fc = nullptr,
                   float* sum_a = nullptr);
}  // namespace detail

namespace {
std::atomic<bool> g_bf16{false};
}  // namespace

bool bf16_available() { return bf16_unavailable_reason().empty(); }

std::string bf16_unavailable_reason() {
  if (!detail::sbgemm_built())
    return "this tapevit was built without AVX512_BF16 (build with TAPEVIT_NATIVE=ON on a CPU that has it)";
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx512bf16")) return "this CPU lacks the AVX512_BF16 instructions (vdpbf16ps)";
  return "";
}

Bf16Scope::Bf16Scope(bool on) : previous_(g_bf16.load()) {
  if (on && !bf16_available()) fail("bfloat16 mixed precision (amp) needs AVX512_BF16: ", bf16_unavailable_reason());
  g_bf16 = on;
}
Bf16Scope::~Bf16Scope() { g_bf16 = previous_; }
bool gemm_bf16() { return g_bf16.load(std::memory_order_relaxed); }

uint16_t round_to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  return uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

float bf16_to_float(uint16_t b) {
  const uint32_t u = uint32_t(b) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

namespace {
// The Eigen product, for double, small float products and builds without AVX-512.
template <class T>
void eigen_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
                int64_t ldb, T beta, T* C, int64_t ldc, const T* bias) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using CMap = Eigen::Map<const Mat, 0, Eigen::OuterStride<>>;
  using MMap = Eigen::Map<Mat, 0, Eigen::OuterStride<>>;
  if (bias) {  // C = bias on every row, then accumulate
    for (int64_t r = 0; r < M; ++r) std::memcpy(C + r * ldc, bias, sizeof(T) * size_t(N));
    beta = T(1);
  }
  MMap c(C, M, N, Eigen::OuterStride<>(ldc));
  if (beta == T(0)) {
    if (K == 0) { c.setZero(); return; }
  } else if (beta != T(1)) {
    c *= beta;
  }
  if (K == 0) return;
  CMap a(A, ta ? K : M, ta ? M : K, Eigen::OuterStride<>(lda));
  CMap b(B, tb ? N : K, tb ? K : N, Eigen::OuterStride<>(ldb));
  auto run = [&](const auto& opa, const auto& opb) {
    if (beta == T(0))
      c.noalias() = alpha * opa * opb;
    else
      c.noalias() += alpha * opa * opb;
  };
  if (!ta && !tb) run(a, b);
  else if (!ta && tb) run(a, b.transpose());
  else if (ta && !tb) run(a.transpose(), b);
  else run(a.transpose(), b.transpose());
}

// out[i] += sum over k of X(i, k) for a row-major X (rows ld apart), summed as add_column_sums sums a column.
template <class T>
void add_row_sums(T* out, const T* X, int64_t ld, int64_t rows, int64_t n) {
  const int64_t blocks = detail::sum_blocks(n);
  for (int64_t i = 0; i < rows; ++i) {
    T tree[detail::kMaxSumLevels];
    for (int64_t j = 0; j < blocks; ++j) {
      T s = 0;
      for (int64_t k = j * kSumBlockRows; k < std::min(n, (j + 1) * kSumBlockRows); ++k) s += X[i * ld + k];
      detail::sum_tree_push(tree, 1, j, &s, 1);
    }
    detail::sum_tree_add_totals(out + i, tree, 1, blocks, 1);
  }
}

// out[c] += sum over rows r of X(r, c) (rows ld apart), in column_sums.h's order. Threads split the columns, and the
// row blocks are fixed by the row count, so the result does not depend on the thread count (add_column_sums is this
// with ld = cols).
template <class T>
void add_column_sums_ld(T* out, const T* X, int64_t ld, int64_t rows, int64_t cols) {
  constexpr int64_t kBlock = 64;  // columns per task: a cache line of doubles, four of floats
  const int64_t nblocks = (cols + kBlock - 1) / kBlock, row_blocks = detail::sum_blocks(rows);
#pragma omp parallel for schedule(static) if (rows * cols > 32768)
  for (int64_t blk = 0; blk < nblocks; ++blk) {
    const int64_t c0 = blk * kBlock, w = std::min(cols, c0 + kBlock) - c0;
    T tree[detail::kMaxSumLevels * kBlock];  // level l of column c0 + c at tree[l * kBlock + c]
    for (int64_t j = 0; j < row_blocks; ++j) {
      T acc[kBlock] = {};
      for (int64_t r = j * kSumBlockRows; r < std::min(rows, (j + 1) * kSumBlockRows); ++r) {
        const T* row = X + r * ld + c0;
        for (int64_t c = 0; c < w; ++c) acc[c] += row[c];
      }
      detail::sum_tree_push(tree, kBlock, j, acc, w);
    }
    detail::sum_tree_add_totals(out + c0, tree, kBlock, row_blocks, w);
  }
}
}  // namespace

template <class T>
void gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, const T* B,
          int64_t ldb, T beta, T* C, int64_t ldc, const T* bias) {
  gemm_map<T>(ta, tb, M, N, K, alpha, A, lda, nullptr, B, ldb, nullptr, beta, C, ldc, bias);
}

template <class T>
void gemm_map(bool ta, bool tb, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda, ElementMap<T> fa,
              const T* B, int64_t ldb, ElementMap<T> fb, T beta, T* C, int64_t ldc, const T* bias, ElementMap<T> fc,
              T* sum_a) {
  if (M == 0 || N == 0) return;
  if (bias && beta != T(0)) fail("gemm: a bias row needs beta = 0");
  if (sum_a && fa) fail("gemm: the sums of op(A)'s rows are of the unmapped A");
  if (sum_a && !ta) {  // a row-major A's rows are read in place, never packed: summed here
    add_row_sums(sum_a, A, lda, M, K);
    sum_a = nullptr;
  }
  if constexpr (std::is_same_v<T, float>) {
    if (K > 0 && (!fa || !ta) && (!fb || !tb)) {  // the AVX-512 kernels map row-major operands as they pack them
      // and add up a transposed A's row sums as they pack it
      if (gemm_bf16() && M * N * K >= kBf16MinMacs)
        return detail::sbgemm_avx512(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, fa, fb, fc, sum_a);
      if (detail::sgemm_avx512(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, fa, fb, fc, sum_a)) return;
    }
  }
  if (sum_a) add_column_sums_ld(sum_a, A, lda, K, M);  // the sums of a transposed A's rows: its columns
  if (!fa && !fb) {
    eigen_gemm<T>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias);
  } else {  // map into temporaries (stored rows x their length), then the unmapped product (which may take a kernel)
    auto mapped = [](std::vector<T>& out, ElementMap<T> f, const T* X, int64_t ld, int64_t rows, int64_t cols) {
      out.resize(size_t(rows * cols));
      for (int64_t r = 0; r < rows; ++r) f(out.data() + r * cols, X + r * ld, r, 0, cols);
    };
    std::vector<T> a2, b2;
    if (fa) {
      mapped(a2, fa, A, lda, ta ? K : M, ta ? M : K);
      A = a2.data(), lda = ta ? M : K;
    }
    if (fb) {
      mapped(b2, fb, B, ldb, tb ? N : K, tb ? K : N);
      B = b2.data(), ldb = tb ? K : N;
    }
    gemm_map<T>(ta, tb, M, N, K, alpha, A, lda, nullptr, B, ldb, nullptr, beta, C, ldc, bias);
  }
  if (fc)
    for (int64_t r = 0; r < M; ++r) fc(C + r * ldc, C + r * ldc, r, 0, N);
}

template <class T>
void add_column_sums(T* out, const T* x, int64_t R, int64_t C) {
  add_column_sums_ld(out, x, C, R, C);
}

template void gemm_map<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, ElementMap<float>,
                              const float*, int64_t, ElementMap<float>, float, float*, int64_t, const float*,
                              ElementMap<float>, float*);
template void gemm_map<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, ElementMap<double>,
                               const double*, int64_t, ElementMap<double>, double, double*, int64_t, const double*,
                               ElementMap<double>, double*);
template void add_column_sums<float>(float*, const float*, int64_t, int64_t);
template void add_column_sums<double>(double*, const double*, int64_t, int64_t);

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t,
                          float, float*, int64_t, const float*);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t, const double*,
                           int64_t, double, double*, int64_t, const double*);

}  // namespace tapevit
