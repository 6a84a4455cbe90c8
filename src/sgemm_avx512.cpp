// src/sgemm_avx512.cpp: single-precision GEMM for the ViT's large products with AVX-512, BLIS-style.
//
// Why not Eigen here: Eigen 3.4's AVX-512 kernel keeps a 48 x 4 tile of C in 12 registers and reaches ~60% of
// this machine's FMA peak on the ViT shapes (experiments/bench: `bench_tapevit gemm`). This kernel keeps a
// 12 x 32 tile in 24 of the 32 zmm registers: per step of k it loads two vectors of B and broadcasts twelve
// values of A for 24 FMAs, so the FMA units, not the loads, set the pace.
//
// Row-major C (M, N) = alpha op(A) op(B) + beta C. Blocking (BLIS order): for each kc-slice of K, B is packed
// once into NR-column micro-panels (kc x 32, shared by the threads: ~32 KB, stays in L1 while a thread runs
// down its rows); each thread takes MC-row blocks of A (L2) and runs the kernel over (micro-panel of B) x
// (12 rows of A). A transposed op(A) is packed into 12-row micro-panels first; a row-major one is read in
// place. Threads take (row block, chunk of B panels) items; B packing is split by panels.
// Edges: packing pads with zeros, the kernel stores only the valid rows and masked columns.
#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace tapevit::detail {

#if defined(__AVX512F__) && !defined(TAPEVIT_NO_SGEMM_AVX512)
namespace {

constexpr int64_t MR = 12, NR = 32, KC = 256, MC = 96;

// A buffer per thread that only grows: the ViT's shapes repeat every step, so a warm step allocates nothing.
float* scratch(int64_t n, int slot) {
  struct Buf {
    float* p = nullptr;
    int64_t n = 0;
    ~Buf() { std::free(p); }
  };
  thread_local Buf bufs[2];
  Buf& b = bufs[slot];
  if (b.n < n) {
    std::free(b.p);
    b.p = static_cast<float*>(std::aligned_alloc(64, size_t((n + 15) / 16 * 16) * sizeof(float)));
    if (!b.p) throw std::bad_alloc();
    b.n = n;
  }
  return b.p;
}

// Ap[k * MR + i] = op(A)(i0 + i, p0 + k), zero beyond mr rows. (Ap has MR + 4 floats of slack at its end
// for the last 16-wide store.)
void pack_a(float* Ap, const float* A, int64_t lda, bool ta, int64_t i0, int64_t mr, int64_t p0, int64_t kc) {
  if (ta) {  // A stored (K, M): MR contiguous values per k, one masked load and store each
    const __mmask16 m = __mmask16((1u << mr) - 1), all = __mmask16((1u << MR) - 1);
    for (int64_t k = 0; k < kc; ++k)
      _mm512_mask_storeu_ps(Ap + k * MR, all, _mm512_maskz_loadu_ps(m, A + (p0 + k) * lda + i0));
  } else {  // A stored (M, K): MR rows read in step
    for (int64_t i = 0; i < MR; ++i) {
      if (i < mr) {
        const float* src = A + (i0 + i) * lda + p0;
        for (int64_t k = 0; k < kc; ++k) Ap[k * MR + i] = src[k];
      } else {
        for (int64_t k = 0; k < kc; ++k) Ap[k * MR + i] = 0.f;
      }
    }
  }
}

// Bp[k * NR + j] = op(B)(p0 + k, j0 + j), zero beyond nr columns.
void pack_b(float* Bp, const float* B, int64_t ldb, bool tb, int64_t j0, int64_t nr, int64_t p0, int64_t kc) {
  if (!tb) {  // B stored (K, N): NR contiguous values per k
    for (int64_t k = 0; k < kc; ++k) {
      const float* src = B + (p0 + k) * ldb + j0;
      float* dst = Bp + k * NR;
      if (nr == NR) {
        _mm512_store_ps(dst, _mm512_loadu_ps(src));
        _mm512_store_ps(dst + 16, _mm512_loadu_ps(src + 16));
      } else {
        int64_t j = 0;
        for (; j < nr; ++j) dst[j] = src[j];
        for (; j < NR; ++j) dst[j] = 0.f;
      }
    }
  } else {  // B stored (N, K): a transposing gather
    for (int64_t j = 0; j < NR; ++j) {
      if (j < nr) {
        const float* src = B + (j0 + j) * ldb + p0;
        for (int64_t k = 0; k < kc; ++k) Bp[k * NR + j] = src[k];
      } else {
        for (int64_t k = 0; k < kc; ++k) Bp[k * NR + j] = 0.f;
      }
    }
  }
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
  const __mmask16 m0 = nr >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << nr) - 1);
  const __mmask16 m1 = nr >= 32 ? __mmask16(0xFFFF) : nr <= 16 ? __mmask16(0) : __mmask16((1u << (nr - 16)) - 1);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const __m512 bias0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
  const __m512 bias1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 12
  for (int i = 0; i < MR; ++i) {
    if (i >= mr) break;
    float* row = C + i * ldc;
    __m512 r0 = _mm512_fmadd_ps(va, c[i][0], bias0), r1 = _mm512_fmadd_ps(va, c[i][1], bias1);
    if (beta != 0.f) {
      r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, row), r0);
      r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, row + 16), r1);
    }
    _mm512_mask_storeu_ps(row, m0, r0);
    _mm512_mask_storeu_ps(row + 16, m1, r1);
  }
}

}  // namespace

bool sgemm_avx512(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
                  const float* B, int64_t ldb, float beta, float* C, int64_t ldc, const float* bias) {
  if (M < MR || N < NR || K < 16 || M * N * K < (int64_t(1) << 18)) return false;  // small: Eigen's is fine
  const int64_t npanels = (N + NR - 1) / NR, mblocks = (M + MC - 1) / MC;
  const int64_t kc_max = std::min(K, KC);
  float* Bp = scratch(npanels * NR * kc_max, 0);  // the caller's buffer, shared by the team
  const bool nested = omp_in_parallel();
  const int64_t max_threads = nested ? 1 : omp_get_max_threads();
  // Work items: an MC-row block times a chunk of B panels. Few row blocks (the weight gradients: M = the
  // layer's width, K = all B*N rows) are split by columns too, so every thread gets several items.
  const int64_t want = 4 * max_threads;
  const int64_t per_chunk = mblocks >= want ? npanels : std::max<int64_t>(1, npanels * mblocks / want);
  const int64_t jchunks = (npanels + per_chunk - 1) / per_chunk, items = mblocks * jchunks;
  const int threads = int(std::min(max_threads, items));
#pragma omp parallel num_threads(threads) if (threads > 1)
  {
    float* Ap = scratch(MC * kc_max + 16, 1);
    for (int64_t p0 = 0; p0 < K; p0 += KC) {
      const int64_t kc = std::min(KC, K - p0);
      const float b_eff = p0 == 0 ? beta : 1.f;
      const float* bias_eff = p0 == 0 ? bias : nullptr;  // added once, with the first slice of K
#pragma omp for schedule(static)
      for (int64_t jp = 0; jp < npanels; ++jp)
        pack_b(Bp + jp * NR * kc, B, ldb, tb, jp * NR, std::min(NR, N - jp * NR), p0, kc);
      // Each C tile is computed by one item in a fixed order, so which thread takes it does not matter.
#pragma omp for schedule(dynamic, 1)
      for (int64_t item = 0; item < items; ++item) {
        const int64_t mb = item / jchunks, jc = item % jchunks;
        const int64_t i0 = mb * MC, mc = std::min(MC, M - i0);
        for (int64_t ir = 0; ir < mc; ir += MR)  // row-major A: only a ragged last micro-panel is packed
          if (ta || mc - ir < MR) pack_a(Ap + ir * kc, A, lda, ta, i0 + ir, std::min(MR, mc - ir), p0, kc);
        for (int64_t jp = jc * per_chunk; jp < std::min(npanels, (jc + 1) * per_chunk); ++jp) {
          const int64_t j0 = jp * NR, nr = std::min(NR, N - j0);
          const float* bp = Bp + jp * NR * kc;
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t mr = std::min(MR, mc - ir);
            float* c = C + (i0 + ir) * ldc + j0;
            if (!ta && mr == MR)
              kernel<true>(kc, A + (i0 + ir) * lda + p0, lda, bp, c, ldc, alpha, b_eff, bias_eff ? bias_eff + j0 : nullptr,
                           mr, nr);
            else
              kernel<false>(kc, Ap + ir * kc, 0, bp, c, ldc, alpha, b_eff, bias_eff ? bias_eff + j0 : nullptr, mr, nr);
          }
        }
      }
    }
  }
  return true;
}
#else
bool sgemm_avx512(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t, float,
                  float*, int64_t, const float*) {
  return false;  // built without AVX-512 (or with TAPEVIT_SGEMM_AVX512=OFF): Eigen's GEMM everywhere
}
#endif

}  // namespace tapevit::detail
