// layers/gelu.cpp: see gelu.h.
#include "layers/gelu.h"

#include <cmath>

namespace tapevit {

template <class T>
void gelu_forward(T* y, const T* x, int64_t n) {
  const T inv_sqrt2 = T(0.70710678118654752440);
#pragma omp parallel for simd schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i) y[i] = T(0.5) * x[i] * (T(1) + std::erf(x[i] * inv_sqrt2));
}

template <class T>
void gelu_backward(T* dx, const T* dy, const T* x, int64_t n) {
  const T inv_sqrt2 = T(0.70710678118654752440), inv_sqrt_2pi = T(0.39894228040143267794);
#pragma omp parallel for simd schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i) {
    const T cdf = T(0.5) * (T(1) + std::erf(x[i] * inv_sqrt2));
    const T pdf = inv_sqrt_2pi * std::exp(T(-0.5) * x[i] * x[i]);
    dx[i] += dy[i] * (cdf + x[i] * pdf);
  }
}

template <class T>
Var<T> gelu(Tape<T>& t, Var<T> x) {
  const int64_t n = x->numel();
  Var<T> y = t.tensor(x->shape, t.needs_grad(x));
  gelu_forward(y->data, x->data, n);
  if (y->requires_grad) {
    Tape<T>* tp = &t;
    t.record([=] {
      if (!y->grad) return;
      gelu_backward(tp->grad(x, x->shape), y->grad, x->data, n);
    });
  }
  return y;
}

#define TAPEVIT_INSTANTIATE(T)                                        \
  template void gelu_forward<T>(T*, const T*, int64_t);               \
  template void gelu_backward<T>(T*, const T*, const T*, int64_t);    \
  template Var<T> gelu<T>(Tape<T>&, Var<T>);
TAPEVIT_INSTANTIATE(float)
TAPEVIT_INSTANTIATE(double)

}  // namespace tapevit
