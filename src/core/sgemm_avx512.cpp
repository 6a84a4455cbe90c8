// src/core/sgemm_avx512.cpp: single-precision GEMM for the ViT's large products with AVX-512, BLIS-style: the
// float32 kernel set of gemm_driver.h (its packing and its 12 x 32 register kernel), and sgemm_avx512.
//
// Why not Eigen here: Eigen 3.4's AVX-512 kernel keeps a 48 x 4 tile of C in 12 registers and reaches ~60% of
// this machine's FMA peak on the ViT shapes (experiments/bench: `bench_tapevit gemm`). This kernel keeps a
// 12 x 32 tile in 24 of the 32 zmm registers: per step of k it loads two vectors of B and broadcasts twelve
// values of A for 24 FMAs, so the FMA units, not the loads, set the pace.
//
// Row-major C (M, N) = alpha op(A) op(B) + beta C (+ bias, gemm_map's maps and row sums); threads and blocking are
// gemm_driver.h's. B is packed into NR-column micro-panels (kc x 32: ~32 KB), a row at a time or a panel at a time
// from a transposed op(B). A transposed op(A) is packed into 12-row micro-panels; a row-major one is read in place
// (mapped by fa into a block buffer first where there is one), and only a ragged last micro-panel packed.
#include <algorithm>
#include <cstdint>

#include "tapevit/gemm.h"
#if defined(__AVX512F__)
#include "gemm_driver.h"
#endif

namespace tapevit::detail {

#if defined(__AVX512F__) && !defined(TAPEVIT_NO_SGEMM_AVX512)
namespace {

using namespace avx512;

// A micro-panel of width W (MR for A, NR for B) from an operand stored transposed: dst[k * W + i] = src[i * ld + k]
// for k < kc and i < n <= W (a transposing gather), zeros for i >= n.
template <int64_t W>
void pack_strided(float* dst, const float* src, int64_t ld, int64_t n, int64_t kc) {
  for (int64_t i = 0; i < W; ++i) {
    if (i < n)
      for (int64_t k = 0; k < kc; ++k) dst[k * W + i] = src[i * ld + k];
    else
      for (int64_t k = 0; k < kc; ++k) dst[k * W + i] = 0.f;
  }
}

// A transposed op(A) (A stored (K, M)) for one MC-row block: its mc columns of A go to the block's micro-panels,
// Ap[ir * kc + k * MR + i] = op(A)(ir + i, k), zeros past mc. It runs down the rows of A once for the whole block, each
// row's mc values a contiguous run, where filling one micro-panel at a time walked the same kc rows (ld floats apart,
// 12 values from each) once per panel: the weight gradients' dy^T, whose packing took half of this file's own time.
// tree, or null: the block's column-sum trees (gemm_map's sum_a; ColumnSums), levels stride floats apart; k0: the
// slice's first k.
void pack_a_columns(float* Ap, const float* A, int64_t lda, int64_t mc, int64_t kc, float* tree, int64_t stride,
                    int64_t k0) {
  ColumnSums acc(tree, stride, mc, k0);
  for (int64_t k = 0; k < kc; ++k) {
    prefetch_row(A, (k + 8) * lda, mc);
    for (int64_t ir = 0; ir < mc; ir += MR) {
      const int64_t valid = std::min(MR, mc - ir);
      _mm512_mask_storeu_ps(Ap + ir * kc + k * MR, __mmask16((1u << MR) - 1),
                            _mm512_maskz_loadu_ps(__mmask16((1u << valid) - 1), A + k * lda + ir));
    }
    if (tree) acc.add(A + k * lda);
  }
  if (tree) acc.finish();
}

// Row k of a row-major op(B), w values, into step k of each of its micro-panels (Bp + jp * NR * kc; zeros past w).
void pack_row(float* Bp, const float* row, int64_t w, int64_t kc, int64_t k) {
  for (int64_t j = 0; j < w; j += 16) {
    const int64_t valid = std::min<int64_t>(16, w - j);
    _mm512_store_ps(Bp + j / NR * NR * kc + k * NR + j % NR, _mm512_maskz_loadu_ps(__mmask16((1u << valid) - 1), row + j));
  }
  if (w % NR && w % NR <= 16) _mm512_store_ps(Bp + w / NR * NR * kc + k * NR + 16, _mm512_setzero_ps());
}

// C tile (mr <= 12 rows, nr <= 32 columns) = alpha * A Bp + beta * C + bias (beta == 0: C is not read; bias:
// one value per column, or null).
// A: element (i, k) at A[i * rs + k * cs]: a packed micro-panel (rs 1, cs MR), or, for a full tile of a
// row-major op(A), the rows in place (rs lda, cs 1): broadcasts need no packing, which saves a transposing
// copy of the whole of A on every call.
template <bool InPlaceRows>
void kernel(int64_t kc, const float* __restrict A, int64_t lda, const float* __restrict Bp, float* C, int64_t ldc,
            float alpha, float beta, const float* bias, int64_t mr, int64_t nr) {
  __m512 c[MR][2];
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) c[i][0] = c[i][1] = _mm512_setzero_ps();
  const float* rows[MR];
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) rows[i] = A + (InPlaceRows ? i * lda : i);
  for (int64_t k = 0; k < kc; ++k) {
    const __m512 b0 = _mm512_load_ps(Bp + k * NR), b1 = _mm512_load_ps(Bp + k * NR + 16);
    const int64_t off = InPlaceRows ? k : k * MR;
#pragma GCC unroll 12
    for (int i = 0; i < MR; ++i) {
      const __m512 ai = _mm512_set1_ps(rows[i][off]);
      c[i][0] = _mm512_fmadd_ps(ai, b0, c[i][0]);
      c[i][1] = _mm512_fmadd_ps(ai, b1, c[i][1]);
    }
  }
  store_tile(c, C, ldc, alpha, beta, bias, mr, nr);
}

// The float32 kernel set of gemm_driver.h.
struct F32Ops {
  using Packed = float;
  static constexpr int kStepK = 1;
  static int64_t padded(int64_t kc) { return kc; }
  static PackBuffers<float> buffers(int64_t npanels, int64_t w, int64_t kcp, bool fa, bool fb) {
    return {scratch<float, 0>(npanels * NR * kcp), scratch<float, 1>(MC * kcp),
            fa ? scratch<float, 6>(MC * kcp) : nullptr,  // fa(A)'s rows of one block
            fb ? scratch<float, 7>(w) : nullptr};        // fb(B)'s row k, this thread's columns
  }
  static void pack_b_rows(float* Bp, const float* const (&rows)[1], int64_t w, int64_t kc, int64_t k) {
    pack_row(Bp, rows[0], w, kc, k);
  }
  static void pack_b_panel(float* Bp, const float* src, int64_t ld, int64_t n, int64_t kc) {
    pack_strided<NR>(Bp, src, ld, n, kc);
  }
  static void pack_a_columns(float* Ap, const float* A, int64_t lda, int64_t mc, int64_t kc, float* tree,
                             int64_t stride, int64_t k0) {
    detail::pack_a_columns(Ap, A, lda, mc, kc, tree, stride, k0);
  }
  // A row-major op(A)'s block is read in place (rows rs floats apart), or mapped by fa into Am first; only a ragged
  // last micro-panel is packed.
  struct RowsA {
    const float* rows;
    int64_t rs;
  };
  static RowsA pack_a_rows(float* Ap, float* Am, const float* A, int64_t lda, int64_t mc, int64_t kc,
                           ElementMap<float> fa, int64_t i0, int64_t p0) {
    RowsA a{A, lda};
    if (fa) {
      for (int64_t r = 0; r < mc; ++r) {
        prefetch_row(A, (r + 4) * lda, kc);
        fa(Am + r * kc, A + r * lda, i0 + r, p0, kc);
      }
      a = {Am, kc};
    }
    if (mc % MR) pack_strided<MR>(Ap + mc / MR * MR * kc, a.rows + mc / MR * MR * a.rs, a.rs, mc % MR, kc);
    return a;
  }
  // Ap: the tile's packed micro-panel; full tiles of a row-major op(A) broadcast from the rows instead.
  static void tile(bool ta, const RowsA& a, const float* Ap, int64_t ir, int64_t kc, const float* Bp, float* C,
                   int64_t ldc, float alpha, float beta, const float* bias, int64_t mr, int64_t nr) {
    if (!ta && mr == MR)
      kernel<true>(kc, a.rows + ir * a.rs, a.rs, Bp, C, ldc, alpha, beta, bias, mr, nr);
    else
      kernel<false>(kc, Ap, 0, Bp, C, ldc, alpha, beta, bias, mr, nr);
  }
};

}  // namespace

bool sgemm_avx512(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias,
                  ElementMap<float> fa, ElementMap<float> fb, ElementMap<float> fc, float* sum_a) {
  if (M < MR || N < NR || K < 16 || M * N * K < (int64_t(1) << 18)) return false;  // small: Eigen's is fine
  gemm_driver<F32Ops>(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, bias, fa, fb, fc, sum_a);
  return true;
}
bool sgemm_avx512_built() { return true; }
#else
bool sgemm_avx512_built() { return false; }
bool sgemm_avx512(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t, float,
                  float*, int64_t, const float*, ElementMap<float>, ElementMap<float>, ElementMap<float>, float*) {
  return false;  // built without AVX-512 (or with TAPEVIT_SGEMM_AVX512=OFF): Eigen's GEMM everywhere
}
#endif

}  // namespace tapevit::detail
