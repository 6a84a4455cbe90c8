// layers/tokens.cpp: see tokens.h.
#include "tapevit/layers/tokens.h"

#include <algorithm>

namespace tapevit {

template <class T>
void embed_tokens_forward(T* y, const T* x, const T* cls, const T* reg, const T* pos, int64_t B, int64_t Np,
                          int64_t R, int64_t C, bool no_embed_class) {
  const int64_t P = (cls ? 1 : 0) + R, N = P + Np;
#pragma omp parallel for collapse(2) schedule(static) if (B * N * C > 16384)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < N; ++n) {
      const T* src = n >= P ? x + (b * Np + n - P) * C : (cls && n == 0) ? cls : reg + (n - (cls ? 1 : 0)) * C;
      // the position row of token n, if it has one
      const T* pr = no_embed_class ? (n >= P ? pos + (n - P) * C : nullptr) : pos + n * C;
      T* yr = y + (b * N + n) * C;
      if (pr)
        for (int64_t c = 0; c < C; ++c) yr[c] = src[c] + pr[c];
      else
        std::copy(src, src + C, yr);
    }
}

template <class T>
void embed_tokens_backward(T* dx, T* dcls, T* dreg, T* dpos, const T* dy, bool has_cls, int64_t B, int64_t Np,
                           int64_t R, int64_t C, bool no_embed_class) {
  const int64_t P = (has_cls ? 1 : 0) + R, N = P + Np;
  if (dx) {
#pragma omp parallel for collapse(2) schedule(static) if (B * Np * C > 16384)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t n = 0; n < Np; ++n) {
        const T* g = dy + (b * N + P + n) * C;
        T* d = dx + (b * Np + n) * C;
        for (int64_t c = 0; c < C; ++c) d[c] += g[c];
      }
  }
  if (dpos) {  // sum over the batch; threads own position rows, batch summed in order
    const int64_t first = no_embed_class ? P : 0;  // the first token with a position
#pragma omp parallel for schedule(static) if (B * N * C > 16384)
    for (int64_t n = first; n < N; ++n)
      for (int64_t b = 0; b < B; ++b) {
        const T* g = dy + (b * N + n) * C;
        T* d = dpos + (n - first) * C;
        for (int64_t c = 0; c < C; ++c) d[c] += g[c];
      }
  }
  for (int64_t n = 0; n < P; ++n) {  // the prefix rows, summed over the batch
    T* d = (has_cls && n == 0) ? dcls : (dreg ? dreg + (n - (has_cls ? 1 : 0)) * C : nullptr);
    if (!d) continue;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < C; ++c) d[c] += dy[(b * N + n) * C + c];
  }
}

template <class T>
void pool_forward(T* y, const T* x, int64_t B, int64_t N, int64_t C, Pool mode, int64_t P) {
  for (int64_t b = 0; b < B; ++b) {
    T* yr = y + b * C;
    if (mode == Pool::Token) {
      std::copy(x + b * N * C, x + b * N * C + C, yr);
      continue;
    }
    std::fill(yr, yr + C, T(0));
    for (int64_t n = P; n < N; ++n)
      for (int64_t c = 0; c < C; ++c) yr[c] += x[(b * N + n) * C + c];
    for (int64_t c = 0; c < C; ++c) yr[c] /= T(N - P);
  }
}

template <class T>
void pool_backward(T* dx, const T* dy, int64_t B, int64_t N, int64_t C, Pool mode, int64_t P) {
  for (int64_t b = 0; b < B; ++b) {
    const T* g = dy + b * C;
    if (mode == Pool::Token) {
      for (int64_t c = 0; c < C; ++c) dx[b * N * C + c] += g[c];
      continue;
    }
    const T inv = T(1) / T(N - P);
    for (int64_t n = P; n < N; ++n)
      for (int64_t c = 0; c < C; ++c) dx[(b * N + n) * C + c] += g[c] * inv;
  }
}

template <class T>
Var<T> embed_tokens(Tape<T>& t, Var<T> x, Var<T> cls, Var<T> pos, Var<T> reg, bool no_embed_class) {
  if (x->shape.rank != 3) fail("embed_tokens: patch tokens are ", x->shape, ", expected [B, Np, C]");
  const int64_t B = x->shape[0], Np = x->shape[1], C = x->shape[2];
  const int64_t R = reg ? reg->shape[1] : 0, P = (cls ? 1 : 0) + R;
  if (cls && !(cls->shape == Shape{1, 1, C})) fail("cls_token: got ", cls->shape, ", expected ", Shape{1, 1, C});
  if (reg && !(reg->shape == Shape{1, R, C})) fail("reg_token: got ", reg->shape, ", expected [1, R, ", C, "]");
  const Shape want_pos{1, no_embed_class ? Np : P + Np, C};
  if (!(pos->shape == want_pos))
    fail("pos_embed: got ", pos->shape, ", expected ", want_pos, no_embed_class ? " (no_embed_class: patches only)" : "");
  Var<T> y = t.tensor({B, P + Np, C}, t.needs_grad(x, cls, pos, reg));
  embed_tokens_forward(y->data, x->data, cls ? cls->data : nullptr, reg ? reg->data : nullptr, pos->data, B, Np, R, C,
                       no_embed_class);
  if (y->requires_grad) {
    Tape<T>* tp = &t;
    const bool has_cls = cls != nullptr;
    t.record(y, [=] {
      if (!y->grad) return;
      embed_tokens_backward(tp->grad(x, x->shape), has_cls ? tp->grad(cls, cls->shape) : nullptr,
                            reg ? tp->grad(reg, reg->shape) : nullptr, tp->grad(pos, pos->shape), y->grad, has_cls, B,
                            Np, R, C, no_embed_class);
    });
  }
  return y;
}

template <class T>
Var<T> pool_tokens(Tape<T>& t, Var<T> x, Pool mode, int64_t P) {
  if (x->shape.rank != 3 || (mode == Pool::Avg && x->shape[1] <= P) || (mode == Pool::Token && x->shape[1] < 1))
    fail("pool: tokens are ", x->shape, ", expected [B, N, C] with ", P, " prefix token(s)",
         mode == Pool::Avg ? " and patches" : "");
  const int64_t B = x->shape[0], N = x->shape[1], C = x->shape[2];
  Var<T> y = t.tensor({B, C}, t.needs_grad(x));
  pool_forward(y->data, x->data, B, N, C, mode, P);
  if (y->requires_grad) {
    Tape<T>* tp = &t;
    t.record(y, [=] {
      if (!y->grad) return;
      pool_backward(tp->grad(x, x->shape), y->grad, B, N, C, mode, P);
    });
  }
  return y;
}

template <class T>
Var<T> select_token(Tape<T>& t, Var<T> x, int64_t i) {
  if (x->shape.rank != 3 || i < 0 || i >= x->shape[1]) fail("select_token: token ", i, " of ", x->shape);
  const int64_t B = x->shape[0], N = x->shape[1], C = x->shape[2];
  Var<T> y = t.tensor({B, C}, t.needs_grad(x));
  for (int64_t b = 0; b < B; ++b) std::copy(x->data + (b * N + i) * C, x->data + (b * N + i + 1) * C, y->data + b * C);
  if (y->requires_grad) {
    Tape<T>* tp = &t;
    t.record(y, [=] {
      if (!y->grad) return;
      if (T* dx = tp->grad(x, x->shape))
        for (int64_t b = 0; b < B; ++b)
          for (int64_t c = 0; c < C; ++c) dx[(b * N + i) * C + c] += y->grad[b * C + c];
    });
  }
  return y;
}

template <class T>
Var<T> average(Tape<T>& t, Var<T> a, Var<T> b) {
  if (!(a->shape == b->shape)) fail("average: shapes ", a->shape, " and ", b->shape, " differ");
  const int64_t n = a->numel();
  Var<T> y = t.tensor(a->shape, t.needs_grad(a, b));
  for (int64_t i = 0; i < n; ++i) y->data[i] = (a->data[i] + b->data[i]) / T(2);
  if (y->requires_grad) {
    Tape<T>* tp = &t;
    t.record(y, [=] {
      if (!y->grad) return;
      for (Var<T> v : {a, b})
        if (T* d = tp->grad(v, v->shape))
          for (int64_t i = 0; i < n; ++i) d[i] += y->grad[i] / T(2);
    });
  }
  return y;
}

#define TAPEVIT_INSTANTIATE(T)                                                                                     \
  template void embed_tokens_forward<T>(T*, const T*, const T*, const T*, const T*, int64_t, int64_t, int64_t,     \
                                        int64_t, bool);                                                            \
  template void embed_tokens_backward<T>(T*, T*, T*, T*, const T*, bool, int64_t, int64_t, int64_t, int64_t, bool); \
  template void pool_forward<T>(T*, const T*, int64_t, int64_t, int64_t, Pool, int64_t);                           \
  template void pool_backward<T>(T*, const T*, int64_t, int64_t, int64_t, Pool, int64_t);                          \
  template Var<T> embed_tokens<T>(Tape<T>&, Var<T>, Var<T>, Var<T>, Var<T>, bool);                                  \
  template Var<T> pool_tokens<T>(Tape<T>&, Var<T>, Pool, int64_t);                                                \
  template Var<T> select_token<T>(Tape<T>&, Var<T>, int64_t);                                                       \
  template Var<T> average<T>(Tape<T>&, Var<T>, Var<T>);
TAPEVIT_INSTANTIATE(float)
TAPEVIT_INSTANTIATE(double)

}  // namespace tapevit
