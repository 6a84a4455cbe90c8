// layers/residual.cpp: see residual.h.
#include "tapevit/layers/residual.h"

#include <algorithm>

namespace tapevit {

template <class T>
void residual_forward(T* out, const T* x, const T* branch, const T* gamma, const T* scale, int64_t B, int64_t N,
                      int64_t C) {
  const int64_t R = B * N;
#pragma omp parallel for schedule(static) if (R * C > 16384)
  for (int64_t r = 0; r < R; ++r) {
    const T s = scale ? scale[r / N] : T(1);
    const T *xr = x + r * C, *br = branch + r * C;
    T* o = out + r * C;
    if (gamma)
      for (int64_t c = 0; c < C; ++c) o[c] = xr[c] + s * gamma[c] * br[c];
    else
      for (int64_t c = 0; c < C; ++c) o[c] = xr[c] + s * br[c];
  }
}

template <class T>
void residual_backward(T* dx, T* dbranch, T* dgamma, const T* dout, const T* branch, const T* gamma, const T* scale,
                       int64_t B, int64_t N, int64_t C) {
  const int64_t R = B * N;
  if (dx || dbranch) {
#pragma omp parallel for schedule(static) if (R * C > 16384)
    for (int64_t r = 0; r < R; ++r) {
      const T s = scale ? scale[r / N] : T(1);
      const T* g = dout + r * C;
      if (dx)
        for (int64_t c = 0; c < C; ++c) dx[r * C + c] += g[c];
      if (dbranch) {
        T* db = dbranch + r * C;
        if (gamma)
          for (int64_t c = 0; c < C; ++c) db[c] += s * gamma[c] * g[c];
        else
          for (int64_t c = 0; c < C; ++c) db[c] += s * g[c];
      }
    }
  }
  if (dgamma) {  // column blocks per thread, rows summed in order (thread-count independent)
    constexpr int64_t kBlock = 64;
    const int64_t nblocks = (C + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static)
    for (int64_t blk = 0; blk < nblocks; ++blk) {
      const int64_t c0 = blk * kBlock, c1 = std::min(C, c0 + kBlock);
      T acc[kBlock] = {};
      for (int64_t r = 0; r < R; ++r) {
        const T s = scale ? scale[r / N] : T(1);
        for (int64_t c = c0; c < c1; ++c) acc[c - c0] += s * branch[r * C + c] * dout[r * C + c];
      }
      for (int64_t c = c0; c < c1; ++c) dgamma[c] += acc[c - c0];
    }
  }
}

template <class T>
T* drop_path_scale(Tape<T>& t, int64_t B, double drop_path) {
  if (!t.training || drop_path <= 0) return nullptr;
  if (drop_path >= 1) fail("drop_path: rate must be in [0, 1), got ", drop_path);
  const uint64_t key = t.rng.next_stream();
  T* scale = t.scratch(B);
  for (int64_t b = 0; b < B; ++b) scale[b] = Rng::keep(key, uint64_t(t.row0 + b), drop_path) ? T(1.0 / (1.0 - drop_path)) : T(0);
  return scale;
}

template <class T>
Var<T> residual_add(Tape<T>& t, Var<T> x, Var<T> branch, std::type_identity_t<Var<T>> gamma, double drop_path) {
  if (x->shape.rank != 3 || !(branch->shape == x->shape))
    fail("residual: x is ", x->shape, " and the branch is ", branch->shape, ", expected equal [B, N, C]");
  const int64_t B = x->shape[0], N = x->shape[1], C = x->shape[2];
  if (gamma && gamma->shape.numel() != C) fail("LayerScale gamma: got ", gamma->shape, ", expected [", C, "]");
  T* scale = drop_path_scale(t, B, drop_path);
  Var<T> out = t.tensor(x->shape, t.needs_grad(x, branch, gamma));
  residual_forward(out->data, x->data, branch->data, gamma ? gamma->data : nullptr, scale, B, N, C);
  if (out->requires_grad) {
    Tape<T>* tp = &t;
    t.record(out, [=] {
      if (!out->grad) return;
      residual_backward(tp->grad(x, x->shape), tp->grad(branch, branch->shape),
                        gamma ? tp->grad(gamma, gamma->shape) : nullptr, out->grad, branch->data,
                        gamma ? gamma->data : nullptr, scale, B, N, C);
    });
  }
  return out;
}

#define TAPEVIT_INSTANTIATE(T)                                                                                     \
  template void residual_forward<T>(T*, const T*, const T*, const T*, const T*, int64_t, int64_t, int64_t);        \
  template void residual_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, int64_t, int64_t, int64_t); \
  template T* drop_path_scale<T>(Tape<T>&, int64_t, double);                                                      \
  template Var<T> residual_add<T>(Tape<T>&, Var<T>, Var<T>, Var<T>, double);
TAPEVIT_INSTANTIATE(float)
TAPEVIT_INSTANTIATE(double)

}  // namespace tapevit
