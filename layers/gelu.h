// layers/gelu.h: GELU, the exact erf form y = x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2)),
// as torch.nn.GELU() (approximate='none'), timm's default act_layer. Not the tanh approximation.
// x: any shape -> y: same shape. No parameters.
#pragma once
#include "tapevit/tape.h"

namespace tapevit {

template <class T>
void gelu_forward(T* y, const T* x, int64_t n);
// dx += dy * (Phi(x) + x * phi(x)); accumulates, or assigns (=) when `assign`.
template <class T>
void gelu_backward(T* dx, const T* dy, const T* x, int64_t n, bool assign = false);

template <class T>
Var<T> gelu(Tape<T>& t, Var<T> x);

}  // namespace tapevit
