// src/core/sgemm_avx512.cpp: single-precision GEMM for the ViT's large products with AVX-512, BLIS-style.
//
// Why not Eigen here: Eigen 3.4's AVX-512 kernel keeps a 48 x 4 tile of C in 12 registers and reaches ~60% of
// this machine's FMA peak on the ViT shapes (experiments/bench: `bench_tapevit gemm`). This kernel keeps a
// 12 x 32 tile in 24 of the 32 zmm registers: per step of k it loads two vectors of B and broadcasts twelve
// values of A for 24 FMAs, so the FMA units, not the loads, set the pace.
//
// Row-major C (M, N) = alpha op(A) op(B) + beta C. Threads: each owns a rectangle of C over the whole of K
// (gemm_avx512.h's split), or, when they share all of B's columns and A is row-major, claims MC-row blocks as it
// goes (RowClaims). Blocking (BLIS order) within it: for
// each kc-slice of K, the thread packs its columns of B into NR-column micro-panels (kc x 32: ~32 KB), then takes
// its rows in MC-row blocks of A (L2) and runs the kernel over (micro-panel of B) x (12 rows of A): each panel down
// the block's rows, or, with many panels and a row-major A, each 12-row tile across the panels (for_each_tile). A transposed op(A) is packed into 12-row micro-panels first; a row-major
// one is read in place.
// Edges: packing pads with zeros, the kernel stores only the valid rows and masked columns.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "tapevit/gemm.h"
#if defined(__AVX512F__)
#include "gemm_avx512.h"
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

}  // namespace

bool sgemm_avx512(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias,
                  ElementMap<float> fa, ElementMap<float> fb, ElementMap<float> fc, float* sum_a) {
  if (M < MR || N < NR || K < 16 || M * N * K < (int64_t(1) << 18)) return false;  // small: Eigen's is fine
  const Split sp = split(M, N, K);
  const int64_t kc_max = std::min(K, KC);
  RowClaims claims(sp, ta, K);  // row blocks claimed at run time, or the static split
#pragma omp parallel num_threads(sp.threads) if (sp.threads > 1)
  {
    const Part pt = sp.part(sp.threads > 1 ? omp_get_thread_num() : 0);
    const int64_t row_end = claims.end(pt, M);
    const int64_t npanels = (pt.j1 - pt.j0 + NR - 1) / NR;
    float* Bp = scratch<float, 0>(npanels * NR * kc_max);
    float* Ap = scratch<float, 1>(MC * kc_max);
    float* Am = fa ? scratch<float, 6>(MC * kc_max) : nullptr;  // fa(A)'s rows of one block
    float* Bm = fb ? scratch<float, 7>(pt.j1 - pt.j0) : nullptr;  // fb(B)'s row k, this thread's columns
    const int64_t rows_owned = pt.i1 - pt.i0;  // op(A)'s row sums over K, this thread's rows: their trees
    float* tree = sum_a ? scratch<float, 9>(sum_tree_levels(K) * rows_owned) : nullptr;
    for (int64_t p0 = 0; p0 < K; p0 += KC) {
      const int64_t kc = std::min(KC, K - p0);
      const float b_eff = p0 == 0 ? beta : 1.f;
      const float* bias_eff = p0 == 0 ? bias : nullptr;  // added once, with the first slice of K
      if (!tb) {  // row-major B a row at a time across all of this thread's panels (each row a contiguous run, read
                  // once), mapped by fb first where there is one
        const int64_t w = pt.j1 - pt.j0;
        for (int64_t k = 0; k < kc; ++k) {
          const float* row = B + (p0 + k) * ldb + pt.j0;
          prefetch_row(B, (p0 + k + 8) * ldb + pt.j0, w);
          if (fb) fb(Bm, row, p0 + k, pt.j0, w), row = Bm;
          pack_row(Bp, row, w, kc, k);
        }
      } else {
        for (int64_t jp = 0; jp < npanels; ++jp)
          pack_strided<NR>(Bp + jp * NR * kc, B + (pt.j0 + jp * NR) * ldb + p0, ldb,
                           std::min(NR, pt.j1 - pt.j0 - jp * NR), kc);
      }
      if (claims.on() && p0 > 0) {  // a block may go to another thread in this slice: the previous slice must be done
#pragma omp barrier
      }
      for (int64_t i0 = claims.first(p0, pt); i0 < row_end; i0 = claims.after(p0, i0)) {
        const int64_t mc = std::min(MC, row_end - i0);
        // Row-major op(A): the block's rows read in place (rows at `rows`, stride `rs`), or mapped into Am first, and
        // only a ragged last micro-panel packed. Transposed: every micro-panel packed.
        const float* rows = ta ? nullptr : A + i0 * lda + p0;
        int64_t rs = lda;
        if (!ta && fa) {
          for (int64_t r = 0; r < mc; ++r) {
            prefetch_row(rows, (r + 4) * lda, kc);
            fa(Am + r * kc, rows + r * lda, i0 + r, p0, kc);
          }
          rows = Am, rs = kc;
        }
        if (ta)
          pack_a_columns(Ap, A + p0 * lda + i0, lda, mc, kc, tree ? tree + (i0 - pt.i0) : nullptr, rows_owned, p0);
        else if (mc % MR)
          pack_strided<MR>(Ap + mc / MR * MR * kc, rows + mc / MR * MR * rs, rs, mc % MR, kc);
        for_each_tile(ta, npanels, mc, [&](int64_t jp, int64_t ir) {
          const int64_t j0 = pt.j0 + jp * NR, nr = std::min(NR, pt.j1 - j0), mr = std::min(MR, mc - ir);
          const float* bp = Bp + jp * NR * kc;
          float* c = C + (i0 + ir) * ldc + j0;
          if (!ta && mr == MR)
            kernel<true>(kc, rows + ir * rs, rs, bp, c, ldc, alpha, b_eff, bias_eff ? bias_eff + j0 : nullptr, mr, nr);
          else
            kernel<false>(kc, Ap + ir * kc, 0, bp, c, ldc, alpha, b_eff, bias_eff ? bias_eff + j0 : nullptr, mr, nr);
        });
        if (fc && p0 + kc == K)  // the block's rows of C are final (and still in L2): map them in place
          for (int64_t r = i0; r < i0 + mc; ++r) fc(C + r * ldc + pt.j0, C + r * ldc + pt.j0, r, pt.j0, pt.j1 - pt.j0);
      }
    }
    if (tree && pt.j0 == 0)  // threads that share these rows all packed them; the first column's thread adds
      sum_tree_add_totals(sum_a + pt.i0, tree, rows_owned, sum_blocks(K), rows_owned);
  }
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
