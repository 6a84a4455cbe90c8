// rmsnorm.cpp: see rmsnorm.h. Forward and backward side by side, as every layer in tapevit's layers/.
#include "rmsnorm.h"

#include <cmath>

namespace example {

using namespace tapevit;

template <class T>
void rmsnorm_forward(T* y, T* rstd, const T* x, const T* w, int64_t R, int64_t C, T eps) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < R; ++r) {
    const T* xr = x + r * C;
    T ms = 0;
    for (int64_t c = 0; c < C; ++c) ms += xr[c] * xr[c];
    const T s = T(1) / std::sqrt(ms / T(C) + eps);
    for (int64_t c = 0; c < C; ++c) y[r * C + c] = xr[c] * s * w[c];
    if (rstd) rstd[r] = s;
  }
}

template <class T>
void rmsnorm_backward(T* dx, T* dw, const T* dy, const T* x, const T* w, const T* rstd, int64_t R, int64_t C) {
  // With xhat = x * rstd and g = dy * w:  dx = rstd * (g - xhat * mean_c(g * xhat)),  dw = sum_r dy * xhat.
  // (LayerNorm's backward without the mean terms.)
  if (dx) {
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < R; ++r) {
      const T* xr = x + r * C;
      const T* gr = dy + r * C;
      const T s = rstd[r];
      T dot = 0;
      for (int64_t c = 0; c < C; ++c) dot += gr[c] * w[c] * xr[c] * s;
      dot /= T(C);
      for (int64_t c = 0; c < C; ++c) dx[r * C + c] += s * (gr[c] * w[c] - xr[c] * s * dot);
    }
  }
  if (dw)  // rows in order: the same result for any thread count
    for (int64_t r = 0; r < R; ++r)
      for (int64_t c = 0; c < C; ++c) dw[c] += dy[r * C + c] * x[r * C + c] * rstd[r];
}

template <class T>
RMSNorm<T>::RMSNorm(Params<T>& p, const std::string& name_, int64_t dim_, double eps_)
    : name(name_), dim(dim_), eps(eps_) {
  weight = p.add(name + ".weight", {dim}, InitSpec::ones());
}

template <class T>
Var<T> RMSNorm<T>::operator()(Tape<T>& t, Var<T> x) const {
  if (x->shape.rank < 1 || x->shape.last() != dim)
    fail("RMSNorm '", name, "' input: got ", x->shape, ", expected [*, ", dim, "]");
  const int64_t R = x->shape.rows(), C = dim;
  Var<T> y = t.tensor(x->shape, t.needs_grad(x, weight));
  T* rstd = y->requires_grad ? t.scratch(R) : nullptr;  // lives until the tape's next reset()
  rmsnorm_forward(y->data, rstd, x->data, weight->data, R, C, T(eps));
  if (y->requires_grad) {
    Var<T> w = weight;
    Tape<T>* tp = &t;
    t.record(y, [=] {
      if (!y->grad) return;
      rmsnorm_backward(tp->grad(x, x->shape), tp->grad(w, w->shape), y->grad, x->data, w->data, rstd, R, C);
    });
  }
  return y;
}

template struct RMSNorm<float>;   // training
template struct RMSNorm<double>;  // the gradient check

}  // namespace example
