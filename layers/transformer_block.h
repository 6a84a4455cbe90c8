// layers/transformer_block.h: timm's pre-norm ViT Block.
//   x = x + drop_path(ls1(attn(norm1(x))))
//   x = x + drop_path(ls2(mlp(norm2(x))))
// x: (B, N, C) -> (B, N, C). Params under <name>: norm1, attn.qkv (q, k, v rows: attention.h), attn.proj, ls1.gamma (if init_values),
// norm2, mlp.fc1, mlp.fc2, ls2.gamma (if init_values).
#pragma once
#include <optional>
#include <string>

#include "tapevit/layers/attention.h"
#include "tapevit/layers/layernorm.h"
#include "tapevit/layers/mlp.h"
#include "tapevit/layers/residual.h"

namespace tapevit {

struct BlockConfig {
  int64_t dim = 0, num_heads = 0, mlp_hidden = 0;
  int64_t num_kv_heads = 0;  // 0: num_heads (attention.h)
  bool qkv_bias = true;
  double proj_drop = 0, attn_drop = 0, drop_path = 0;
  double init_values = 0;  // LayerScale init; 0 = no LayerScale (timm: init_values=None)
  double norm_eps = 1e-6;
  Act act = Act::Gelu;  // the MLP's activation (timm's act_layer)
};

template <class T>
struct TransformerBlock {
  BlockConfig cfg;
  LayerNorm<T> norm1, norm2;
  MultiHeadSelfAttention<T> attn;
  Mlp<T> mlp;
  LayerScale<T> ls1, ls2;

  TransformerBlock() = default;
  TransformerBlock(Params<T>& p, const std::string& name, const BlockConfig& cfg);
  Var<T> operator()(Tape<T>& t, Var<T> x) const;
};

}  // namespace tapevit
