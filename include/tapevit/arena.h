// tapevit/arena.h: a bump allocator over one reserved address range.
//
// The range is reserved once (virtual memory, committed by the OS only when touched), so allocations never
// move and a step that allocates what the previous step allocated touches no new memory: no per-step heap
// traffic once warm. reset() makes everything reusable; mark()/release() free a suffix (inference uses this
// to keep one block's activations, not the whole network's).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

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

// Buffers that live shorter than a step: gradients of activations (dead once their producer's backward has
// run), recomputed activations and kernel scratch. Freed buffers go to a free list per size and are handed
// out again, so the footprint is the largest set alive at once, not the sum. Sizes repeat every step, so a
// warm step takes every buffer from a free list: no arena growth and no heap traffic.
class BufferPool {
 public:
  explicit BufferPool(size_t reserve_bytes = 0) : arena_(reserve_bytes) {}
  void* get(size_t bytes);
  void put(void* p, size_t bytes);
  template <class T>
  T* get_n(int64_t n) {
    return static_cast<T*>(get(sizeof(T) * static_cast<size_t>(n)));
  }
  template <class T>
  void put_n(T* p, int64_t n) {
    put(p, sizeof(T) * static_cast<size_t>(n));
  }
  void reset();  // every buffer free again (the caller holds none any more)
  size_t high_water() const { return arena_.high_water(); }

 private:
  struct Bin {
    size_t bytes;
    std::vector<void*> free;
  };
  Bin& bin(size_t bytes);
  Arena arena_;
  std::vector<Bin> bins_;  // few distinct sizes per model: a linear scan beats a map
};

}  // namespace tapevit
