// layers/attention_pool.cpp: see attention_pool.h. Reads like timm's AttentionPoolLatent.forward.
#include "tapevit/layers/attention_pool.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "tapevit/layers/residual.h"
#include "tapevit/layers/tokens.h"

namespace tapevit {

template <class T>
void latent_attention_forward(T* o, T* probs, const T* q, const T* kv, int64_t B, int64_t N, int64_t H, int64_t D) {
  const int64_t C = H * D;
  const T scale = T(1) / std::sqrt(T(D));
#pragma omp parallel for collapse(2) schedule(static) if (B * H * N * D > 16384)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const T* qh = q + h * D;
      T* p = probs + (b * H + h) * N;
      T mx = -INFINITY;
      for (int64_t n = 0; n < N; ++n) {  // scores (q * scale) . k_n, as timm scales q before the product
        const T* k = kv + (b * N + n) * 2 * C + h * D;
        T s = 0;
        for (int64_t d = 0; d < D; ++d) s += qh[d] * scale * k[d];
        p[n] = s;
        mx = std::max(mx, s);
      }
      T sum = 0;
      for (int64_t n = 0; n < N; ++n) sum += (p[n] = std::exp(p[n] - mx));
      for (int64_t n = 0; n < N; ++n) p[n] /= sum;
      T* oh = o + b * C + h * D;
      std::fill(oh, oh + D, T(0));
      for (int64_t n = 0; n < N; ++n) {
        const T* v = kv + (b * N + n) * 2 * C + C + h * D;
        for (int64_t d = 0; d < D; ++d) oh[d] += p[n] * v[d];
      }
    }
}

template <class T>
void latent_attention_backward(T* dq, T* dkv, const T* dout, const T* q, const T* kv, const T* probs, int64_t B,
                               int64_t N, int64_t H, int64_t D) {
  // With a = softmax(s), s_n = (q . k_n) scale, o = sum_n a_n v_n and g = d o:
  //   dv_n = a_n g;  da_n = g . v_n;  ds_n = a_n (da_n - sum_m a_m da_m);  dk_n = ds_n q scale;  dq = sum_n ds_n k_n scale
  const int64_t C = H * D;
  const T scale = T(1) / std::sqrt(T(D));
  std::vector<T> dq_bh(size_t(B * C), T(0));  // per image, summed over the batch in order afterwards
#pragma omp parallel for collapse(2) schedule(static) if (B * H * N * D > 16384)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const T* g = dout + b * C + h * D;
      const T* a = probs + (b * H + h) * N;
      const T* qh = q + h * D;
      std::vector<T> da(static_cast<size_t>(N));
      T dot = 0;
      for (int64_t n = 0; n < N; ++n) {
        const T* v = kv + (b * N + n) * 2 * C + C + h * D;
        T s = 0;
        for (int64_t d = 0; d < D; ++d) s += g[d] * v[d];
        da[size_t(n)] = s;
        dot += a[n] * s;
      }
      T* dqh = dq_bh.data() + b * C + h * D;
      for (int64_t n = 0; n < N; ++n) {
        const T ds = a[n] * (da[size_t(n)] - dot);
        const T* k = kv + (b * N + n) * 2 * C + h * D;
        for (int64_t d = 0; d < D; ++d) dqh[d] += ds * k[d] * scale;
        if (dkv) {
          T* dk = dkv + (b * N + n) * 2 * C + h * D;
          T* dv = dk + C;
          for (int64_t d = 0; d < D; ++d) {
            dk[d] += ds * qh[d] * scale;
            dv[d] += a[n] * g[d];
          }
        }
      }
    }
  if (dq)
    for (int64_t b = 0; b < B; ++b)
      for (int64_t c = 0; c < C; ++c) dq[c] += dq_bh[size_t(b * C + c)];
}

template <class T>
Var<T> latent_attention(Tape<T>& t, Var<T> q, Var<T> kv, int64_t H) {
  if (kv->shape.rank != 3 || kv->shape[2] % 2 != 0 || !(q->shape == Shape{1, 1, kv->shape[2] / 2}) ||
      (kv->shape[2] / 2) % H != 0)
    fail("attention pool: query ", q->shape, " and keys/values ", kv->shape, ", expected [1, 1, C] and [B, N, 2C] with C ",
         "divisible by ", H, " heads");
  const int64_t B = kv->shape[0], N = kv->shape[1], C = kv->shape[2] / 2, D = C / H;
  Var<T> o = t.tensor({B, 1, C}, t.needs_grad(q, kv));  // timm's (B, latent_len = 1, C)
  T* probs = t.scratch(B * H * N);
  latent_attention_forward(o->data, probs, q->data, kv->data, B, N, H, D);
  if (o->requires_grad) {
    Tape<T>* tp = &t;
    t.record(o, [=] {
      if (!o->grad) return;
      latent_attention_backward(tp->grad(q, q->shape), tp->grad(kv, kv->shape), o->grad, q->data, kv->data, probs, B,
                                N, H, D);
    });
  }
  return o;
}

template <class T>
Var<T> drop_prefix(Tape<T>& t, Var<T> x, int64_t P) {
  if (x->shape.rank != 3 || x->shape[1] <= P) fail("drop_prefix: tokens are ", x->shape, ", expected more than ", P);
  if (P == 0) return x;
  const int64_t B = x->shape[0], N = x->shape[1], C = x->shape[2], M = N - P;
  Var<T> y = t.tensor({B, M, C}, t.needs_grad(x));
  for (int64_t b = 0; b < B; ++b) std::copy(x->data + (b * N + P) * C, x->data + (b * N + N) * C, y->data + b * M * C);
  if (y->requires_grad) {
    Tape<T>* tp = &t;
    t.record(y, [=] {
      if (!y->grad) return;
      T* dx = tp->grad(x, x->shape);
      if (!dx) return;
      for (int64_t b = 0; b < B; ++b)
        for (int64_t i = 0; i < M * C; ++i) dx[(b * N + P) * C + i] += y->grad[b * M * C + i];
    });
  }
  return y;
}

template <class T>
AttentionPoolLatent<T>::AttentionPoolLatent(Params<T>& p, const std::string& name_, int64_t dim_, int64_t heads,
                                            int64_t mlp_hidden, double norm_eps, Act act)
    : name(name_), dim(dim_), num_heads(heads) {
  // timm's order: latent, q, kv, proj, norm, mlp; latent init trunc_normal_tf_(std = C^-0.5)
  latent = p.add(name + ".latent", {1, 1, dim}, InitSpec::trunc_normal_tf(1.0 / std::sqrt(double(dim))));
  q = Linear<T>(p, name + ".q", dim, dim);
  kv = Linear<T>(p, name + ".kv", dim, 2 * dim);
  proj = Linear<T>(p, name + ".proj", dim, dim);
  norm = LayerNorm<T>(p, name + ".norm", dim, norm_eps);
  mlp = Mlp<T>(p, name + ".mlp", dim, mlp_hidden, 0.0, act);
}

template <class T>
Var<T> AttentionPoolLatent<T>::operator()(Tape<T>& t, Var<T> x) const {
  if (x->shape.rank != 3 || x->shape[2] != dim)
    fail("AttentionPoolLatent '", name, "' input: got ", x->shape, ", expected [B, N, ", dim, "]");
  Var<T> o = proj(t, latent_attention(t, q(t, latent), kv(t, x), num_heads));  // (B, 1, C)
  o = residual_add(t, o, mlp(t, norm(t, o)), nullptr, 0.0);
  return pool_tokens(t, o, Pool::Token, 0);  // pool_type 'token': the one latent -> (B, C)
}

#define TAPEVIT_INSTANTIATE(T)                                                                                   \
  template void latent_attention_forward<T>(T*, T*, const T*, const T*, int64_t, int64_t, int64_t, int64_t);     \
  template void latent_attention_backward<T>(T*, T*, const T*, const T*, const T*, const T*, int64_t, int64_t,   \
                                             int64_t, int64_t);                                                  \
  template Var<T> latent_attention<T>(Tape<T>&, Var<T>, Var<T>, int64_t);                                         \
  template Var<T> drop_prefix<T>(Tape<T>&, Var<T>, int64_t);                                                      \
  template struct AttentionPoolLatent<T>;
TAPEVIT_INSTANTIATE(float)
TAPEVIT_INSTANTIATE(double)

}  // namespace tapevit
