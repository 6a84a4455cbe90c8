// src/core/arena.cpp: see tapevit/arena.h.
#include "tapevit/arena.h"

#include <sys/mman.h>
#include <unistd.h>

#include "tapevit/error.h"

namespace tapevit {

Arena::Arena(size_t reserve_bytes) {
  if (reserve_bytes == 0) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    reserve_bytes = (pages > 0 && page > 0) ? size_t(pages) * size_t(page) : (size_t(16) << 30);
  }
  // MAP_NORESERVE: only pages actually touched count against memory, so reserving RAM-size is free.
  void* p = mmap(nullptr, reserve_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) fail("Arena: could not reserve ", reserve_bytes >> 20, " MiB of address space");
#ifdef MADV_HUGEPAGE
  // 2 MiB pages where the kernel has them (transparent huge pages, "madvise" mode being Debian's default): a step
  // sweeps hundreds of MiB of activations, and with 4 KiB pages the TLB misses all the way.
  // Advice only: without it (or if it fails) the arena works the same on small pages.
  madvise(p, reserve_bytes, MADV_HUGEPAGE);
#endif
  base_ = static_cast<std::byte*>(p);
  reserved_ = reserve_bytes;
}

Arena::~Arena() {
  if (base_) munmap(base_, reserved_);
}

void* Arena::alloc(size_t bytes) {
  size_t start = (used_ + kAlign - 1) & ~(kAlign - 1);
  if (start + bytes > reserved_)
    fail("Arena: out of memory: need ", (start + bytes) >> 20, " MiB, have ", reserved_ >> 20,
         " MiB (reduce batch_size or model size)");
  used_ = start + bytes;
  if (used_ > high_water_) high_water_ = used_;
  return base_ + start;
}

void Arena::release(size_t mark) {
  if (mark > used_) fail("Arena::release: mark ", mark, " is beyond the top ", used_);
  used_ = mark;
}

BufferPool::Bin& BufferPool::bin(size_t bytes) {
  for (Bin& b : bins_)
    if (b.bytes == bytes) return b;
  bins_.push_back({bytes, {}});
  bins_.back().free.reserve(16);
  return bins_.back();
}

void* BufferPool::get(size_t bytes) {
  bytes = (bytes + Arena::kAlign - 1) & ~(Arena::kAlign - 1);
  Bin& b = bin(bytes);
  if (!b.free.empty()) {
    void* p = b.free.back();
    b.free.pop_back();
    return p;
  }
  return arena_.alloc(bytes);
}

void BufferPool::put(void* p, size_t bytes) {
  if (!p) return;
  bytes = (bytes + Arena::kAlign - 1) & ~(Arena::kAlign - 1);
  bin(bytes).free.push_back(p);
}

void BufferPool::reset() {
  for (Bin& b : bins_) b.free.clear();  // keeps each list's capacity: no allocation in the next step
  arena_.reset();
}

}  // namespace tapevit
