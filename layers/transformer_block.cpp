// layers/transformer_block.cpp: see transformer_block.h. Reads like timm's Block.forward.
#include "tapevit/layers/transformer_block.h"

#include "tapevit/layers/fused.h"

namespace tapevit {

template <class T>
TransformerBlock<T>::TransformerBlock(Params<T>& p, const std::string& name, const BlockConfig& c)
    : cfg(c),
      norm1(p, name + ".norm1", c.dim, c.norm_eps),
      norm2(),
      attn(p, name + ".attn", c.dim, c.num_heads, c.qkv_bias, c.attn_drop, c.proj_drop, c.num_kv_heads) {
  // Registration order follows timm's state_dict: norm1, attn, ls1, norm2, mlp, ls2.
  if (c.init_values > 0) ls1 = LayerScale<T>(p, name + ".ls1", c.dim, c.init_values);
  norm2 = LayerNorm<T>(p, name + ".norm2", c.dim, c.norm_eps);
  mlp = Mlp<T>(p, name + ".mlp", c.dim, c.mlp_hidden, c.proj_drop, c.act);
  if (c.init_values > 0) ls2 = LayerScale<T>(p, name + ".ls2", c.dim, c.init_values);
}

template <class T>
Var<T> TransformerBlock<T>::operator()(Tape<T>& t, Var<T> x) const {
  const bool proj_dropout = t.training && cfg.proj_drop > 0;
  if (!ls1.gamma && !ls2.gamma && !proj_dropout) {  // fused nodes (layers/fused.h): the same math, less memory
    if (x->shape.rank != 3 || x->shape[2] != cfg.dim)
      fail("Block '", attn.name, "' input: got ", x->shape, ", expected [B, N, ", cfg.dim, "]");
    Var<T> o = attention_core(t, norm_linear(t, x, norm1, attn.qkv), attn.num_heads, attn.num_kv_heads, cfg.attn_drop,
                                 attn.name);
    x = residual_linear(t, x, o, attn.proj, Act::Identity, cfg.drop_path);
    return residual_linear(t, x, norm_linear(t, x, norm2, mlp.fc1), mlp.fc2, cfg.act, cfg.drop_path);
  }
  x = residual_add(t, x, attn(t, norm1(t, x)), ls1.gamma, cfg.drop_path);
  x = residual_add(t, x, mlp(t, norm2(t, x)), ls2.gamma, cfg.drop_path);
  return x;
}

template struct TransformerBlock<float>;
template struct TransformerBlock<double>;

}  // namespace tapevit
