// src/core/column_sums.h: the order in which a column is summed over many rows (add_column_sums, and gemm_map's sum_a
// as the AVX-512 kernels pack a transposed A: a Linear's bias gradient). Internal to src/core.
//
// Rows go in blocks of kSumBlockRows (gemm.h), each summed in row order from zero; block j's sum is then pushed onto a
// binary counter of subtotals: tree[l] holds the sum of 2^l consecutive blocks while bit l of the count of blocks
// pushed is set, and a push carries through the set low bits (tree[l] + carry, earlier blocks on the left), as
// pairwise summation does. The total adds the subtotals left over, smallest (latest) first. A value meets at most
// kSumBlockRows - 1 + bit_width(blocks) roundings where one chain down R rows has R - 1. Everything here depends on
// the row count alone, so every caller, on any number of threads, gets the same bits.
#pragma once
#include <bit>
#include <cstdint>

#include "tapevit/gemm.h"

namespace tapevit::detail {

inline int64_t sum_blocks(int64_t rows) { return (rows + kSumBlockRows - 1) / kSumBlockRows; }
// Subtotals a column's tree needs for `rows` rows (tree[0 .. levels)).
inline int sum_tree_levels(int64_t rows) { return int(std::bit_width(uint64_t(sum_blocks(rows)))); }
constexpr int kMaxSumLevels = 64;  // enough for any int64_t row count

// Pushes block j's sums s[i] (i < n; overwritten) onto n trees, level l of tree i at tree[l * stride + i].
template <class T>
inline void sum_tree_push(T* tree, int64_t stride, int64_t j, T* s, int64_t n) {
  int l = 0;
  for (; (j >> l) & 1; ++l)
    for (int64_t i = 0; i < n; ++i) s[i] = tree[l * stride + i] + s[i];
  for (int64_t i = 0; i < n; ++i) tree[l * stride + i] = s[i];
}

// out[i] += the total of tree i after `blocks` pushes.
template <class T>
inline void sum_tree_add_totals(T* out, const T* tree, int64_t stride, int64_t blocks, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    T total = 0;
    bool first = true;
    for (int l = 0; (blocks >> l) != 0; ++l)
      if ((blocks >> l) & 1) {
        total = first ? tree[l * stride + i] : tree[l * stride + i] + total;
        first = false;
      }
    out[i] += total;
  }
}

}  // namespace tapevit::detail
