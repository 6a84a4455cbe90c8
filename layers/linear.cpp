// layers/linear.cpp: see linear.h. Every product runs over all R = B*N rows in one GEMM.
#include "tapevit/layers/linear.h"

#include "tapevit/gemm.h"

namespace tapevit {

template <class T>
void linear_forward(T* y, const T* x, const T* w, const T* b, int64_t R, int64_t In, int64_t Out) {
  gemm<T>(false, true, R, Out, In, 1, x, In, w, In, 0, y, Out, b);  // y = x W^T + b (b on every row)
}

template <class T>
void linear_backward(T* dx, T* dw, T* db, const T* dy, const T* x, const T* w, int64_t R, int64_t In, int64_t Out) {
  if (dx) gemm<T>(false, false, R, In, Out, 1, dy, Out, w, In, 1, dx, In);  // dx += dy W
  linear_param_grads<T>(dw, db, dy, x, nullptr, R, In, Out);
}

template <class T>
void linear_param_grads(T* dw, T* db, const T* dy, const T* x, ElementMap<T> fx, int64_t R, int64_t In, int64_t Out) {
  if (dw) gemm_map<T>(true, false, Out, In, R, 1, dy, Out, nullptr, x, In, fx, 1, dw, In, nullptr, nullptr, db);
  else if (db) add_column_sums(db, dy, R, Out);
}

template <class T>
Linear<T>::Linear(Params<T>& p, const std::string& name_, int64_t in_, int64_t out_, bool with_bias)
    : name(name_), in(in_), out(out_) {
  weight = p.add(name + ".weight", {out, in}, InitSpec::trunc_normal(0.02));
  if (with_bias) bias = p.add(name + ".bias", {out}, InitSpec::zeros());
}

template <class T>
Var<T> Linear<T>::operator()(Tape<T>& t, Var<T> x) const {
  if (x->shape.rank < 1 || x->shape.last() != in)
    fail("Linear '", name, "' input: got ", x->shape, ", expected [*, ", in, "]");
  Shape ys = x->shape;
  ys.dims[ys.rank - 1] = out;
  const int64_t R = x->shape.rows(), In = in, Out = out;
  Var<T> y = t.tensor(ys, t.needs_grad(x, weight, bias));
  linear_forward(y->data, x->data, weight->data, bias ? bias->data : nullptr, R, In, Out);
  if (y->requires_grad) {
    Var<T> w = weight, b = bias;
    Tape<T>* tp = &t;
    t.record(y, [=] {
      if (!y->grad) return;
      linear_backward(tp->grad(x, x->shape), tp->grad(w, w->shape), b ? tp->grad(b, b->shape) : nullptr, y->grad,
                      x->data, w->data, R, In, Out);
    });
  }
  return y;
}

#define TAPEVIT_INSTANTIATE(T)                                                                           \
  template void linear_forward<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t);          \
  template void linear_backward<T>(T*, T*, T*, const T*, const T*, const T*, int64_t, int64_t, int64_t); \
  template void linear_param_grads<T>(T*, T*, const T*, const T*, ElementMap<T>, int64_t, int64_t, int64_t); \
  template struct Linear<T>;
TAPEVIT_INSTANTIATE(float)
TAPEVIT_INSTANTIATE(double)

}  // namespace tapevit
