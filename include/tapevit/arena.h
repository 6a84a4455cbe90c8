// tapevit/arena.h: a bump allocator over reserved address ranges.
//
// Address space is reserved (virtual memory, committed by the OS only when touched) in chunks that never move, so
// allocations never move and a step that allocates what the previous step allocated lands where it did then and
// touches no new memory: no per-step heap traffic once warm. reset() makes everything reusable; mark()/release()
// free a suffix (inference uses this to keep one block's activations, not the whole network's).
//
// How much is reserved: without an address-space limit, the arena's whole capacity at once (the machine's physical
// memory by default: free, since only touched pages count). Under a limit (ulimit -v, RLIMIT_AS: how SGE's h_vmem
// and some clusters cap jobs) chunks as the allocations need them, each as large as the arena so far (16 MiB first)
// but at most half of what the limit leaves (AddressSpace::room), or at once what a caller knows the steps need
// (reserve), and fit_to_use() gives back what a step did not reach. An allocation that cannot be had throws
// OutOfMemory.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "tapevit/error.h"

namespace tapevit {

// An arena could not grow: what was asked and what the limit leaves are in the message; callers add which setting
// lowers the need (train: batch_size, grad_accum_steps).
struct OutOfMemory : Error {
  using Error::Error;
};

// The process's address space under its limit (RLIMIT_AS, ulimit -v): the limit (SIZE_MAX: none), what the arenas
// have reserved, and what the rest of the process takes: what it maps beside the arenas now, or the share kept for
// it (threads' stacks and heaps, batches in flight: an eighth of the limit, at least 256 MiB) if that is more.
struct AddressSpace {
  size_t limit = SIZE_MAX, arenas = 0, rest = 0;
  bool limited() const { return limit != SIZE_MAX; }
  // What the arenas may still reserve (SIZE_MAX without a limit).
  size_t room() const { return !limited() ? SIZE_MAX : limit > arenas + rest ? limit - arenas - rest : 0; }
};
AddressSpace address_space();

class Arena {
 public:
  static constexpr size_t kAlign = 64;  // a cache line: every buffer starts aligned for AVX-512 loads
  // capacity: the most it may hold (0: the machine's physical memory size). Nothing is reserved before the first
  // alloc.
  explicit Arena(size_t capacity = 0);
  ~Arena();
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;

  void* alloc(size_t bytes);
  template <class T>
  T* alloc_n(int64_t n) {
    return static_cast<T*>(alloc(sizeof(T) * static_cast<size_t>(n)));
  }
  size_t mark() const { return top_; }
  void release(size_t mark);  // forget everything allocated after mark
  void reset();
  size_t used() const { return top_ - gaps_; }        // bytes handed out and not given back (with alignment)
  size_t high_water() const { return high_water_; }   // the most used() has been
  size_t reserved() const;                            // address space held
  // Under an address-space limit: reserves address space for `bytes` more of allocations at once, as one chunk (what
  // the steps to come are known to need: then no chunk's end is left unused). Without a limit it changes nothing.
  void reserve(size_t bytes);
  // Under an address-space limit: gives back the reserved address space the allocations have never reached (call it
  // after a step typical of those to come: they land where it did). Without a limit it changes nothing.
  void fit_to_use();

 private:
  struct Chunk {
    std::byte* base;
    size_t start, size;  // its place in the arena's offsets: [start, start + size)
    size_t gap = 0;      // its unused tail when the allocations moved on to the next chunk
  };
  size_t enter_next_chunk(size_t bytes);  // the offset an allocation of `bytes` gets in the next chunk that fits
  void reserve_chunk(size_t bytes, bool exact);
  std::vector<Chunk> chunks_;
  size_t capacity_ = 0;
  size_t top_ = 0;      // offset of the end of the last allocation
  size_t reached_ = 0;  // the furthest top_ has been
  size_t current_ = 0;  // the chunk top_ lies in
  size_t gaps_ = 0;     // the chunks' unused tails below current_
  size_t high_water_ = 0;
};

// Buffers that live shorter than a step: gradients of activations (dead once their producer's backward has
// run), recomputed activations and kernel scratch. Freed buffers go to a free list per size and are handed
// out again, so the footprint is the largest set alive at once, not the sum. Sizes repeat every step, so a
// warm step takes every buffer from a free list: no arena growth and no heap traffic.
class BufferPool {
 public:
  explicit BufferPool(size_t capacity = 0) : arena_(capacity) {}
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
  void reserve(size_t bytes) { arena_.reserve(bytes); }
  void fit_to_use() { arena_.fit_to_use(); }

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
