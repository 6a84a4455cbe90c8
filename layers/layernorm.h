// layers/layernorm.h: LayerNorm over the last dim, as timm.layers.LayerNorm / torch.nn.LayerNorm
// (biased variance; eps = 1e-6 in timm's ViT, not PyTorch's default 1e-5).
// x: (R, C) rows -> y: (R, C). Params: <name>.weight (C) init 1, <name>.bias (C) init 0.
#pragma once
#include <string>

#include "tapevit/gemm.h"
#include "tapevit/params.h"
#include "tapevit/tape.h"

namespace tapevit {

// mean, rstd (R): kept for backward.
template <class T>
void layernorm_forward(T* y, T* mean, T* rstd, const T* x, const T* w, const T* b, int64_t R, int64_t C, T eps);
// The per-row statistics alone (the normalise then happens where y is read: LayerNormMap).
template <class T>
void layernorm_stats(T* mean, T* rstd, const T* x, int64_t R, int64_t C, T eps);
// One row: y = (x - mean) * rstd * w + b for n values (w, b at the row's first column). The forward, layernorm_apply
// and LayerNormMap all normalise through this one function, so their values agree bit for bit.
template <class T>
void layernorm_row(T* y, const T* x, T mean, T rstd, const T* w, const T* b, int64_t n);
// y = (x - mean) * rstd * w + b from the kept statistics: bitwise the forward's y (recomputed in backward
// by nodes that do not keep y).
template <class T>
void layernorm_apply(T* y, const T* x, const T* mean, const T* rstd, const T* w, const T* b, int64_t R, int64_t C);
// Accumulates (+=); dx, dw, db may each be null.
template <class T>
void layernorm_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, const T* mean, const T* rstd,
                        int64_t R, int64_t C);

// The normalise as gemm_map's map of the operand x (R, C): element (row, col) -> (x - mean[row]) * rstd[row] * w[col]
// + b[col]. A Linear after a LayerNorm then reads the normalised rows as its GEMM packs x (layers/fused.cpp). The map
// reads *this: keep it alive during the product.
template <class T>
struct LayerNormMap {
  const T *mean = nullptr, *rstd = nullptr, *w = nullptr, *b = nullptr;
  ElementMap<T> map() const;
};

template <class T>
struct LayerNorm {
  std::string name;
  int64_t dim = 0;
  double eps = 1e-6;
  Var<T> weight = nullptr, bias = nullptr;

  LayerNorm() = default;
  LayerNorm(Params<T>& p, const std::string& name, int64_t dim, double eps = 1e-6);
  Var<T> operator()(Tape<T>& t, Var<T> x) const;
};

}  // namespace tapevit
