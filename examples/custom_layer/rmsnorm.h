// rmsnorm.h: a layer written outside tapevit, on its public headers: RMSNorm (Zhang & Sennrich 2019,
// torch.nn.RMSNorm), y = x / sqrt(mean_c(x^2) + eps) * weight.
// x: (R, C) rows -> y: (R, C). Params: <name>.weight (C), init 1.
//
// What the tape needs from a layer: register its parameters in a Params store (names are the checkpoint keys),
// check the input shape (throw tapevit::Error naming the layer and both shapes), compute the output into
// t.tensor(), and when t.needs_grad(...) record one closure that calls the backward kernel. The closure captures
// pointers and sizes only, and backward kernels accumulate (+=) into the buffers t.grad() hands out.
#pragma once
#include <string>

#include "tapevit/params.h"
#include "tapevit/tape.h"

namespace example {

// rstd (R): 1 / sqrt(mean(x^2) + eps) per row, kept for backward.
template <class T>
void rmsnorm_forward(T* y, T* rstd, const T* x, const T* w, int64_t R, int64_t C, T eps);
// Accumulates (+=); dx, dw may each be null.
template <class T>
void rmsnorm_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, const T* rstd, int64_t R, int64_t C);

template <class T>
struct RMSNorm {
  std::string name;
  int64_t dim = 0;
  double eps = 1e-6;
  tapevit::Var<T> weight = nullptr;

  RMSNorm() = default;
  RMSNorm(tapevit::Params<T>& p, const std::string& name, int64_t dim, double eps = 1e-6);
  tapevit::Var<T> operator()(tapevit::Tape<T>& t, tapevit::Var<T> x) const;
};

}  // namespace example
