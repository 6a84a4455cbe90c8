// src/core/gemm_avx512.h: what the AVX-512 GEMM kernels share (sgemm_avx512.cpp: float32 operands;
// sbgemm_avx512.cpp: bfloat16 operands): the 12 x 32 register tile's sizes and its store, the per-thread packing
// buffers, and how a product is split into work items. Internal to src/core.
#pragma once
#if defined(__AVX512F__)
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace tapevit::detail::avx512 {

// MR x NR tile of C in 24 zmm registers; K in slices of KC; A in blocks of MC rows (L2).
constexpr int64_t MR = 12, NR = 32, KC = 256, MC = 96;

// A buffer per thread and slot that only grows: the ViT's shapes repeat every step, so a warm step allocates nothing.
template <class T, int Slot>
T* scratch(int64_t n) {
  struct Buf {
    T* p = nullptr;
    int64_t n = 0;
    ~Buf() { std::free(p); }
  };
  thread_local Buf b;
  if (b.n < n) {
    std::free(b.p);
    b.p = static_cast<T*>(std::aligned_alloc(64, size_t((n * int64_t(sizeof(T)) + 63) / 64 * 64)));
    if (!b.p) throw std::bad_alloc();
    b.n = n;
  }
  return b.p;
}

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

// The work items of an M x N product: an MC-row block times a chunk of per_chunk NR-column panels. Few row blocks
// (the weight gradients: M = the layer's width, K = all B*N rows) are split by columns too, so every thread gets
// several items. Each C tile belongs to one item, computed in a fixed order: which thread takes it does not matter.
struct Plan {
  int64_t npanels, mblocks, per_chunk, jchunks, items;
  int threads;  // for the team (1 inside another parallel region)
};
inline Plan plan(int64_t M, int64_t N) {
  Plan p;
  p.npanels = (N + NR - 1) / NR;
  p.mblocks = (M + MC - 1) / MC;
  const int64_t max_threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  const int64_t want = 4 * max_threads;
  p.per_chunk = p.mblocks >= want ? p.npanels : std::max<int64_t>(1, p.npanels * p.mblocks / want);
  p.jchunks = (p.npanels + p.per_chunk - 1) / p.per_chunk;
  p.items = p.mblocks * p.jchunks;
  p.threads = int(std::min(max_threads, p.items));
  return p;
}

}  // namespace tapevit::detail::avx512
#endif
