// tapevit/gemm_packing.h: the AVX-512 helpers that both the GEMM kernels (src/core/sgemm_avx512.cpp,
// sbgemm_avx512.cpp) and attention's per-head products (layers/attention.cpp) use to pack their operands:
// per-thread packing buffers, prefetching of strided rows, and bfloat16 rounding into pairs along K. Inline, for
// the kernels only (namespace detail): not an API. Empty without AVX-512.
#pragma once
#if defined(__AVX512F__)
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>

namespace tapevit::detail::avx512 {

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

// Asks for the cache lines of base[offset] and base[offset + n - 1] (n <= 32 floats: all of them when aligned to
// a line) ahead of their use. The packing loops stream rows that sit ld floats apart, which the hardware prefetchers, trained afresh on
// every short run of a row, fetch late: this cut the packing's share of the amp step from 17% to 11% (perf;
// experiments/2026-12-01_speed). The address is computed as an integer: the rows asked for may lie past the
// operand's end, where a prefetch does not fault but pointer arithmetic would be undefined.
inline void prefetch_floats(const float* base, int64_t offset, int64_t n) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(base) + uintptr_t(offset) * sizeof(float);
  _mm_prefetch(reinterpret_cast<const char*>(a), _MM_HINT_T0);
  _mm_prefetch(reinterpret_cast<const char*>(a + uintptr_t(n - 1) * sizeof(float)), _MM_HINT_T0);
}

#if defined(__AVX512BF16__)
// bfloat16 operands (sbgemm_avx512.cpp, and attention's per-head products in layers/attention.cpp) hold K in pairs:
// one 32-bit word = (value at k, value at k + 1), rounded to nearest even.

// Two rows of 16 floats (k and k + 1) rounded and interleaved: (x0[0], x1[0], x0[1], x1[1], ...).
inline __m512i pair_rows(__m512 x0, __m512 x1) {
  const __m512i v = __m512i(_mm512_cvtne2ps_pbh(x1, x0));  // lanes 0-15 from x0, 16-31 from x1
  const __m512i idx = _mm512_set_epi16(31, 15, 30, 14, 29, 13, 28, 12, 27, 11, 26, 10, 25, 9, 24, 8, 23, 7, 22, 6,
                                       21, 5, 20, 4, 19, 3, 18, 2, 17, 1, 16, 0);
  return _mm512_permutexvar_epi16(idx, v);
}

// Up to 32 values of a row (left of them valid) rounded into 16 words of pairs, in order: word p holds values 2p
// (low half) and 2p + 1; a zero pads an odd count's last pair.
inline __m512i row_pairs(const float* x, int64_t left) {
  const __mmask16 m0 = left >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << left) - 1);
  const __mmask16 m1 = left >= 32 ? __mmask16(0xFFFF) : left <= 16 ? __mmask16(0) : __mmask16((1u << (left - 16)) - 1);
  return __m512i(_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, x + 16), _mm512_maskz_loadu_ps(m0, x)));
}

// A row's kc values rounded into (kc + 1) / 2 pair words at dst, 32 values at a time; meanwhile the same values of
// the row at pf_base + pf_offset (the next one the caller rounds) are prefetched.
inline void round_row_pairs(uint32_t* dst, const float* x, int64_t kc, const float* pf_base, int64_t pf_offset) {
  for (int64_t k = 0; k < kc; k += 32) {
    const int64_t left = kc - k, np = std::min<int64_t>(16, (left + 1) / 2);
    prefetch_floats(pf_base, pf_offset + k, 32);
    _mm512_mask_storeu_epi32(dst + k / 2, __mmask16((1u << np) - 1), row_pairs(x + k, left));
  }
}
#endif

}  // namespace tapevit::detail::avx512
#endif
