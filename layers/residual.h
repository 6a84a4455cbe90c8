// layers/residual.h: the residual update of a pre-norm block, out = x + drop_path(ls(branch)), as timm's
// `x + self.drop_path1(self.ls1(...))`, recorded as one tape node.
//   LayerScale (timm.layers.LayerScale): branch * gamma, param <name>.gamma (C), init init_values; optional.
//   DropPath (stochastic depth, timm.layers.DropPath): per sample, keep the branch with probability
//   1 - rate and scale it by 1/(1 - rate); identity in eval.
// x, branch: (B, N, C) -> out: (B, N, C).
#pragma once
#include <string>
#include <type_traits>

#include "tapevit/params.h"
#include "tapevit/tape.h"

namespace tapevit {

// gamma (C) may be null (no LayerScale); scale (B) may be null (no drop path) and holds 0 or 1/keep.
template <class T>
void residual_forward(T* out, const T* x, const T* branch, const T* gamma, const T* scale, int64_t B, int64_t N,
                      int64_t C);
// Accumulates; dx, dbranch, dgamma may each be null.
template <class T>
void residual_backward(T* dx, T* dbranch, T* dgamma, const T* dout, const T* branch, const T* gamma, const T* scale,
                       int64_t B, int64_t N, int64_t C);

template <class T>
struct LayerScale {
  Var<T> gamma = nullptr;
  LayerScale() = default;
  LayerScale(Params<T>& p, const std::string& name, int64_t dim, double init_values) {
    gamma = p.add(name + ".gamma", {dim}, InitSpec::constant(init_values));
  }
};

// Drop path's per-sample factors (B): 0 or 1/(1 - rate), drawn from t.rng (keyed by global row, t.row0 + b); null
// when inactive (eval or rate 0).
template <class T>
T* drop_path_scale(Tape<T>& t, int64_t B, double drop_path);

// gamma may be null; drop_path is the rate (0: none).
template <class T>
Var<T> residual_add(Tape<T>& t, Var<T> x, Var<T> branch, std::type_identity_t<Var<T>> gamma, double drop_path);

}  // namespace tapevit
