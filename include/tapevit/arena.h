// tapevit/arena.h: a bump allocator over one reserved address range.
//
// The range is reserved once (virtual memory, committed by the OS only when touched), so allocations never
// move and a step that allocates what the previous step allocated touches no new memory: no per-step heap
// traffic once warm. reset() makes everything reusable; mark()/release() free a suffix (inference uses this
// to keep one block's activations, not the whole network's).
#pragma once
#include <cstddef>
#include <cstdint>

namespace tapevit {

class Arena {
 public:
  static constexpr size_t kAlign = 64;  // a cache line: every buffer starts aligned for AVX-512 loads
  explicit Arena(size_t reserve_bytes = 0);  // 0: reserve the machine's physical memory size
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  void* alloc(size_t bytes);
  template <class T>
  T* alloc_n(int64_t n) {
    return static_cast<T*>(alloc(sizeof(T) * static_cast<size_t>(n)));
  }
  size_t mark() const { return used_; }
  void release(size_t mark);  // forget everything allocated after mark
  void reset() { used_ = 0; }
  size_t used() const { return used_; }
  size_t high_water() const { return high_water_; }
  std::byte* base() const { return base_; }

 private:
  std::byte* base_ = nullptr;
  size_t reserved_ = 0, used_ = 0, high_water_ = 0;
};

}  // namespace tapevit
