// layers/tokens.h: the token-sequence steps of timm's VisionTransformer around the blocks.
//   embed_tokens: timm's _pos_embed. The prefix is [cls_token (if any), reg_token rows 0..R-1]; P = its length.
//       no_embed_class false: x = cat(prefix.expand(B), x) + pos_embed        pos_embed (1, P + Np, C)
//       no_embed_class true:  x = cat(prefix.expand(B), x + pos_embed)        pos_embed (1, Np, C); no position
//                                                                             for the prefix
//       x (B, Np, C), cls (1, 1, C) or none, reg (1, R, C) or none -> (B, P + Np, C)
//   pool_tokens: 'token' -> x[:, 0] (the class token);  'avg' -> x[:, P:].mean(1) (patch tokens only: registers
//       excluded), timm's global_pool_nlc with num_prefix_tokens = P.   x (B, N, C) -> (B, C)
#pragma once
#include "tapevit/tape.h"

namespace tapevit {

// cls: (C) or null; reg: (R, C) rows or null (R = 0); pos: (P + Np, C) or, with no_embed_class, (Np, C).
template <class T>
void embed_tokens_forward(T* y, const T* x, const T* cls, const T* reg, const T* pos, int64_t B, int64_t Np,
                          int64_t R, int64_t C, bool no_embed_class);
// Accumulates; any of dx, dcls, dreg, dpos may be null.
template <class T>
void embed_tokens_backward(T* dx, T* dcls, T* dreg, T* dpos, const T* dy, bool has_cls, int64_t B, int64_t Np,
                           int64_t R, int64_t C, bool no_embed_class);

enum class Pool { Token, Avg };

// P: the prefix length (avg pools rows P..N-1).
template <class T>
void pool_forward(T* y, const T* x, int64_t B, int64_t N, int64_t C, Pool mode, int64_t P = 1);
template <class T>
void pool_backward(T* dx, const T* dy, int64_t B, int64_t N, int64_t C, Pool mode, int64_t P = 1);  // accumulates

// x[:, i]: one token of every image (DeiT's distillation token is token 1). x (B, N, C) -> (B, C).
template <class T>
Var<T> select_token(Tape<T>& t, Var<T> x, int64_t i);
// (a + b) / 2 for tensors of one shape (DeiT-distilled's two heads).
template <class T>
Var<T> average(Tape<T>& t, Var<T> a, Var<T> b);

// cls_token / reg_token may be null (class_token = false / reg_tokens = 0).
template <class T>
Var<T> embed_tokens(Tape<T>& t, Var<T> x, Var<T> cls_token, Var<T> pos_embed, Var<T> reg_token = nullptr,
                    bool no_embed_class = false);
// num_prefix: P (Token needs a class token at row 0: the caller knows whether there is one).
template <class T>
Var<T> pool_tokens(Tape<T>& t, Var<T> x, Pool mode, int64_t num_prefix = 1);

}  // namespace tapevit
