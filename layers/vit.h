// layers/vit.h: timm's VisionTransformer (class token, learned absolute pos_embed, pre-norm blocks).
//   patch_embed -> cat cls_token -> + pos_embed -> pos dropout -> blocks -> norm -> pool -> fc_norm -> head dropout -> head
// global_pool 'token' takes the cls token after the final `norm`; 'avg' averages the patch tokens and, as timm,
// then uses `fc_norm` (and has no `norm`).
// images: (B, in_chans, img_size, img_size) -> logits: (B, num_classes)  (num_classes 0: pooled features (B, C)).
// Parameter names and shapes are timm's state_dict: cls_token (1,1,C), pos_embed (1,N,C), patch_embed.proj.*,
// blocks.i.*, norm.* | fc_norm.*, head.*.
#pragma once
#include <string>
#include <vector>

#include "tapevit/layers/layernorm.h"
#include "tapevit/layers/linear.h"
#include "tapevit/layers/patch_embed.h"
#include "tapevit/layers/tokens.h"
#include "tapevit/layers/transformer_block.h"

namespace tapevit {

struct VitConfig {
  int64_t img_size = 224, patch_size = 16, in_chans = 3, num_classes = 1000;
  int64_t embed_dim = 768, depth = 12, num_heads = 12;
  double mlp_ratio = 4.0;
  bool qkv_bias = true;
  double drop_rate = 0;       // head dropout (timm's drop_rate)
  double pos_drop_rate = 0;   // after pos_embed
  double proj_drop_rate = 0;  // attention proj and MLP dropouts
  double attn_drop_rate = 0;  // on attention probabilities
  double drop_path_rate = 0;  // stochastic depth, linear from 0 to this over the blocks
  double init_values = 0;     // LayerScale init; 0 = no LayerScale
  std::string global_pool = "token";  // "token" | "avg"
  double norm_eps = 1e-6;

  // Throws an Error naming the offending key (embed_dim vs num_heads, img_size vs patch_size, ranges, ...).
  void validate() const;
  int64_t grid() const { return img_size / patch_size; }
  int64_t num_patches() const { return grid() * grid(); }
  int64_t num_tokens() const { return num_patches() + 1; }
  int64_t mlp_hidden() const { return int64_t(double(embed_dim) * mlp_ratio); }  // timm: int(dim * mlp_ratio)
  double drop_path_at(int64_t block) const {                                     // torch.linspace(0, rate, depth)
    return depth > 1 ? drop_path_rate * double(block) / double(depth - 1) : 0.0;
  }
};

template <class T>
class VisionTransformer {
 public:
  // Registers every parameter, lays out the flat buffers and initialises them as timm (seeded).
  explicit VisionTransformer(const VitConfig& cfg, uint64_t seed = 0);
  VisionTransformer(const VisionTransformer&) = delete;
  VisionTransformer& operator=(const VisionTransformer&) = delete;

  // Training mode (tape.training) turns dropout and drop path on; grad mode off runs inference keeping
  // only one block's activations.
  Var<T> operator()(Tape<T>& t, Var<T> images) const;

  const VitConfig& config() const { return cfg_; }
  Params<T>& params() { return params_; }
  const Params<T>& params() const { return params_; }

 private:
  VitConfig cfg_;
  Params<T> params_;
  Var<T> cls_token_ = nullptr, pos_embed_ = nullptr;
  PatchEmbed<T> patch_embed_;
  std::vector<TransformerBlock<T>> blocks_;
  LayerNorm<T> norm_, fc_norm_;
  Linear<T> head_;
  bool use_fc_norm_ = false;
};

}  // namespace tapevit
