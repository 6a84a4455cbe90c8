// tapevit/rng.h: counter-based random numbers.
//
// Every random tensor (a dropout mask, a drop-path draw, an init) takes a fresh stream key from the Rng; its
// element i is a hash of (key, i). So results do not depend on thread count or on the order threads run,
// a backward pass can regenerate a dropout mask from its key instead of storing it, and the whole state
// a checkpoint must save for exact resume is two integers.
#pragma once
#include <cmath>
#include <cstdint>

namespace tapevit {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// 64-bit FNV-1a, to key a stream by a name (parameter init is keyed by timm name, not by position).
inline uint64_t hash_name(const char* s) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (; *s; ++s) h = (h ^ uint8_t(*s)) * 0x100000001B3ull;
  return h;
}

struct Rng {
  uint64_t seed = 0;
  uint64_t counter = 0;  // number of streams drawn so far

  uint64_t next_stream() { return splitmix64(seed ^ splitmix64(counter++ + 0x5DEECE66Dull)); }

  static uint64_t bits(uint64_t key, uint64_t i) { return splitmix64(key ^ splitmix64(i)); }
  // uniform in [0, 1) with 53 random bits
  static double uniform(uint64_t key, uint64_t i) { return double(bits(key, i) >> 11) * 0x1.0p-53; }
  // standard normal by Box-Muller on two uniforms of the stream (indices 2i, 2i+1)
  static double normal(uint64_t key, uint64_t i) {
    double u1 = 1.0 - uniform(key, 2 * i), u2 = uniform(key, 2 * i + 1);  // u1 in (0, 1]
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
  }
  // dropout keep test: one float compare per element; keep with probability 1 - p
  static bool keep(uint64_t key, uint64_t i, double p) { return uniform(key, i) >= p; }
};

}  // namespace tapevit
