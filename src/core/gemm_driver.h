// src/core/gemm_driver.h: the one driver of the AVX-512 GEMMs, C (M, N) = alpha op(A) op(B) + beta C + bias with
// gemm_map's maps and row sums, over a kernel set: float32 operands (sgemm_avx512.cpp) or bfloat16 pairs
// (sbgemm_avx512.cpp). Internal to src/core.
//
// Threads: each owns a rectangle of C over the whole of K (gemm_avx512.h's split), or, when they share all of B's
// columns and A is row-major, claims MC-row blocks as it goes (RowClaims). Blocking (BLIS order) within it: for each
// kc-slice of K, the thread packs its columns of B into NR-column micro-panels (a row-major op(B) a row, or a pair of
// rows, at a time across all of them, mapped by fb first; a transposed one a panel at a time), then takes its rows
// in MC-row blocks of A (L2) and runs the kernel over (micro-panel of B) x (12 rows of A) in for_each_tile's order.
// When a block's rows of C are final (the last slice) fc maps them in place, still in L2. A transposed op(A) is
// packed into 12-row micro-panels, its row sums (sum_a) added up as it goes; a row-major one is left to the kernel
// set (read in place, or rounded). Edges: packing pads with zeros, the kernel stores only the valid rows and
// masked columns.
//
// A kernel set Ops supplies (each next to its kernel; all inline, so the driver compiles to one loop nest per set):
//   Packed                        the packed element: float, or uint16_t (bfloat16, two per 32-bit pair word)
//   kStepK                        rows of a row-major op(B) packed together: 1, or 2 (K in pairs)
//   padded(kc)                    packed elements per micro-panel lane for a kc-slice (kc, or kc rounded up to even)
//   buffers(npanels, w, kcp, fa, fb)   the thread's scratch (PackBuffers), kcp = padded(min(K, KC))
//   pack_b_rows(Bp, rows, w, kc, k)    rows k .. k + kStepK - 1 of a row-major op(B) (null rows past kc: zeros)
//   pack_b_panel(Bp, src, ld, n, kc)   one micro-panel of a transposed op(B)
//   pack_a_columns(Ap, A, lda, mc, kc, tree, stride, k0)   a transposed op(A)'s block, with its column sums
//   pack_a_rows(Ap, Am, A, lda, mc, kc, fa, i0, p0) -> RowsA   a row-major op(A)'s block, mapped by fa
//   tile(ta, rows, Ap, ir, kc, Bp, C, ldc, alpha, beta, bias, mr, nr)   the 12 x 32 kernel on one tile
#pragma once
#if defined(__AVX512F__)
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "tapevit/gemm.h"

#include "gemm_avx512.h"

namespace tapevit::detail::avx512 {

// A thread's packing buffers: packed B (its panels, one K slice), packed A (one MC-row block), and the mapped rows
// of A (fa) and B (fb), or null where a kernel set or a call needs none.
template <class P>
struct PackBuffers {
  P* Bp;
  P* Ap;
  float* Am;
  float* Bm;
};

template <class Ops>
void gemm_driver(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias,
                 ElementMap<float> fa, ElementMap<float> fb, ElementMap<float> fc, float* sum_a) {
  constexpr int kStepK = Ops::kStepK;
  const Split sp = split(M, N, K);
  const int64_t kcp_max = Ops::padded(std::min(K, KC));
  RowClaims claims(sp, ta, K);  // row blocks claimed at run time, or the static split
#pragma omp parallel num_threads(sp.threads) if (sp.threads > 1)
  {
    const Part pt = sp.part(sp.threads > 1 ? omp_get_thread_num() : 0);
    const int64_t row_end = claims.end(pt, M);
    const int64_t w = pt.j1 - pt.j0, npanels = (w + NR - 1) / NR;
    const PackBuffers<typename Ops::Packed> buf = Ops::buffers(npanels, w, kcp_max, bool(fa), bool(fb));
    const int64_t rows_owned = pt.i1 - pt.i0;  // op(A)'s row sums over K, this thread's rows: their trees
    float* tree = sum_a ? scratch<float, 9>(sum_tree_levels(K) * rows_owned) : nullptr;
    for (int64_t p0 = 0; p0 < K; p0 += KC) {
      const int64_t kc = std::min(KC, K - p0), kcp = Ops::padded(kc);
      const float b_eff = p0 == 0 ? beta : 1.f;
      const float* bias_eff = p0 == 0 ? bias : nullptr;  // added once, with the first slice of K
      if (!tb) {  // row-major B, kStepK rows at a time across all of this thread's panels (each row a contiguous run,
                  // read once), mapped by fb first where there is one
        for (int64_t k = 0; k < kc; k += kStepK) {
          const float* rows[kStepK];
          for (int r = 0; r < kStepK; ++r) {
            rows[r] = k + r < kc ? B + (p0 + k + r) * ldb + pt.j0 : nullptr;
            prefetch_row(B, (p0 + k + r + 8) * ldb + pt.j0, w);
            if (fb && rows[r]) fb(buf.Bm + r * w, rows[r], p0 + k + r, pt.j0, w), rows[r] = buf.Bm + r * w;
          }
          Ops::pack_b_rows(buf.Bp, rows, w, kc, k);
        }
      } else {
        for (int64_t jp = 0; jp < npanels; ++jp)
          Ops::pack_b_panel(buf.Bp + jp * NR * kcp, B + (pt.j0 + jp * NR) * ldb + p0, ldb, std::min(NR, w - jp * NR),
                            kc);
      }
      if (claims.on() && p0 > 0) {  // a block may go to another thread in this slice: the previous slice must be done
#pragma omp barrier
      }
      for (int64_t i0 = claims.first(p0, pt); i0 < row_end; i0 = claims.after(p0, i0)) {
        const int64_t mc = std::min(MC, row_end - i0);
        typename Ops::RowsA rows{};
        if (ta)
          Ops::pack_a_columns(buf.Ap, A + p0 * lda + i0, lda, mc, kc, tree ? tree + (i0 - pt.i0) : nullptr, rows_owned,
                              p0);
        else
          rows = Ops::pack_a_rows(buf.Ap, buf.Am, A + i0 * lda + p0, lda, mc, kc, fa, i0, p0);
        for_each_tile(ta, npanels, mc, [&](int64_t jp, int64_t ir) {
          const int64_t j0 = pt.j0 + jp * NR, nr = std::min(NR, pt.j1 - j0), mr = std::min(MR, mc - ir);
          Ops::tile(ta, rows, buf.Ap + ir * kcp, ir, kc, buf.Bp + jp * NR * kcp, C + (i0 + ir) * ldc + j0, ldc, alpha,
                    b_eff, bias_eff ? bias_eff + j0 : nullptr, mr, nr);
        });
        if (fc && p0 + kc == K)  // the block's rows of C are final (and still in L2): map them in place
          for (int64_t r = i0; r < i0 + mc; ++r) fc(C + r * ldc + pt.j0, C + r * ldc + pt.j0, r, pt.j0, w);
      }
    }
    if (tree && pt.j0 == 0)  // threads that share these rows all packed them; the first column's thread adds
      sum_tree_add_totals(sum_a + pt.i0, tree, rows_owned, sum_blocks(K), rows_owned);
  }
}

}  // namespace tapevit::detail::avx512
#endif
