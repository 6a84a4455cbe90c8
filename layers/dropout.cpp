// layers/dropout.cpp: see dropout.h.
#include "tapevit/layers/dropout.h"

#include <algorithm>

namespace tapevit {

template <class T>
void dropout_forward(T* y, const T* x, int64_t n, double p, uint64_t key, uint64_t first) {
  const T scale = T(1.0 / (1.0 - p));
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i) y[i] = Rng::keep(key, first + uint64_t(i), p) ? x[i] * scale : T(0);
}

template <class T>
void dropout_backward(T* dx, const T* dy, int64_t n, double p, uint64_t key, uint64_t first) {
  const T scale = T(1.0 / (1.0 - p));
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i)
    if (Rng::keep(key, first + uint64_t(i), p)) dx[i] += dy[i] * scale;
}

template <class T>
Var<T> dropout(Tape<T>& t, Var<T> x, double p) {
  if (!t.training || p <= 0) return x;
  if (p >= 1) fail("dropout: rate must be in [0, 1), got ", p);
  const int64_t n = x->numel();
  const uint64_t key = t.rng.next_stream();
  const uint64_t first = x->shape.rank > 0 ? uint64_t(t.row0) * uint64_t(n / std::max<int64_t>(1, x->shape[0])) : 0;
  Var<T> y = t.tensor(x->shape, t.needs_grad(x));
  dropout_forward(y->data, x->data, n, p, key, first);
  if (y->requires_grad) {
    Tape<T>* tp = &t;
    t.record(y, [=] {
      if (!y->grad) return;
      dropout_backward(tp->grad(x, x->shape), y->grad, n, p, key, first);
    });
  }
  return y;
}

#define TAPEVIT_INSTANTIATE(T)                                                  \
  template void dropout_forward<T>(T*, const T*, int64_t, double, uint64_t, uint64_t);\
  template void dropout_backward<T>(T*, const T*, int64_t, double, uint64_t, uint64_t);\
  template Var<T> dropout<T>(Tape<T>&, Var<T>, double);
TAPEVIT_INSTANTIATE(float)
TAPEVIT_INSTANTIATE(double)

}  // namespace tapevit
