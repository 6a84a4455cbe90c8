// src/core/gemm_avx512.h: what the AVX-512 GEMM kernels share (sgemm_avx512.cpp: float32 operands;
// sbgemm_avx512.cpp: bfloat16 operands): the 12 x 32 register tile's sizes and its store, and how a team splits a
// product (the driver that uses them is gemm_driver.h). Internal to src/core. The packing helpers attention's per-head products use too (per-thread buffers,
// prefetches, bfloat16 pairs) are in tapevit/gemm_packing.h.
#pragma once
#if defined(__AVX512F__)
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>

#include "tapevit/gemm_packing.h"

#include "column_sums.h"

namespace tapevit::detail::avx512 {

// MR x NR tile of C in 24 zmm registers; K in slices of KC; A in blocks of MC rows (L2).
constexpr int64_t MR = 12, NR = 32, KC = 256, MC = 96;
static_assert(MC % MR == 0 && MC % 16 == 0, "whole micro-panels and whole vectors of a block");

// Every cache line of base[offset] .. base[offset + n - 1], for rows longer than prefetch_floats takes.
inline void prefetch_row(const float* base, int64_t offset, int64_t n) {
  for (int64_t i = 0; i < n; i += 16) prefetch_floats(base, offset + i, 1);
  prefetch_floats(base, offset + n - 1, 1);
}

// The sums of up to MC columns of a row-major matrix, one row at a time, in column_sums.h's order (gemm_map's sum_a as
// a transposed A is packed, bit for bit add_column_sums): each block of kSumBlockRows rows is summed in registers and
// then pushed onto the columns' trees, level l of column i at tree[l * stride + i]. A pack of rows [k0, k0 + kc)
// starts a block (k0 is a multiple of KC) and ends one (kc is KC but at the end of K), so the blocks are the whole
// problem's however K is sliced and whichever thread packs the rows. (A masked store and reload of running sums per
// row cost the step 2%: the reload waited on the store.)
static_assert(KC % kSumBlockRows == 0, "a K slice holds whole blocks of the column sums");
class ColumnSums {
 public:
  ColumnSums(float* tree, int64_t stride, int64_t n, int64_t k0)
      : tree_(tree), stride_(stride), n_(n), block_(k0 / kSumBlockRows) {
    clear();
  }
  void add(const float* row) {
#pragma GCC unroll 6
    for (int q = 0; q < kQ; ++q)
      if (q * 16 < n_) acc_[q] = _mm512_add_ps(acc_[q], _mm512_maskz_loadu_ps(mask(q), row + q * 16));
    if (++rows_ == kSumBlockRows) push();
  }
  void finish() {  // after the pack's last row: a block cut short by the end of K
    if (rows_) push();
  }

 private:
  static constexpr int kQ = int(MC / 16);
  void clear() {
#pragma GCC unroll 6
    for (int q = 0; q < kQ; ++q) acc_[q] = _mm512_setzero_ps();
    rows_ = 0;
  }
  // column_sums.h's sum_tree_push on 16 columns at a time: carry through the set low bits of the block's index
  void push() {
    int l = 0;
    for (; (block_ >> l) & 1; ++l) {
#pragma GCC unroll 6
      for (int q = 0; q < kQ; ++q)
        if (q * 16 < n_) acc_[q] = _mm512_add_ps(_mm512_maskz_loadu_ps(mask(q), tree_ + l * stride_ + q * 16), acc_[q]);
    }
#pragma GCC unroll 6
    for (int q = 0; q < kQ; ++q)
      if (q * 16 < n_) _mm512_mask_storeu_ps(tree_ + l * stride_ + q * 16, mask(q), acc_[q]);
    ++block_;
    clear();
  }
  __mmask16 mask(int q) const {
    const int64_t left = n_ - q * 16;
    return left >= 16 ? __mmask16(0xFFFF) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1);
  }
  float* tree_;
  int64_t stride_, n_, block_;
  int64_t rows_ = 0;  // rows in the current block
  __m512 acc_[kQ];
};

// C tile (mr <= MR rows, nr <= NR columns) = alpha * acc + beta * C + bias (beta == 0: C is not read; bias: one value
// per column, or null).
inline void store_tile(const __m512 (&acc)[MR][2], float* C, int64_t ldc, float alpha, float beta, const float* bias,
                       int64_t mr, int64_t nr) {
  const __mmask16 m0 = nr >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? __mmask16(0xFFFF) : nr <= 16 ? __mmask16(0) : __mmask16((1u << (nr - 16)) - 1);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const __m512 bias0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
  const __m512 bias1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
    if (i >= mr) break;
    float* row = C + i * ldc;
    __m512 r0 = _mm512_fmadd_ps(va, acc[i][0], bias0), r1 = _mm512_fmadd_ps(va, acc[i][1], bias1);
    if (beta != 0.f) {
      r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), r0);
      r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), r1);
    }
    _mm512_mask_storeu_ps(row, m0, r0);
    _mm512_mask_storeu_ps(row + 16, m1, r1);
  }
}

// How a team splits an M x N product: statically, each thread owns one rectangle of C (whole MR-row tiles by whole
// NR-column panels) over the whole of K, and packs what its rectangle needs itself. No thread waits for another
// inside a product (the team only joins at its end), where a shared packing of B per K slice cost two barriers per
// slice (25 slices in a weight gradient with K = B*N = 6400). The price is packing twice what two threads both
// read: the grid (tm x tn threads) is the one that packs least per thread, (M / tm + N / tn) per k, so the long
// dimension is the one split. Each C tile is computed by one thread over K in a fixed order, so the result does
// not depend on the thread count. (Where the rows are split and A is read in place, RowClaims below turns the
// split of rows into claims at run time.)
struct Part {
  int64_t i0 = 0, i1 = 0, j0 = 0, j1 = 0;  // rows [i0, i1), columns [j0, j1) of C
};
struct Split {
  int64_t M = 0, N = 0, mtiles = 0, npanels = 0;  // C, and its MR-row tiles and NR-column panels
  int threads = 1, tm = 1, tn = 1;  // the team (1 inside another parallel region or for a small product), its grid
  Part part(int t) const;           // thread t's rectangle
};
inline Split split(int64_t M, int64_t N, int64_t K) {
  Split s;
  s.M = M, s.N = N, s.mtiles = (M + MR - 1) / MR, s.npanels = (N + NR - 1) / NR;
  const int64_t mtiles = s.mtiles, npanels = s.npanels;
  int64_t threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  // at least one tile per thread and ~2^18 multiply-adds each (less is not worth waking a thread for)
  threads = std::max<int64_t>(1, std::min({threads, mtiles * npanels, M * N * K >> 18}));
  double best = 0;
  for (int64_t tm = 1; tm <= threads; ++tm) {
    if (threads % tm) continue;
    const int64_t tn = threads / tm;
    if (tm > mtiles || tn > npanels) continue;
    const double cost = double(M) / double(tm) + double(N) / double(tn);
    if (s.tm * s.tn == 1 || cost < best) s.tm = int(tm), s.tn = int(tn), best = cost;
  }
  s.threads = s.tm * s.tn;  // a prime team larger than both tile counts falls back to fewer threads
  return s;
}
inline Part Split::part(int t) const {
  const int64_t ti = t / tn, tj = t % tn;
  Part p;
  p.i0 = std::min(M, mtiles * ti / tm * MR), p.i1 = std::min(M, mtiles * (ti + 1) / tm * MR);
  p.j0 = std::min(N, npanels * tj / tn * NR), p.j1 = std::min(N, npanels * (tj + 1) / tn * NR);
  return p;
}

// MC-row blocks claimed at run time instead of the static split, per K slice, when the threads share all of op(B)'s
// columns (tn == 1) and read a row-major op(A): each thread packs the slice of B (as under the static split, where
// both packed it too), then takes the next unclaimed block of rows until none is left; a barrier separates the
// slices (a block's next slice may go to the other thread). Under the static split both threads waited at the
// product's end for whichever the host had slowed that time. Each tile is still computed over K in order, one slice
// at a time, so the result does not depend on which thread took it. One counter of claimed rows per K slice.
class RowClaims {
 public:
  RowClaims(const Split& sp, bool ta, int64_t K)
      : on_(sp.threads > 1 && sp.tn == 1 && !ta), next_(on_ ? new std::atomic<int64_t>[size_t((K + KC - 1) / KC)] : nullptr) {
    for (int64_t s = 0; on_ && s < (K + KC - 1) / KC; ++s) next_[size_t(s)] = 0;
  }
  bool on() const { return on_; }
  // A thread's MC-row blocks of the K slice starting at p0: for (i0 = first(p0, pt); i0 < end(pt, M);
  // i0 = after(p0, i0)). Claimed blocks come from all M rows, else the thread's own [pt.i0, pt.i1) in order.
  int64_t end(const Part& pt, int64_t M) const { return on_ ? M : pt.i1; }
  int64_t first(int64_t p0, const Part& pt) { return on_ ? next(p0) : pt.i0; }
  int64_t after(int64_t p0, int64_t i0) { return on_ ? next(p0) : i0 + MC; }

 private:
  // The first row of the next unclaimed MC-row block of the K slice starting at p0 (>= M: none left).
  int64_t next(int64_t p0) { return next_[size_t(p0 / KC)].fetch_add(MC, std::memory_order_relaxed); }

  bool on_;
  std::unique_ptr<std::atomic<int64_t>[]> next_;
};

// The (panel, tile) pairs of one MC-row block, f(jp, ir), in the order the kernels run them. A row-major op(A)
// against many panels of B (a thread's N >= 384: qkv's and fc1's forward, fc2's backward data) runs each 12-row
// tile of A (in L1) across all the panels (in L2): float32 +6-7% on those products (bench_tapevit gemm). Otherwise
// each panel of B stays in L1 while the block's tiles run down it (with 6 panels that order is 2% faster).
template <class F>
inline void for_each_tile(bool ta, int64_t npanels, int64_t mc, F&& f) {
  if (!ta && npanels >= 12) {
    for (int64_t ir = 0; ir < mc; ir += MR)
      for (int64_t jp = 0; jp < npanels; ++jp) f(jp, ir);
  } else {
    for (int64_t jp = 0; jp < npanels; ++jp)
      for (int64_t ir = 0; ir < mc; ir += MR) f(jp, ir);
  }
}

}  // namespace tapevit::detail::avx512
#endif
