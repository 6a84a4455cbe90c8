// layers/attention_pool.h: timm.layers.AttentionPoolLatent, the 'map' pooling of SigLIP's ViTs: one learned latent
// query attends over the patch tokens, then a pre-norm residual MLP.
//   q = Linear_q(latent)                       latent (1, 1, C): the same query for every image
//   k, v = Linear_kv(x) split as (B, N, 2, H, D)
//   o = proj(softmax(q k^T D^-0.5) v)          no residual around the attention
//   o = o + mlp(norm(o))
// x: (B, N, C) (the prefix tokens already dropped) -> (B, C) (timm's pool_type 'token' of its single latent).
// Params under <name>: latent (1, 1, C), q.weight (C, C), q.bias, kv.weight (2C, C), kv.bias, proj.*, norm.*,
// mlp.fc1 (hidden, C), mlp.fc2 (C, hidden); always with qkv biases; the MLP uses the model's act_layer.
#pragma once
#include <string>

#include "tapevit/layers/layernorm.h"
#include "tapevit/layers/linear.h"
#include "tapevit/layers/mlp.h"

namespace tapevit {

// One query per head against each image's keys. q: (C) = (H, D); kv: (B, N, 2C) rows [k | v]; o: (B, C);
// probs: (B, H, N) kept for backward.
template <class T>
void latent_attention_forward(T* o, T* probs, const T* q, const T* kv, int64_t B, int64_t N, int64_t H, int64_t D);
// Accumulates: dq (C) summed over the batch, dkv (B, N, 2C).
template <class T>
void latent_attention_backward(T* dq, T* dkv, const T* dout, const T* q, const T* kv, const T* probs, int64_t B,
                               int64_t N, int64_t H, int64_t D);
// The tape node: q (1, 1, C), kv (B, N, 2C) -> (B, 1, C).
template <class T>
Var<T> latent_attention(Tape<T>& t, Var<T> q, Var<T> kv, int64_t num_heads);

// x[:, P:]: the tokens after the prefix. x (B, N, C) -> (B, N - P, C).
template <class T>
Var<T> drop_prefix(Tape<T>& t, Var<T> x, int64_t P);

template <class T>
struct AttentionPoolLatent {
  std::string name;
  int64_t dim = 0, num_heads = 0;
  Var<T> latent = nullptr;
  Linear<T> q, kv, proj;
  LayerNorm<T> norm;
  Mlp<T> mlp;

  AttentionPoolLatent() = default;
  AttentionPoolLatent(Params<T>& p, const std::string& name, int64_t dim, int64_t num_heads, int64_t mlp_hidden,
                      double norm_eps, Act act);
  Var<T> operator()(Tape<T>& t, Var<T> x) const;
};

}  // namespace tapevit
