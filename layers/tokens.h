// layers/tokens.h: the token-sequence steps of timm's VisionTransformer around the blocks.
//   embed_tokens: x = cat(cls_token.expand(B, -1, -1), x) + pos_embed   (_pos_embed, no_embed_class=False)
//       x (B, Np, C), cls_token (1, 1, C), pos_embed (1, 1 + Np, C) -> (B, 1 + Np, C)
//   pool_tokens: 'token' -> x[:, 0];  'avg' -> x[:, 1:].mean(1)        (global_pool_nlc, one prefix token)
//       x (B, N, C) -> (B, C)
#pragma once
#include "tapevit/tape.h"

namespace tapevit {

template <class T>
void embed_tokens_forward(T* y, const T* x, const T* cls, const T* pos, int64_t B, int64_t Np, int64_t C);
template <class T>
void embed_tokens_backward(T* dx, T* dcls, T* dpos, const T* dy, int64_t B, int64_t Np, int64_t C);  // accumulates

enum class Pool { Token, Avg };

template <class T>
void pool_forward(T* y, const T* x, int64_t B, int64_t N, int64_t C, Pool mode);
template <class T>
void pool_backward(T* dx, const T* dy, int64_t B, int64_t N, int64_t C, Pool mode);  // accumulates

template <class T>
Var<T> embed_tokens(Tape<T>& t, Var<T> x, Var<T> cls_token, Var<T> pos_embed);
template <class T>
Var<T> pool_tokens(Tape<T>& t, Var<T> x, Pool mode);

}  // namespace tapevit
