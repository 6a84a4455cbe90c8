// layers/attention.cpp: see attention.h.
#include "tapevit/layers/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>

#include "tapevit/layers/dropout.h"
#include "tapevit/gemm.h"

namespace tapevit {

namespace {
template <class T>
void softmax_rows(T* p, int64_t rows, int64_t n) {
  for (int64_t i = 0; i < rows; ++i) {
    T* r = p + i * n;
    T mx = r[0];
    for (int64_t j = 1; j < n; ++j) mx = std::max(mx, r[j]);
    T sum = 0;
    for (int64_t j = 0; j < n; ++j) {
      r[j] = std::exp(r[j] - mx);
      sum += r[j];
    }
    const T inv = T(1) / sum;
    for (int64_t j = 0; j < n; ++j) r[j] *= inv;
  }
}
}  // namespace

template <class T>
void attention_forward(T* out, T* probs, const T* qkv, int64_t B, int64_t N, int64_t H, int64_t D, double attn_drop,
                       uint64_t key, T* scratch, uint64_t first) {
  const int64_t C = H * D, C3 = 3 * C, NN = N * N;
  const T scale = T(1) / std::sqrt(T(D));
  const T inv_keep = T(1.0 / (1.0 - attn_drop));
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B * H; ++bh) {
    const int64_t b = bh / H, h = bh % H;
    T* s0 = scratch + int64_t(omp_get_thread_num()) * 2 * NN;
    const T* q = qkv + b * N * C3 + h * D;  // rows of stride 3C: (B, N, 3, H, D) split
    const T* k = q + C;
    const T* v = q + 2 * C;
    T* P = probs ? probs + bh * NN : s0;
    gemm<T>(false, true, N, N, D, scale, q, C3, k, C3, 0, P, N);  // S = q k^T * D^-0.5
    softmax_rows(P, N, N);
    const T* Pd = P;
    if (attn_drop > 0) {  // dropout on the probabilities, mask keyed by (b, h, i, j)
      T* s1 = s0 + NN;
      for (int64_t i = 0; i < NN; ++i) s1[i] = Rng::keep(key, first + uint64_t(bh * NN + i), attn_drop) ? P[i] * inv_keep : T(0);
      Pd = s1;
    }
    gemm<T>(false, false, N, D, N, 1, Pd, N, v, C3, 0, out + b * N * C + h * D, C);  // o = attn v, heads concatenated
  }
}

template <class T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* probs, int64_t B, int64_t N, int64_t H,
                        int64_t D, double attn_drop, uint64_t key, T* scratch, bool assign, uint64_t first) {
  const int64_t C = H * D, C3 = 3 * C, NN = N * N;
  const T beta = assign ? T(0) : T(1);  // every dq, dk, dv element is written by exactly one product
  const T scale = T(1) / std::sqrt(T(D));
  const T inv_keep = T(1.0 / (1.0 - attn_drop));
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B * H; ++bh) {
    const int64_t b = bh / H, h = bh % H;
    T* dP = scratch + int64_t(omp_get_thread_num()) * 2 * NN;
    const T* q = qkv + b * N * C3 + h * D;
    const T* k = q + C;
    const T* v = q + 2 * C;
    T* dq = dqkv + b * N * C3 + h * D;
    T* dk = dq + C;
    T* dv = dq + 2 * C;
    const T* dO = dout + b * N * C + h * D;
    const T* P = probs + bh * NN;
    gemm<T>(false, true, N, N, D, 1, dO, C, v, C3, 0, dP, N);  // d(attn after dropout) = dO v^T
    if (attn_drop > 0) {
      T* Pd = dP + NN;
      for (int64_t i = 0; i < NN; ++i) {
        const bool kept = Rng::keep(key, first + uint64_t(bh * NN + i), attn_drop);
        Pd[i] = kept ? P[i] * inv_keep : T(0);
        dP[i] = kept ? dP[i] * inv_keep : T(0);
      }
      gemm<T>(true, false, N, D, N, 1, Pd, N, dO, C, beta, dv, C3);  // dv += attn_dropped^T dO
    } else {
      gemm<T>(true, false, N, D, N, 1, P, N, dO, C, beta, dv, C3);  // dv += attn^T dO
    }
    for (int64_t i = 0; i < N; ++i) {  // softmax backward: dS = P * (dP - sum_j dP P)
      const T* pr = P + i * N;
      T* gr = dP + i * N;
      T dot = 0;
      for (int64_t j = 0; j < N; ++j) dot += gr[j] * pr[j];
      for (int64_t j = 0; j < N; ++j) gr[j] = pr[j] * (gr[j] - dot);
    }
    gemm<T>(false, false, N, D, N, scale, dP, N, k, C3, beta, dq, C3);  // dq += dS k * scale
    gemm<T>(true, false, N, D, N, scale, dP, N, q, C3, beta, dk, C3);   // dk += dS^T q * scale
  }
}

template <class T>
Var<T> attention_core(Tape<T>& t, Var<T> qkv, int64_t H, double attn_drop, const std::string& name) {
  if (qkv->shape.rank != 3 || qkv->shape[2] % (3 * H) != 0)
    fail("Attention '", name, "' qkv: got ", qkv->shape, ", expected [B, N, 3 * ", H, " * head_dim]");
  const int64_t B = qkv->shape[0], N = qkv->shape[1], C = qkv->shape[2] / 3, D = C / H;
  const bool drop = t.training && attn_drop > 0;
  const uint64_t key = drop ? t.rng.next_stream() : 0;
  const double p = drop ? attn_drop : 0.0;
  const uint64_t first = uint64_t(t.row0) * uint64_t(H * N * N);
  Var<T> out = t.tensor({B, N, C}, t.needs_grad(qkv));
  T* probs = out->requires_grad ? t.scratch(B * H * N * N) : nullptr;
  const int64_t scratch_n = int64_t(omp_get_max_threads()) * 2 * N * N;
  T* scratch = t.temp(scratch_n);
  attention_forward(out->data, probs, qkv->data, B, N, H, D, p, key, scratch, first);
  t.release(scratch, scratch_n);
  if (out->requires_grad) {
    Tape<T>* tp = &t;
    t.record(out, [=] {
      if (!out->grad) return;
      bool fresh = false;
      T* dqkv = tp->grad_or_fresh(qkv, qkv->shape, fresh);
      if (!dqkv) return;
      T* s = tp->temp(scratch_n);
      attention_backward(dqkv, out->grad, qkv->data, probs, B, N, H, D, p, key, s, fresh, first);
      tp->release(s, scratch_n);
    });
  }
  return out;
}

template <class T>
MultiHeadSelfAttention<T>::MultiHeadSelfAttention(Params<T>& p, const std::string& name_, int64_t dim_,
                                                  int64_t heads, bool qkv_bias, double attn_drop_, double proj_drop_)
    : name(name_), dim(dim_), num_heads(heads), attn_drop(attn_drop_), proj_drop(proj_drop_) {
  if (heads <= 0 || dim % heads != 0) fail("Attention '", name, "': dim ", dim, " is not divisible by num_heads ", heads);
  qkv = Linear<T>(p, name + ".qkv", dim, 3 * dim, qkv_bias);
  proj = Linear<T>(p, name + ".proj", dim, dim, true);
}

template <class T>
Var<T> MultiHeadSelfAttention<T>::operator()(Tape<T>& t, Var<T> x) const {
  if (x->shape.rank != 3 || x->shape[2] != dim)
    fail("Attention '", name, "' input: got ", x->shape, ", expected [B, N, ", dim, "]");
  Var<T> o = attention_core(t, qkv(t, x), num_heads, attn_drop, name);
  return dropout(t, proj(t, o), proj_drop);
}

#define TAPEVIT_INSTANTIATE(T)                                                                                   \
  template void attention_forward<T>(T*, T*, const T*, int64_t, int64_t, int64_t, int64_t, double, uint64_t, T*,   \
                                     uint64_t);                                                                   \
  template void attention_backward<T>(T*, const T*, const T*, const T*, int64_t, int64_t, int64_t, int64_t,      \
                                      double, uint64_t, T*, bool, uint64_t);                                         \
  template Var<T> attention_core<T>(Tape<T>&, Var<T>, int64_t, double, const std::string&);                      \
  template struct MultiHeadSelfAttention<T>;
TAPEVIT_INSTANTIATE(float)
TAPEVIT_INSTANTIATE(double)

}  // namespace tapevit
