// src/core/sbgemm_avx512.cpp: GEMM with bfloat16 operands and float32 accumulation (AVX512_BF16's vdpbf16ps), the
// products of mixed precision (timm's --amp --amp-dtype bfloat16; see gemm.h's Bf16Scope): the bfloat16
// kernel set of gemm_driver.h (its packing and its 12 x 32 register kernel), and sbgemm_avx512.
//
// C (M, N) fp32 = alpha * bf16(op(A)) bf16(op(B)) + beta * C + bias. The operands stay float32 in memory; they are
// rounded to bfloat16 (to nearest, ties to even, as torch's .to(torch.bfloat16)) while they are packed, so no
// bfloat16 copy of a tensor is ever kept. vdpbf16ps multiplies pairs along K: zmm lane j accumulates
// a[k] * b[k][j] + a[k + 1] * b[k + 1][j], so both packed operands hold K in pairs (a zero pads an odd K):
//   B micro-panel (NR = 32 columns): Bp[(kp * NR + j) * 2 + h] = op(B)(2 kp + h, j)  -> two zmm per pair of k
//   A micro-panel (MR = 12 rows):    Ap[(kp * MR + i) * 2 + h] = op(A)(i, 2 kp + h)  -> one 32-bit broadcast per row
//   (a row-major A is only rounded, row by row, Ap[(i * pairs + kp) * 2 + h]: a pair is already one word there)
// The 12 x 32 tile of C lives in 24 zmm registers, as in sgemm_avx512.cpp, with one vdpbf16ps (64 flops) where
// that kernel has one FMA (32 flops). Threads and blocking are gemm_driver.h's, the same as float32's.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "tapevit/gemm.h"
#if defined(__AVX512BF16__)
#include "gemm_driver.h"
#endif

namespace tapevit::detail {

#if defined(__AVX512BF16__) && !defined(TAPEVIT_NO_SGEMM_AVX512)
namespace {

using namespace avx512;

// A micro-panel of width W, pairs along k, from an operand stored transposed: dst[(kp * W + i) * 2 + h] =
// src[i * ld + 2 kp + h] for i < n <= W (zeros beyond them, and for the step past an odd kc).
template <int64_t W>
void pack_strided(uint16_t* dst, const float* src, int64_t ld, int64_t n, int64_t kc) {
  const int64_t pairs = (kc + 1) / 2;
  auto* words = reinterpret_cast<uint32_t*>(dst);  // one 32-bit word per (pair, lane)
  const __m512i stride = _mm512_mullo_epi32(_mm512_set1_epi32(int(W)),
                                            _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0));
  for (int64_t i = 0; i < W; ++i) {
    if (i >= n) {
      for (int64_t kp = 0; kp < pairs; ++kp) words[kp * W + i] = 0;
      continue;
    }
    const float* row = src + i * ld;
    for (int64_t k = 0; k < kc; k += 32) {  // 32 values of the row = 16 pairs, scattered to 16 pair rows
      const int64_t left = kc - k, np = std::min<int64_t>(16, (left + 1) / 2);
      const __m512i v = row_pairs(row + k, left);
      _mm512_mask_i32scatter_epi32(words + (k / 2) * W + i, __mmask16((1u << np) - 1), stride, v, 4);
    }
  }
}

// Row-major A needs no transposition: a pair (A(i, 2 kp), A(i, 2 kp + 1)) is already one 32-bit word of row i
// rounded to bfloat16 in order, so its rows are rounded in place, Ap[i * pairs + kp] (rows past mr: zeros), and the
// kernel broadcasts from the rows (RowsA). This replaced a transposing scatter into the k-major micro-panel
// (vit-fmnist's products: see experiments/2026-11-30_amp).
// fa (gemm_map's, or null) maps each row's kc values into a row buffer first.
// row0, col: A's stored position of A[0] (for fa).
void round_a_rows(uint16_t* Ap, const float* A, int64_t lda, int64_t mr, int64_t kc, ElementMap<float> fa,
                  int64_t row0, int64_t col) {
  const int64_t pairs = (kc + 1) / 2;
  auto* words = reinterpret_cast<uint32_t*>(Ap);
  alignas(64) float mapped[KC];
  for (int64_t i = 0; i < MR; ++i) {
    uint32_t* dst = words + i * pairs;
    if (i >= mr) {
      std::memset(dst, 0, size_t(pairs) * 4);
      continue;
    }
    const float* row = A + i * lda;
    if (fa) {
      prefetch_row(row, 4 * lda, kc);
      fa(mapped, row, row0 + i, col, kc);
    }
    round_row_pairs(dst, fa ? mapped : row, kc, row, MR * lda);  // prefetching the next micro-panel's row
  }
}

// A transposed op(A) (A stored (K, M)) for one MC-row block: its mc columns go to the block's k-major micro-panels,
// Ap[ir * pairs * 2 + (kp * MR + i) * 2 + h] = op(A)(ir + i, 2 kp + h), zeros past mc and past an odd kc. As
// sgemm_avx512.cpp's pack_a_columns, it reads each pair of rows of A once for the whole block.
// tree, stride, k0: the column sums as sgemm_avx512.cpp's pack_a_columns adds them, of the unrounded values.
void pack_a_columns(uint16_t* Ap, const float* A, int64_t lda, int64_t mc, int64_t kc, float* tree, int64_t stride,
                    int64_t k0) {
  const int64_t pairs = (kc + 1) / 2;
  auto* words = reinterpret_cast<uint32_t*>(Ap);
  ColumnSums acc(tree, stride, mc, k0);
  for (int64_t k = 0; k < kc; k += 2) {
    const bool second = k + 1 < kc;
    if (tree) {
      acc.add(A + k * lda);
      if (second) acc.add(A + (k + 1) * lda);
    }
    prefetch_row(A, (k + 8) * lda, mc);
    prefetch_row(A, (k + 9) * lda, mc);
    for (int64_t ir = 0; ir < mc; ir += MR) {
      const __mmask16 m = __mmask16((1u << std::min(MR, mc - ir)) - 1);
      const __m512 x0 = _mm512_maskz_loadu_ps(m, A + k * lda + ir);
      const __m512 x1 = second ? _mm512_maskz_loadu_ps(m, A + (k + 1) * lda + ir) : _mm512_setzero_ps();
      _mm512_mask_storeu_epi32(words + ir * pairs + k / 2 * MR, __mmask16((1u << MR) - 1), pair_rows(x0, x1));
    }
  }
  if (tree) acc.finish();
}

// Rows k = 2 kp and k + 1 of a row-major op(B) (w values each; r1 null past an odd kc: zeros) into pair step kp of
// each of their micro-panels (words at Bp + jp * NR * pairs * 2 uint16s; zeros past w).
void pack_row_pair(uint16_t* Bp, const float* r0, const float* r1, int64_t w, int64_t pairs, int64_t kp) {
  auto* words = reinterpret_cast<uint32_t*>(Bp);
  for (int64_t j = 0; j < (w + NR - 1) / NR * NR; j += 16) {
    const __mmask16 m = __mmask16((1u << std::clamp<int64_t>(w - j, 0, 16)) - 1);
    const __m512 x0 = _mm512_maskz_loadu_ps(m, r0 + j), x1 = r1 ? _mm512_maskz_loadu_ps(m, r1 + j) : _mm512_setzero_ps();
    _mm512_store_si512(words + j / NR * NR * pairs + kp * NR + j % NR, pair_rows(x0, x1));
  }
}

// C tile (mr <= 12 rows, nr <= 32 columns) = alpha * Ap Bp + beta * C + bias (beta == 0: C is not read).
// RowsA: Ap holds 12 rounded rows of `pairs` words each (round_a_rows), else a k-major micro-panel.
template <bool RowsA>
void kernel(int64_t pairs, const uint16_t* __restrict Ap, const uint16_t* __restrict Bp, float* C, int64_t ldc,
            float alpha, float beta, const float* bias, int64_t mr, int64_t nr) {
  __m512 c[MR][2];
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) c[i][0] = c[i][1] = _mm512_setzero_ps();
  const auto* a = reinterpret_cast<const int32_t*>(Ap);
  for (int64_t kp = 0; kp < pairs; ++kp) {
    const __m512bh b0 = __m512bh(_mm512_load_si512(Bp + kp * NR * 2)), b1 = __m512bh(_mm512_load_si512(Bp + kp * NR * 2 + 32));
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const __m512bh ai = __m512bh(_mm512_set1_epi32(RowsA ? a[i * pairs + kp] : a[kp * MR + i]));
      c[i][0] = _mm512_dpbf16_ps(c[i][0], ai, b0);
      c[i][1] = _mm512_dpbf16_ps(c[i][1], ai, b1);
    }
  }
  store_tile(c, C, ldc, alpha, beta, bias, mr, nr);
}

// The bfloat16 kernel set of gemm_driver.h: K in pairs, the operands rounded as they are packed.
struct Bf16Ops {
  using Packed = uint16_t;
  static constexpr int kStepK = 2;
  static int64_t padded(int64_t kc) { return (kc + 1) / 2 * 2; }
  static PackBuffers<uint16_t> buffers(int64_t npanels, int64_t w, int64_t kcp, bool, bool fb) {
    return {scratch<uint16_t, 2>(npanels * NR * kcp), scratch<uint16_t, 3>(MC * kcp), nullptr,
            fb ? scratch<float, 8>(2 * w) : nullptr};  // fb(B)'s rows k, k + 1, this thread's columns
  }
  static void pack_b_rows(uint16_t* Bp, const float* const (&rows)[2], int64_t w, int64_t kc, int64_t k) {
    pack_row_pair(Bp, rows[0], rows[1], w, (kc + 1) / 2, k / 2);
  }
  static void pack_b_panel(uint16_t* Bp, const float* src, int64_t ld, int64_t n, int64_t kc) {
    pack_strided<NR>(Bp, src, ld, n, kc);
  }
  static void pack_a_columns(uint16_t* Ap, const float* A, int64_t lda, int64_t mc, int64_t kc, float* tree,
                             int64_t stride, int64_t k0) {
    detail::pack_a_columns(Ap, A, lda, mc, kc, tree, stride, k0);
  }
  // A row-major op(A)'s block: every micro-panel's rows rounded (round_a_rows); the kernel reads them from Ap.
  struct RowsA {};
  static RowsA pack_a_rows(uint16_t* Ap, float*, const float* A, int64_t lda, int64_t mc, int64_t kc,
                           ElementMap<float> fa, int64_t i0, int64_t p0) {
    const int64_t pairs = (kc + 1) / 2;
    for (int64_t ir = 0; ir < mc; ir += MR)
      round_a_rows(Ap + ir * pairs * 2, A + ir * lda, lda, std::min(MR, mc - ir), kc, fa, i0 + ir, p0);
    return {};
  }
  static void tile(bool ta, RowsA, const uint16_t* Ap, int64_t, int64_t kc, const uint16_t* Bp, float* C,
                   int64_t ldc, float alpha, float beta, const float* bias, int64_t mr, int64_t nr) {
    (ta ? kernel<false> : kernel<true>)((kc + 1) / 2, Ap, Bp, C, ldc, alpha, beta, bias, mr, nr);
  }
};

}  // namespace

bool sbgemm_built() { return true; }

void sbgemm_avx512(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                   const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias,
                   ElementMap<float> fa, ElementMap<float> fb, ElementMap<float> fc, float* sum_a) {
  gemm_driver<Bf16Ops>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, fa, fb, fc, sum_a);
}
#else
bool sbgemm_built() { return false; }
void sbgemm_avx512(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t, float,
                   float*, int64_t, const float*, ElementMap<float>, ElementMap<float>, ElementMap<float>, float*) {}
#endif

}  // namespace tapevit::detail
