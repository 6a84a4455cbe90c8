// layers/linear.h: y = x W^T + b, as torch.nn.Linear (timm's qkv, proj, fc1, fc2, head).
// x: (R, In) rows (any leading dims) -> y: (R, Out). Params: <name>.weight (Out, In), <name>.bias (Out).
#pragma once
#include <string>

#include "tapevit/gemm.h"
#include "tapevit/params.h"
#include "tapevit/tape.h"

namespace tapevit {

// b may be null (no bias).
template <class T>
void linear_forward(T* y, const T* x, const T* w, const T* b, int64_t R, int64_t In, int64_t Out);
// Accumulates (+=); any of dx, dw, db may be null and is then skipped.
template <class T>
void linear_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int64_t R, int64_t In, int64_t Out);
// The parameter gradients alone, of a Linear that reads fx(x) (fx: gemm_map's map of x, or null): dW += dy^T fx(x),
// fx applied as the GEMM packs x, and db += the column sums of dy, added up as that product packs dy (a pass over
// dy of their own only when dw is null). Accumulates; dw, db may be null. The fused nodes (fused.h) use it too.
template <class T>
void linear_param_grads(T* dw, T* db, const T* dy, const T* x, ElementMap<T> fx, int64_t R, int64_t In, int64_t Out);

template <class T>
struct Linear {
  std::string name;
  int64_t in = 0, out = 0;
  Var<T> weight = nullptr, bias = nullptr;

  Linear() = default;
  // timm init: weight trunc-normal std .02, bias zeros.
  Linear(Params<T>& p, const std::string& name, int64_t in, int64_t out, bool bias = true);
  Var<T> operator()(Tape<T>& t, Var<T> x) const;
};

}  // namespace tapevit
