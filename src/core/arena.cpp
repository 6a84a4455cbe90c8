// src/core/arena.cpp: see tapevit/arena.h.
#include "tapevit/arena.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>

namespace tapevit {

namespace {

constexpr size_t kMiB = size_t(1) << 20;
constexpr size_t kFirstChunk = 16 * kMiB;  // under an address-space limit
constexpr size_t kChunkAlign = 2 * kMiB;   // a transparent huge page

size_t physical_memory() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  return (pages > 0 && page > 0) ? size_t(pages) * size_t(page) : (size_t(16) << 30);
}

// What the process maps now (VmSize: what RLIMIT_AS counts).
size_t mapped_bytes() {
  std::ifstream statm("/proc/self/statm");
  size_t pages = 0;
  statm >> pages;
  return pages * size_t(sysconf(_SC_PAGESIZE));
}

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

std::atomic<size_t> g_reserved{0};  // by every arena of the process

void* map_reserve(size_t size) {
  // MAP_NORESERVE: only pages actually touched count against memory, so a large reservation is free.
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p != MAP_FAILED) g_reserved += size;
  return p;
}

void unmap(void* p, size_t size) {
  if (size > 0 && munmap(p, size) == 0) g_reserved -= size;
}

}  // namespace

AddressSpace address_space() {
  AddressSpace a;
  rlimit r{};
  if (getrlimit(RLIMIT_AS, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return a;
  a.limit = size_t(r.rlim_cur);
  a.arenas = g_reserved.load();
  const size_t mapped = mapped_bytes();
  a.rest = std::max(mapped > a.arenas ? mapped - a.arenas : 0, std::max(a.limit / 8, 256 * kMiB));
  return a;
}

Arena::Arena(size_t capacity) : capacity_(capacity > 0 ? capacity : physical_memory()) {}

Arena::~Arena() {
  for (const Chunk& c : chunks_) unmap(c.base, c.size);
}

size_t Arena::reserved() const { return chunks_.empty() ? 0 : chunks_.back().start + chunks_.back().size; }

void Arena::reserve(size_t bytes) {
  if (bytes > 0 && address_space().limited()) reserve_chunk(bytes, /*exact=*/true);
}

void Arena::reserve_chunk(size_t bytes, bool exact) {
  const size_t have = reserved(), want = round_up(bytes, kChunkAlign);
  const AddressSpace space = address_space();
  auto out_of_memory = [&](const auto&... why) {
    fail_with<OutOfMemory>("out of memory: buffers of ", (used() + bytes + kMiB - 1) / kMiB, " MiB at least are needed (",
                           (bytes + kMiB - 1) / kMiB, " MiB more), ", why...);
  };
  if (have + bytes > capacity_) out_of_memory("over the buffer arena's capacity of ", capacity_ / kMiB, " MiB");
  if (want > space.room())
    out_of_memory("over what the address-space limit (ulimit -v) of ", space.limit / kMiB, " MiB leaves: its buffer "
                  "arenas hold ", space.arenas / kMiB, " MiB (", have / kMiB, " MiB this one) and the rest of the "
                  "process takes ", space.rest / kMiB, " MiB (threads' stacks and heaps, data)");
  // Without an address-space limit, the whole capacity at once (only touched pages count); under one, what is
  // asked when it is known to be what a step needs (exact), else as much as the arena so far (doubling it) but at
  // most half of what the limit leaves (the rest of the process, the other arenas, may need it), and at least what
  // is asked.
  size_t size = !space.limited() ? capacity_ - have
                : exact          ? want
                                 : std::min(std::max(have, kFirstChunk), space.room() / 2);
  size = std::min(std::max(round_up(size, kChunkAlign), want), capacity_ - have);
  void* p = map_reserve(size);
  if (p == MAP_FAILED && size > bytes) {  // what is asked, no more
    size = round_up(bytes, size_t(sysconf(_SC_PAGESIZE)));
    p = map_reserve(size);
  }
  if (p == MAP_FAILED) out_of_memory("and the system would not reserve address space for them (", std::strerror(errno), ")");
#ifdef MADV_HUGEPAGE
  // 2 MiB pages where the kernel has them (transparent huge pages, "madvise" mode being Debian's default): a step
  // sweeps hundreds of MiB of activations, and with 4 KiB pages the TLB misses all the way.
  // Advice only: without it (or if it fails) the arena works the same on small pages.
  madvise(p, size, MADV_HUGEPAGE);
#endif
  chunks_.push_back({static_cast<std::byte*>(p), have, size});
}

size_t Arena::enter_next_chunk(size_t bytes) {
  if (chunks_.empty()) {
    reserve_chunk(bytes, false);
    return 0;
  }
  for (;;) {  // the current chunk's tail (and any later chunk too small) stays unused until the allocations go back
    if (current_ + 1 == chunks_.size()) reserve_chunk(bytes, false);  // (when it throws, nothing has changed)
    Chunk& c = chunks_[current_];
    c.gap = c.start + c.size - std::min(top_, c.start + c.size);
    gaps_ += c.gap;
    top_ = chunks_[++current_].start;
    if (bytes <= chunks_[current_].size) return top_;
  }
}

void* Arena::alloc(size_t bytes) {
  size_t start = (top_ + kAlign - 1) & ~(kAlign - 1);
  if (chunks_.empty() || start + bytes > chunks_[current_].start + chunks_[current_].size)
    start = enter_next_chunk(bytes);
  top_ = start + bytes;
  reached_ = std::max(reached_, top_);
  high_water_ = std::max(high_water_, used());
  const Chunk& c = chunks_[current_];
  return c.base + (start - c.start);
}

void Arena::release(size_t mark) {
  if (mark > top_) fail("Arena::release: mark ", mark, " is beyond the top ", top_);
  top_ = mark;
  while (current_ > 0 && chunks_[current_].start > mark) gaps_ -= chunks_[--current_].gap;
}

void Arena::fit_to_use() {
  if (!address_space().limited()) return;
  const size_t page = size_t(sysconf(_SC_PAGESIZE));
  while (!chunks_.empty() && chunks_.back().start >= reached_) {  // never reached
    unmap(chunks_.back().base, chunks_.back().size);
    chunks_.pop_back();
  }
  if (chunks_.empty()) {  // (nothing was ever allocated)
    reset();
    return;
  }
  Chunk& last = chunks_.back();
  const size_t keep = round_up(reached_ - last.start, page);
  if (keep < last.size) {
    unmap(last.base + keep, last.size - keep);
    last.size = keep;
  }
  current_ = std::min(current_, chunks_.size() - 1);
}

void Arena::reset() {
  top_ = 0;
  current_ = 0;
  gaps_ = 0;
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
