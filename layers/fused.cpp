// layers/fused.cpp: see fused.h. Each node's forward and backward sit side by side; every product still runs
// over all R = B*N rows in one GEMM.
#include "tapevit/layers/fused.h"

#include "tapevit/layers/gelu.h"
#include "tapevit/layers/residual.h"
#include "tapevit/gemm.h"

namespace tapevit {

template <class T>
Var<T> norm_linear(Tape<T>& t, Var<T> x, const LayerNorm<T>& ln, const Linear<T>& lin) {
  if (x->shape.rank != 3 || x->shape.last() != ln.dim || lin.in != ln.dim)
    fail("norm_linear '", ln.name, "' -> '", lin.name, "': input ", x->shape, ", expected [B, N, ", ln.dim,
         "] feeding a Linear of ", lin.in, " inputs");
  const int64_t R = x->shape.rows(), C = ln.dim, Out = lin.out;
  Var<T> lw = ln.weight, lb = ln.bias, w = lin.weight, b = lin.bias;
  Var<T> y = t.tensor({x->shape[0], x->shape[1], Out}, t.needs_grad(x, lw, lb, w, b));
  // the statistics only: the GEMM normalises x's rows as it packs them (LayerNormMap), so no normalised copy is made
  T* mean = y->requires_grad ? t.scratch(R) : t.temp(R);
  T* rstd = y->requires_grad ? t.scratch(R) : t.temp(R);
  layernorm_stats(mean, rstd, x->data, R, C, T(ln.eps));
  const LayerNormMap<T> normed{mean, rstd, lw->data, lb->data};
  gemm_map<T>(false, true, R, Out, C, 1, x->data, C, normed.map(), w->data, C, nullptr, 0, y->data, Out,
              b ? b->data : nullptr);
  if (!y->requires_grad) {
    t.release(rstd, R);
    t.release(mean, R);
    return y;
  }
  Tape<T>* tp = &t;
  t.record(y, [=] {
    const T* dy = y->grad;
    if (!dy) return;
    T* dw = tp->grad(w, w->shape);
    T* db = b ? tp->grad(b, b->shape) : nullptr;
    // the Linear's own gradients: dW += dy^T LayerNorm(x), the rows normalised again as the GEMM packs them
    const LayerNormMap<T> at{mean, rstd, lw->data, lb->data};
    linear_param_grads<T>(dw, db, dy, x->data, at.map(), R, C, Out);
    T* dx = tp->grad(x, x->shape);
    T* dlw = tp->grad(lw, lw->shape);
    T* dlb = tp->grad(lb, lb->shape);
    if (!dx && !dlw && !dlb) return;
    T* dn = tp->temp(R * C);
    gemm<T>(false, false, R, C, Out, 1, dy, Out, w->data, C, 0, dn, C);  // d normalised = dy W
    layernorm_backward(dx, dlw, dlb, dn, x->data, lw->data, mean, rstd, R, C);
    tp->release(dn, R * C);
  });
  return y;
}

template <class T>
Var<T> residual_linear(Tape<T>& t, Var<T> x, Var<T> a, const Linear<T>& lin, Act act, double drop_path) {
  if (x->shape.rank != 3 || x->shape.last() != lin.out || a->shape.rank != 3 || a->shape[0] != x->shape[0] ||
      a->shape[1] != x->shape[1] || a->shape.last() != lin.in)
    fail("residual_linear '", lin.name, "': residual ", x->shape, " and branch input ", a->shape, ", expected [B, N, ",
         lin.out, "] and [B, N, ", lin.in, "]");
  const int64_t B = x->shape[0], N = x->shape[1], R = B * N, In = lin.in, C = lin.out;
  Var<T> w = lin.weight, b = lin.bias;
  const T* scale = drop_path_scale(t, B, drop_path);
  Var<T> out = t.tensor(x->shape, t.needs_grad(x, a, w, b));
  const bool act_in = act != Act::Identity;
  const ElementMap<T> am = act_map<T>(act);  // act(a) is read through the GEMM's packing, never stored
  if (!scale) {  // out = x + b, then out += act(a) W^T in the GEMM's accumulator
    const T* xd = x->data;
    const T* bd = b ? b->data : nullptr;
    T* o = out->data;
#pragma omp parallel for schedule(static) if (R * C > 32768)
    for (int64_t r = 0; r < R; ++r)
      for (int64_t c = 0; c < C; ++c) o[r * C + c] = xd[r * C + c] + (bd ? bd[c] : T(0));
    gemm_map<T>(false, true, R, C, In, 1, a->data, In, am, w->data, In, nullptr, 1, o, C);
  } else {
    T* branch = t.temp(R * C);
    gemm_map<T>(false, true, R, C, In, 1, a->data, In, am, w->data, In, nullptr, 0, branch, C, b ? b->data : nullptr);
    residual_forward(out->data, x->data, branch, static_cast<const T*>(nullptr), scale, B, N, C);
    t.release(branch, R * C);
  }
  if (!out->requires_grad) return out;
  Tape<T>* tp = &t;
  t.record(out, [=] {
    const T* dout = out->grad;
    if (!dout) return;
    tp->accumulate_grad(x, dout);  // d residual = d out
    const T* dbranch = dout;
    T* scaled = nullptr;
    if (scale) {  // d branch = scale[b] * d out
      scaled = tp->temp(R * C);
#pragma omp parallel for schedule(static) if (R * C > 32768)
      for (int64_t r = 0; r < R; ++r)
        for (int64_t c = 0; c < C; ++c) scaled[r * C + c] = scale[r / N] * dout[r * C + c];
      dbranch = scaled;
    }
    T* dw = tp->grad(w, w->shape);
    T* db = b ? tp->grad(b, b->shape) : nullptr;
    // the Linear's own gradients: dW += d branch^T act(a), act(a) recomputed as the GEMM packs it
    linear_param_grads<T>(dw, db, dbranch, a->data, am, R, In, C);
    bool fresh = false;
    if (T* da = tp->grad_or_fresh(a, a->shape, fresh)) {
      if (!act_in) {
        gemm<T>(false, false, R, In, C, 1, dbranch, C, w->data, In, fresh ? T(0) : T(1), da, In);  // da += d branch W
      } else if (fresh) {  // da = act'(a) * (d branch W): the derivative applied as the product writes its rows
        const ActGradMap<T> at{a->data, In};
        gemm_map<T>(false, false, R, In, C, 1, dbranch, C, nullptr, w->data, In, nullptr, 0, da, In, nullptr,
                    at.map(act));
      } else {
        T* dact = tp->temp(R * In);
        gemm<T>(false, false, R, In, C, 1, dbranch, C, w->data, In, 0, dact, In);
        act_backward(act, da, dact, a->data, R * In, fresh);
        tp->release(dact, R * In);
      }
    }
    if (scaled) tp->release(scaled, R * C);
  });
  return out;
}

#define TAPEVIT_INSTANTIATE(T)                                                                            \
  template Var<T> norm_linear<T>(Tape<T>&, Var<T>, const LayerNorm<T>&, const Linear<T>&);                 \
  template Var<T> residual_linear<T>(Tape<T>&, Var<T>, Var<T>, const Linear<T>&, Act, double);
TAPEVIT_INSTANTIATE(float)
TAPEVIT_INSTANTIATE(double)

}  // namespace tapevit
