// layers/tokens.cpp: see tokens.h.
#include "tapevit/layers/tokens.h"

#include <algorithm>

namespace tapevit {

template <class T>
void embed_tokens_forward(T* y, const T* x, const T* cls, const T* pos, int64_t B, int64_t Np, int64_t C) {
  const int64_t N = Np + 1;
#pragma omp parallel for collapse(2) schedule(static) if (B * N * C > 16384)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t n = 0; n < N; ++n) {
      const T* src = n == 0 ? cls : x + (b * Np + n - 1) * C;
      const T* pr = pos + n * C;
      T* yr = y + (b * N + n) * C;
      for (int64_t c = 0; c < C; ++c) yr[c] = src[c] + pr[c];
    }
}

template <class T>
void embed_tokens_backward(T* dx, T* dcls, T* dpos, const T* dy, int64_t B, int64_t Np, int64_t C) {
  const int64_t N = Np + 1;
  if (dx) {
#pragma omp parallel for collapse(2) schedule(static) if (B * Np * C > 16384)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t n = 1; n < N; ++n) {
        const T* g = dy + (b * N + n) * C;
        T* d = dx + (b * Np + n - 1) * C;
        for (int64_t c = 0; c < C; ++c) d[c] += g[c];
      }
  }
  if (dpos) {  // sum over the batch; threads own token rows, batch summed in order
#pragma omp parallel for schedule(static) if (B * N * C > 16384)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t b = 0; b < B; ++b) {
        const T* g = dy + (b * N + n) * C;
        for (int64_t c = 0; c < C; ++c) dpos[n * C + c] += g[c];
      }
  }
  if (dcls)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < C; ++c) dcls[c] += dy[b * N * C + c];
}

template <class T>
void pool_forward(T* y, const T* x, int64_t B, int64_t N, int64_t C, Pool mode) {
  for (int64_t b = 0; b < B; ++b) {
    T* yr = y + b * C;
    if (mode == Pool::Token) {
      std::copy(x + b * N * C, x + b * N * C + C, yr);
      continue;
    }
    std::fill(yr, yr + C, T(0));
    for (int64_t n = 1; n < N; ++n)
      for (int64_t c = 0; c < C; ++c) yr[c] += x[(b * N + n) * C + c];
    for (int64_t c = 0; c < C; ++c) yr[c] /= T(N - 1);
  }
}

template <class T>
void pool_backward(T* dx, const T* dy, int64_t B, int64_t N, int64_t C, Pool mode) {
  for (int64_t b = 0; b < B; ++b) {
    const T* g = dy + b * C;
    if (mode == Pool::Token) {
      for (int64_t c = 0; c < C; ++c) dx[b * N * C + c] += g[c];
      continue;
    }
    const T inv = T(1) / T(N - 1);
    for (int64_t n = 1; n < N; ++n)
      for (int64_t c = 0; c < C; ++c) dx[(b * N + n) * C + c] += g[c] * inv;
  }
}

template <class T>
Var<T> embed_tokens(Tape<T>& t, Var<T> x, Var<T> cls, Var<T> pos) {
  if (x->shape.rank != 3) fail("embed_tokens: patch tokens are ", x->shape, ", expected [B, Np, C]");
  const int64_t B = x->shape[0], Np = x->shape[1], C = x->shape[2];
  if (!(cls->shape == Shape{1, 1, C})) fail("cls_token: got ", cls->shape, ", expected ", Shape{1, 1, C});
  if (!(pos->shape == Shape{1, Np + 1, C})) fail("pos_embed: got ", pos->shape, ", expected ", Shape{1, Np + 1, C});
  Var<T> y = t.tensor({B, Np + 1, C}, t.needs_grad(x, cls, pos));
  embed_tokens_forward(y->data, x->data, cls->data, pos->data, B, Np, C);
  if (y->requires_grad) {
    Tape<T>* tp = &t;
    t.record(y, [=] {
      if (!y->grad) return;
      embed_tokens_backward(tp->grad(x, x->shape), tp->grad(cls, cls->shape), tp->grad(pos, pos->shape), y->grad, B,
                            Np, C);
    });
  }
  return y;
}

template <class T>
Var<T> pool_tokens(Tape<T>& t, Var<T> x, Pool mode) {
  if (x->shape.rank != 3 || (mode == Pool::Avg && x->shape[1] < 2))
    fail("pool: tokens are ", x->shape, ", expected [B, N, C] with a cls token", mode == Pool::Avg ? " and patches" : "");
  const int64_t B = x->shape[0], N = x->shape[1], C = x->shape[2];
  Var<T> y = t.tensor({B, C}, t.needs_grad(x));
  pool_forward(y->data, x->data, B, N, C, mode);
  if (y->requires_grad) {
    Tape<T>* tp = &t;
    t.record(y, [=] {
      if (!y->grad) return;
      pool_backward(tp->grad(x, x->shape), y->grad, B, N, C, mode);
    });
  }
  return y;
}

#define TAPEVIT_INSTANTIATE(T)                                                                           \
  template void embed_tokens_forward<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t);    \
  template void embed_tokens_backward<T>(T*, T*, T*, const T*, int64_t, int64_t, int64_t);               \
  template void pool_forward<T>(T*, const T*, int64_t, int64_t, int64_t, Pool);                          \
  template void pool_backward<T>(T*, const T*, int64_t, int64_t, int64_t, Pool);                         \
  template Var<T> embed_tokens<T>(Tape<T>&, Var<T>, Var<T>, Var<T>);                                      \
  template Var<T> pool_tokens<T>(Tape<T>&, Var<T>, Pool);
TAPEVIT_INSTANTIATE(float)
TAPEVIT_INSTANTIATE(double)

}  // namespace tapevit
