// tapevit/parallel_copy.h: memset / memcpy of large buffers split over the OpenMP threads. A single thread
// cannot saturate memory bandwidth, and the other thread would only wait at the next barrier meanwhile.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>

namespace tapevit {

namespace detail {
constexpr int64_t kCopyChunk = int64_t(1) << 16;  // bytes per task below which a single call is cheaper
}

// dst[0, bytes) = src[0, bytes); src == nullptr: zeros.
inline void parallel_copy_bytes(void* dst, const void* src, int64_t bytes) {
  const int64_t chunks = (bytes + detail::kCopyChunk - 1) / detail::kCopyChunk;
  auto* d = static_cast<unsigned char*>(dst);
  auto* s = static_cast<const unsigned char*>(src);
#pragma omp parallel for schedule(static) if (chunks > 4)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t off = c * detail::kCopyChunk, len = std::min(detail::kCopyChunk, bytes - off);
    if (s)
      std::memcpy(d + off, s + off, size_t(len));
    else
      std::memset(d + off, 0, size_t(len));
  }
}

template <class T>
void parallel_zero(T* dst, int64_t n) {
  parallel_copy_bytes(dst, nullptr, int64_t(sizeof(T)) * n);
}

template <class T>
void parallel_copy(T* dst, const T* src, int64_t n) {
  parallel_copy_bytes(dst, src, int64_t(sizeof(T)) * n);
}

}  // namespace tapevit
