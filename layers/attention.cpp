// layers/attention.cpp: see attention.h.
#include "tapevit/layers/attention.h"

#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <type_traits>

#if defined(__AVX512F__)
#include <immintrin.h>
// GCC 12's unmasked AVX-512 intrinsics (_mm512_max_ps, _mm512_scalef_ps, ...) pass _mm512_undefined_ps() as the
// merge source and then warn that it may be uninitialised (a false positive): silenced for this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

#include "tapevit/layers/dropout.h"
#include "tapevit/gemm.h"
#if defined(__AVX512BF16__) && !defined(TAPEVIT_NO_SGEMM_AVX512)
#define TAPEVIT_ATTENTION_BF16 1
#include "tapevit/gemm_packing.h"  // bfloat16 pairs and per-thread buffers, shared with the GEMM
#endif

namespace tapevit {

namespace {

// One head's pieces, on the calling thread (the callers run one (batch, head) per OpenMP iteration). Generic
// versions for double (the gradient checks) and for builds without AVX-512; float versions with AVX-512 below.

// The right operand B (K, Nc) of a head product: row k at p + k * ld, contiguous. Those made from k and v are the
// same for every query head of a kv head, so they are made once per kv head (head_operand below): with amp, that is
// where they are rounded into bfloat16 pairs (`words`, row stride ldw), once, not once per query head.
template <class T>
struct HeadOperand {
  const T* p = nullptr;
  int64_t ld = 0;
  const uint32_t* words = nullptr;
  int64_t ldw = 0;
};

// C (M, Nc) = alpha * A B + beta * C: A(i, k) at A[i * ars + k * acs] (rows or columns of a stored matrix). Every
// product of the head has this form once K and V are transposed (kt, vt below).
template <class T>
void head_product(int64_t M, int64_t Nc, int64_t K, T alpha, const T* A, int64_t ars, int64_t acs,
                  const HeadOperand<T>& B, T beta, T* C, int64_t ldc) {
  if (acs == 1)
    gemm<T>(false, false, M, Nc, K, alpha, A, ars, B.p, B.ld, beta, C, ldc);
  else
    gemm<T>(true, false, M, Nc, K, alpha, A, acs, B.p, B.ld, beta, C, ldc);
}

// p (n) = softmax(p)
template <class T>
void softmax_row(T* p, int64_t n) {
  T mx = p[0];
  for (int64_t j = 1; j < n; ++j) mx = std::max(mx, p[j]);
  T sum = 0;
  for (int64_t j = 0; j < n; ++j) {
    p[j] = std::exp(p[j] - mx);
    sum += p[j];
  }
  const T inv = T(1) / sum;
  for (int64_t j = 0; j < n; ++j) p[j] *= inv;
}

// g (n) = p * (g - sum_j g p): softmax backward, g the gradient of the probabilities in, of the scores out
template <class T>
void softmax_backward_row(T* g, const T* p, int64_t n) {
  T dot = 0;
  for (int64_t j = 0; j < n; ++j) dot += g[j] * p[j];
  for (int64_t j = 0; j < n; ++j) g[j] = p[j] * (g[j] - dot);
}

#if defined(__AVX512F__)
// Float, AVX-512. Eigen's blocked GEMM spent as long packing these 50 x 50 x 64 products as multiplying them
// (vit-fmnist: ~30% of the FMA peak); the tiles below multiply straight from the strided q, k, v rows.

// The first min(16, n - j) lanes (n > j).
inline __mmask16 lanes(int64_t n, int64_t j) { return n - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (n - j)) - 1); }

// Rows [0, R) x columns [0, 16 V) of C (the last vector masked by `last`) over all of K: R x V accumulators, and per k
// V loads of B and R broadcasts of A. E = float: float32 operands, one FMA per (row, vector) and k. E = uint32_t
// (amp): both operands are bfloat16 pairs along K (K counts pairs), one vdpbf16ps per (row, vector) and pair.
template <int R, int V, class E>
void head_tile(int64_t K, float alpha, const E* A, int64_t ars, int64_t acs, const E* B, int64_t ldb, float beta,
               float* C, int64_t ldc, __mmask16 last) {
  constexpr bool kPairs = std::is_same_v<E, uint32_t>;
  __m512 acc[R][V];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const E* b = B + k * ldb;
    __m512 bv[V];
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      const __mmask16 m = v == V - 1 ? last : __mmask16(0xFFFF);
      if constexpr (kPairs)
        bv[v] = _mm512_castsi512_ps(_mm512_maskz_loadu_epi32(m, b + 16 * v));
      else
        bv[v] = _mm512_maskz_loadu_ps(m, b + 16 * v);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const E a = A[r * ars + k * acs];
#pragma GCC unroll 4
      for (int v = 0; v < V; ++v) {
#if defined(TAPEVIT_ATTENTION_BF16)
        if constexpr (kPairs) {
          acc[r][v] = _mm512_dpbf16_ps(acc[r][v], __m512bh(_mm512_set1_epi32(int32_t(a))),
                                       __m512bh(_mm512_castps_si512(bv[v])));
          continue;
        }
#endif
        if constexpr (!kPairs) acc[r][v] = _mm512_fmadd_ps(_mm512_set1_ps(a), bv[v], acc[r][v]);
      }
    }
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < V; ++v) {
      const __mmask16 m = v == V - 1 ? last : __mmask16(0xFFFF);
      float* c = C + r * ldc + 16 * v;
      __m512 x = _mm512_mul_ps(va, acc[r][v]);
      if (beta != 0.f) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, c), x);
      _mm512_mask_storeu_ps(c, m, x);
    }
}

template <int R, class E>
void head_rows(int64_t Nc, int64_t K, float alpha, const E* A, int64_t ars, int64_t acs, const E* B, int64_t ldb,
               float beta, float* C, int64_t ldc) {
  for (int64_t j0 = 0; j0 < Nc; j0 += 64) {  // 64 columns (4 vectors) at a time, the last block masked
    const int64_t w = std::min<int64_t>(64, Nc - j0), nv = (w + 15) / 16, tail = w - 16 * (nv - 1);
    const __mmask16 last = __mmask16((1u << tail) - 1);
    switch (nv) {
      case 4: head_tile<R, 4>(K, alpha, A, ars, acs, B + j0, ldb, beta, C + j0, ldc, last); break;
      case 3: head_tile<R, 3>(K, alpha, A, ars, acs, B + j0, ldb, beta, C + j0, ldc, last); break;
      case 2: head_tile<R, 2>(K, alpha, A, ars, acs, B + j0, ldb, beta, C + j0, ldc, last); break;
      default: head_tile<R, 1>(K, alpha, A, ars, acs, B + j0, ldb, beta, C + j0, ldc, last); break;
    }
  }
}

template <class E>
void head_tiles(int64_t M, int64_t Nc, int64_t K, float alpha, const E* A, int64_t ars, int64_t acs, const E* B,
                int64_t ldb, float beta, float* C, int64_t ldc) {
  int64_t i = 0;
  for (; i + 6 <= M; i += 6) head_rows<6>(Nc, K, alpha, A + i * ars, ars, acs, B, ldb, beta, C + i * ldc, ldc);
  const E* a = A + i * ars;
  float* c = C + i * ldc;
  switch (M - i) {
    case 5: head_rows<5>(Nc, K, alpha, a, ars, acs, B, ldb, beta, c, ldc); break;
    case 4: head_rows<4>(Nc, K, alpha, a, ars, acs, B, ldb, beta, c, ldc); break;
    case 3: head_rows<3>(Nc, K, alpha, a, ars, acs, B, ldb, beta, c, ldc); break;
    case 2: head_rows<2>(Nc, K, alpha, a, ars, acs, B, ldb, beta, c, ldc); break;
    case 1: head_rows<1>(Nc, K, alpha, a, ars, acs, B, ldb, beta, c, ldc); break;
    default: break;
  }
}

#if defined(TAPEVIT_ATTENTION_BF16)
// amp (inside a Bf16Scope): the head's products with bfloat16 operands and float32 sums, as torch.autocast runs
// timm's attention matmuls. Both operands are rounded into pairs along K first, which costs one pass over each
// (N x D or N x N values) against the N x N x D multiply-adds of the product:
//   B: word (kp, j) = (B(2 kp, j), B(2 kp + 1, j)) at Bw[kp * ldw + j], ldw = Nc rounded up to 16 (zeros beyond);
//   A read by rows (acs == 1): row i's own pairs at Aw[i * pairs + kp];
//   A read by columns (ars == 1: A(i, k) = A[k * acs + i], the transposed probabilities and score gradients): as B.
void pack_pairs(uint32_t* dst, int64_t ldw, const float* src, int64_t ld, int64_t n, int64_t K) {
  using detail::avx512::pair_rows;
  using detail::avx512::prefetch_floats;
  for (int64_t kp = 0; kp < (K + 1) / 2; ++kp) {
    const float* r0 = src + 2 * kp * ld;
    const bool second = 2 * kp + 1 < K;
    for (int64_t j = 0; j < n; j += 16) {
      const __mmask16 m = lanes(n, j);
      prefetch_floats(r0, 8 * ld + j, 16);  // rows sit (H + 2 Hkv) D apart in qkv: ask ahead, as the GEMM's packers do
      prefetch_floats(r0, 9 * ld + j, 16);
      const __m512 x0 = _mm512_maskz_loadu_ps(m, r0 + j);
      const __m512 x1 = second ? _mm512_maskz_loadu_ps(m, r0 + ld + j) : _mm512_setzero_ps();
      _mm512_storeu_si512(dst + kp * ldw + j, pair_rows(x0, x1));
    }
  }
}

// B's pairs are packed already (head_operand); A is packed here.
void head_product_bf16(int64_t M, int64_t Nc, int64_t K, float alpha, const float* A, int64_t ars, int64_t acs,
                       const uint32_t* Bw, int64_t ldw_b, float beta, float* C, int64_t ldc) {
  using namespace detail::avx512;
  const int64_t pairs = (K + 1) / 2, ldw_a = (M + 15) / 16 * 16;
  uint32_t* Aw = scratch<uint32_t, 4>(pairs * ldw_a);
  if (acs != 1) {
    pack_pairs(Aw, ldw_a, A, acs, M, K);
    head_tiles<uint32_t>(M, Nc, pairs, alpha, Aw, 1, ldw_a, Bw, ldw_b, beta, C, ldc);
    return;
  }
  for (int64_t i = 0; i < M; ++i) round_row_pairs(Aw + i * pairs, A + i * ars, K, A, (i + 4) * ars);
  head_tiles<uint32_t>(M, Nc, pairs, alpha, Aw, pairs, 1, Bw, ldw_b, beta, C, ldc);
}
#endif

template <>
void head_product<float>(int64_t M, int64_t Nc, int64_t K, float alpha, const float* A, int64_t ars, int64_t acs,
                         const HeadOperand<float>& B, float beta, float* C, int64_t ldc) {
#if defined(TAPEVIT_ATTENTION_BF16)
  if (B.words) return head_product_bf16(M, Nc, K, alpha, A, ars, acs, B.words, B.ldw, beta, C, ldc);
#endif
  head_tiles<float>(M, Nc, K, alpha, A, ars, acs, B.p, B.ld, beta, C, ldc);
}

// e^x for x <= 88: e^x = 2^n e^r with n = round(x / ln 2), |r| <= ln 2 / 2, e^r by its Taylor series to r^7
// (truncation below 6e-9 relative, under float rounding); 2^n applied by vscalefps, which underflows to 0 below
// x ~ -104 instead of wrapping the exponent.
inline __m512 exp_ps(__m512 x) {
  x = _mm512_max_ps(x, _mm512_set1_ps(-104.f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);  // ln 2 in two parts (Cody and Waite)
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.f));
  return _mm512_scalef_ps(p, n);
}

// Horizontal max and sum (GCC 12's _mm512_reduce_* warn about an uninitialised temporary).
inline float hmax(__m512 x) {
  alignas(64) float t[16];
  _mm512_store_ps(t, x);
  float m = t[0];
  for (int i = 1; i < 16; ++i) m = std::max(m, t[i]);
  return m;
}
inline float hsum(__m512 x) {
  alignas(64) float t[16];
  _mm512_store_ps(t, x);
  float s = 0;
  for (int i = 0; i < 16; ++i) s += t[i];
  return s;
}

template <>
void softmax_row<float>(float* p, int64_t n) {
  __m512 mx = _mm512_set1_ps(-INFINITY);
  for (int64_t j = 0; j < n; j += 16) mx = _mm512_max_ps(mx, _mm512_mask_loadu_ps(mx, lanes(n, j), p + j));
  const __m512 m = _mm512_set1_ps(hmax(mx));
  __m512 sum = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = lanes(n, j);
    const __m512 e = _mm512_maskz_mov_ps(k, exp_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, p + j), m)));
    _mm512_mask_storeu_ps(p + j, k, e);
    sum = _mm512_add_ps(sum, e);
  }
  const __m512 inv = _mm512_set1_ps(1.f / hsum(sum));
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = lanes(n, j);
    _mm512_mask_storeu_ps(p + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, p + j), inv));
  }
}

template <>
void softmax_backward_row<float>(float* g, const float* p, int64_t n) {
  __m512 dot = _mm512_setzero_ps();
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = lanes(n, j);
    dot = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, g + j), _mm512_maskz_loadu_ps(k, p + j), dot);
  }
  const __m512 d = _mm512_set1_ps(hsum(dot));
  for (int64_t j = 0; j < n; j += 16) {
    const __mmask16 k = lanes(n, j);
    _mm512_mask_storeu_ps(g + j, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, p + j),
                                                  _mm512_sub_ps(_mm512_maskz_loadu_ps(k, g + j), d)));
  }
}
#endif

// dst (D, N) = src (N, D) transposed, src rows of stride ld
template <class T>
void transpose(T* dst, const T* src, int64_t ld, int64_t N, int64_t D) {
  for (int64_t j = 0; j < N; ++j)
    for (int64_t d = 0; d < D; ++d) dst[d * N + j] = src[j * ld + d];
}

#if defined(__AVX512F__)
// In 16 x 16 blocks held in registers (the scalar loop above took 60% of attention's own time outside the products):
// a transpose is, for each bit t of the index, swapping the row bit t with the column bit t, so four stages of
// two-source permutes (b = 8, 4, 2, 1) each exchange the off-diagonal b x b blocks of every 2b x 2b block.
// Stage b: row i (bit b clear) takes its columns with bit b clear and, beside them, row i + b's with bit b clear;
// row i + b takes the rest.
template <int b>
inline void transpose_stage(__m512 (&r)[16]) {
  alignas(64) static const auto idx = [] {
    std::array<int32_t, 32> v{};
    for (int c = 0; c < 16; ++c) {
      v[size_t(c)] = (c & b) ? 16 + (c - b) : c;
      v[size_t(16 + c)] = (c & b) ? 16 + c : c + b;
    }
    return v;
  }();
  const __m512i lo = _mm512_load_si512(idx.data()), hi = _mm512_load_si512(idx.data() + 16);
#pragma GCC unroll 16
  for (int i = 0; i < 16; ++i) {
    if (i & b) continue;
    const __m512 x = r[i], y = r[i + b];
    r[i] = _mm512_permutex2var_ps(x, lo, y);
    r[i + b] = _mm512_permutex2var_ps(x, hi, y);
  }
}

template <>
void transpose<float>(float* dst, const float* src, int64_t ld, int64_t N, int64_t D) {
  for (int64_t j0 = 0; j0 < N; j0 += 16) {
    const int64_t nj = std::min<int64_t>(16, N - j0);
    const __mmask16 store_mask = lanes(N, j0);
    for (int64_t d0 = 0; d0 < D; d0 += 16) {
      const int64_t nd = std::min<int64_t>(16, D - d0);
      const __mmask16 load_mask = lanes(D, d0);
      __m512 r[16];
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i)
        r[i] = i < nj ? _mm512_maskz_loadu_ps(load_mask, src + (j0 + i) * ld + d0) : _mm512_setzero_ps();
      transpose_stage<8>(r);
      transpose_stage<4>(r);
      transpose_stage<2>(r);
      transpose_stage<1>(r);
#pragma GCC unroll 16
      for (int i = 0; i < 16; ++i)
        if (i < nd) _mm512_mask_storeu_ps(dst + (d0 + i) * N + j0, store_mask, r[i]);
    }
  }
}
#endif

// B (K, Nc), row k at p + k * ld, as the operand of head products; with amp, rounded into bfloat16 pairs in this
// thread's buffer `Slot` (5: an operand used once; 10 and 11: the two a kv head's query heads share).
template <int Slot, class T>
HeadOperand<T> head_operand(const T* p, int64_t ld, [[maybe_unused]] int64_t K, [[maybe_unused]] int64_t Nc) {
  HeadOperand<T> b{p, ld};
#if defined(TAPEVIT_ATTENTION_BF16)
  if constexpr (std::is_same_v<T, float>) {
    if (gemm_bf16()) {
      b.ldw = (Nc + 15) / 16 * 16;
      uint32_t* w = detail::avx512::scratch<uint32_t, Slot>((K + 1) / 2 * b.ldw);
      pack_pairs(w, b.ldw, p, ld, Nc, K);
      b.words = w;
    }
  }
#endif
  return b;
}
}  // namespace

int64_t attention_scratch(int64_t N, int64_t D) { return 2 * N * N + N * D; }

template <class T>
void attention_forward(T* out, T* probs, const T* qkv, int64_t B, int64_t N, int64_t H, int64_t Hkv, int64_t D,
                       double attn_drop, uint64_t key, T* scratch, uint64_t first) {
  const int64_t C = H * D, L = (H + 2 * Hkv) * D, NN = N * N, G = H / Hkv;
  const T scale = T(1) / std::sqrt(T(D));
  const T inv_keep = T(1.0 / (1.0 - attn_drop));
  // One kv head and its G query heads per iteration; with fewer (batch, kv head) pairs than threads (multi-query
  // inference on a small batch), each pair's query heads are split into S runs, each preparing k and v itself.
  const int64_t pairs = B * Hkv, threads = omp_get_max_threads();
  const int64_t S = pairs >= threads ? 1 : std::min(G, (threads + pairs - 1) / pairs), run = (G + S - 1) / S;
#pragma omp parallel for schedule(static)
  for (int64_t it = 0; it < pairs * S; ++it) {
    const int64_t b = it / S / Hkv, g = it / S % Hkv, h0 = g * G + it % S * run, h1 = std::min(h0 + run, (g + 1) * G);
    if (h0 >= h1) continue;
    T* s0 = scratch + int64_t(omp_get_thread_num()) * attention_scratch(N, D);
    T* kt = s0 + 2 * NN;
    const T* x = qkv + b * N * L;  // rows of stride L: (B, N, H + 2 Hkv, D) split into q, k, v heads
    const T* k = x + C + g * D;
    const T* v = x + C + Hkv * D + g * D;
    transpose(kt, k, L, N, D);
    const HeadOperand<T> Kt = head_operand<10>(kt, N, D, N), V = head_operand<11>(v, L, N, D);
    for (int64_t h = h0; h < h1; ++h) {
      const int64_t bh = b * H + h;
      T* P = probs ? probs + bh * NN : s0;
      head_product<T>(N, N, D, scale, x + h * D, L, 1, Kt, 0, P, N);  // S = q k^T * D^-0.5
      for (int64_t i = 0; i < N; ++i) softmax_row(P + i * N, N);
      const T* Pd = P;
      if (attn_drop > 0) {  // dropout on the probabilities, mask keyed by (b, h, i, j)
        T* s1 = s0 + NN;
        for (int64_t i = 0; i < NN; ++i) s1[i] = Rng::keep(key, first + uint64_t(bh * NN + i), attn_drop) ? P[i] * inv_keep : T(0);
        Pd = s1;
      }
      head_product<T>(N, D, N, 1, Pd, N, 1, V, 0, out + b * N * C + h * D, C);  // o = attn v, heads concatenated
    }
  }
}

template <class T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* probs, int64_t B, int64_t N, int64_t H,
                        int64_t Hkv, int64_t D, double attn_drop, uint64_t key, T* scratch, bool assign,
                        uint64_t first) {
  const int64_t C = H * D, L = (H + 2 * Hkv) * D, NN = N * N, G = H / Hkv;
  // every dq element is written by one product, every dk, dv element by the G products of its query heads
  const T beta = assign ? T(0) : T(1);
  const T scale = T(1) / std::sqrt(T(D));
  const T inv_keep = T(1.0 / (1.0 - attn_drop));
#pragma omp parallel for schedule(static)
  for (int64_t bg = 0; bg < B * Hkv; ++bg) {
    const int64_t b = bg / Hkv, g = bg % Hkv;
    T* dP = scratch + int64_t(omp_get_thread_num()) * attention_scratch(N, D);
    T* vt = dP + 2 * NN;
    const T* x = qkv + b * N * L;
    const T* k = x + C + g * D;
    const T* v = x + C + Hkv * D + g * D;
    T* dx = dqkv + b * N * L;
    T* dk = dx + C + g * D;
    T* dv = dx + C + Hkv * D + g * D;
    transpose(vt, v, L, N, D);
    const HeadOperand<T> Vt = head_operand<10>(vt, N, D, N), K = head_operand<11>(k, L, N, D);
    for (int64_t h = g * G; h < (g + 1) * G; ++h) {
      const int64_t bh = b * H + h;
      const T beta_kv = h == g * G ? beta : T(1);  // the group's first query head assigns or accumulates, the rest add
      const T* q = x + h * D;
      const T* dO = dout + b * N * C + h * D;
      const T* P = probs + bh * NN;
      head_product<T>(N, N, D, 1, dO, C, 1, Vt, 0, dP, N);  // d(attn after dropout) = dO v^T
      const T* Pd = P;
      if (attn_drop > 0) {
        T* s1 = dP + NN;
        for (int64_t i = 0; i < NN; ++i) {
          const bool kept = Rng::keep(key, first + uint64_t(bh * NN + i), attn_drop);
          s1[i] = kept ? P[i] * inv_keep : T(0);
          dP[i] = kept ? dP[i] * inv_keep : T(0);
        }
        Pd = s1;
      }
      head_product<T>(N, D, N, 1, Pd, 1, N, head_operand<5>(dO, C, N, D), beta_kv, dv, L);  // dv += attn^T dO
      for (int64_t i = 0; i < N; ++i) softmax_backward_row(dP + i * N, P + i * N, N);  // dP -> dS
      head_product<T>(N, D, N, scale, dP, N, 1, K, beta, dx + h * D, L);  // dq += dS k * scale
      head_product<T>(N, D, N, scale, dP, 1, N, head_operand<5>(q, L, N, D), beta_kv, dk, L);  // dk += dS^T q * scale
    }
  }
}

template <class T>
Var<T> attention_core(Tape<T>& t, Var<T> qkv, int64_t H, int64_t Hkv, double attn_drop, const std::string& name) {
  if (H <= 0 || Hkv <= 0 || H % Hkv != 0)
    fail("Attention '", name, "': num_heads ", H, " is not divisible by num_kv_heads ", Hkv);
  if (qkv->shape.rank != 3 || qkv->shape[2] % (H + 2 * Hkv) != 0)
    fail("Attention '", name, "' qkv: got ", qkv->shape, ", expected [B, N, (", H, " + 2 * ", Hkv, ") * head_dim]");
  const int64_t B = qkv->shape[0], N = qkv->shape[1], D = qkv->shape[2] / (H + 2 * Hkv), C = H * D;
  const bool drop = t.training && attn_drop > 0;
  const uint64_t key = drop ? t.rng.next_stream() : 0;
  const double p = drop ? attn_drop : 0.0;
  const uint64_t first = uint64_t(t.row0) * uint64_t(H * N * N);
  Var<T> out = t.tensor({B, N, C}, t.needs_grad(qkv));
  T* probs = out->requires_grad ? t.scratch(B * H * N * N) : nullptr;
  const int64_t scratch_n = int64_t(omp_get_max_threads()) * attention_scratch(N, D);
  T* scratch = t.temp(scratch_n);
  attention_forward(out->data, probs, qkv->data, B, N, H, Hkv, D, p, key, scratch, first);
  t.release(scratch, scratch_n);
  if (out->requires_grad) {
    Tape<T>* tp = &t;
    t.record(out, [=] {
      if (!out->grad) return;
      bool fresh = false;
      T* dqkv = tp->grad_or_fresh(qkv, qkv->shape, fresh);
      if (!dqkv) return;
      T* s = tp->temp(scratch_n);
      attention_backward(dqkv, out->grad, qkv->data, probs, B, N, H, Hkv, D, p, key, s, fresh, first);
      tp->release(s, scratch_n);
    });
  }
  return out;
}

template <class T>
MultiHeadSelfAttention<T>::MultiHeadSelfAttention(Params<T>& p, const std::string& name_, int64_t dim_,
                                                  int64_t heads, bool qkv_bias, double attn_drop_, double proj_drop_,
                                                  int64_t kv_heads)
    : name(name_), dim(dim_), num_heads(heads), num_kv_heads(kv_heads ? kv_heads : heads), attn_drop(attn_drop_),
      proj_drop(proj_drop_) {
  if (heads <= 0 || dim % heads != 0) fail("Attention '", name, "': dim ", dim, " is not divisible by num_heads ", heads);
  if (num_kv_heads <= 0 || heads % num_kv_heads != 0)
    fail("Attention '", name, "': num_heads ", heads, " is not divisible by num_kv_heads ", num_kv_heads);
  qkv = Linear<T>(p, name + ".qkv", dim, (heads + 2 * num_kv_heads) * (dim / heads), qkv_bias);  // q, k, v rows
  proj = Linear<T>(p, name + ".proj", dim, dim, true);
}

template <class T>
Var<T> MultiHeadSelfAttention<T>::operator()(Tape<T>& t, Var<T> x) const {
  if (x->shape.rank != 3 || x->shape[2] != dim)
    fail("Attention '", name, "' input: got ", x->shape, ", expected [B, N, ", dim, "]");
  Var<T> o = attention_core(t, qkv(t, x), num_heads, num_kv_heads, attn_drop, name);
  return dropout(t, proj(t, o), proj_drop);
}

#define TAPEVIT_INSTANTIATE(T)                                                                                   \
  template void attention_forward<T>(T*, T*, const T*, int64_t, int64_t, int64_t, int64_t, int64_t, double,      \
                                     uint64_t, T*, uint64_t);                                                     \
  template void attention_backward<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, int64_t,      \
                                      int64_t, double, uint64_t, T*, bool, uint64_t);                             \
  template Var<T> attention_core<T>(Tape<T>&, Var<T>, int64_t, int64_t, double, const std::string&);             \
  template struct MultiHeadSelfAttention<T>;
TAPEVIT_INSTANTIATE(float)
TAPEVIT_INSTANTIATE(double)

}  // namespace tapevit
