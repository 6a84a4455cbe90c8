// tapevit/tensor.h: shapes and the tensor handle the tape passes between layers.
//
// Dims glossary (PyTorch order, row-major storage, last dim contiguous):
//   B  batch            N  tokens per image, cls token included (N = 1 + Np)
//   Np patches (grid^2)  C  embed dim           H  heads          D  head dim = C / H
//   P  patch size       Ci input channels      K  classes        R  rows of a 2-D view = prod(leading dims)
// Every layer treats its input as R rows of the last dim, so GEMMs run over all B*N rows at once.
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

#include "tapevit/error.h"

namespace tapevit {

struct Shape {
  static constexpr int kMaxRank = 4;
  int rank = 0;
  std::array<int64_t, kMaxRank> dims{};

  Shape() = default;
  Shape(std::initializer_list<int64_t> d) {
    if (d.size() > kMaxRank) fail("Shape: rank ", d.size(), " exceeds ", kMaxRank);
    for (int64_t v : d) {
      if (v < 0) fail("Shape: negative dimension ", v);
      dims[rank++] = v;
    }
  }
  int64_t operator[](int i) const { return dims[i < 0 ? rank + i : i]; }
  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= dims[i];
    return n;
  }
  int64_t last() const { return rank ? dims[rank - 1] : 1; }
  int64_t rows() const { return rank ? numel() / last() : 1; }  // R for a (R, last) view
  bool operator==(const Shape& o) const {
    if (rank != o.rank) return false;
    for (int i = 0; i < rank; ++i)
      if (dims[i] != o.dims[i]) return false;
    return true;
  }
  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < rank; ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
    return s + "]";
  }
};

inline std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }

// A tensor as the tape sees it: a shape, a data buffer and (lazily) a gradient buffer of the same shape.
// Parameters point into the model's flat buffers; activations live in the tape's arena.
template <class T>
struct Value {
  Shape shape;
  T* data = nullptr;
  T* grad = nullptr;  // allocated and zeroed by Tape::grad() on first use (parameters: the flat grad buffer)
  bool requires_grad = false;
  int64_t numel() const { return shape.numel(); }
};

template <class T>
using Var = Value<T>*;

}  // namespace tapevit
