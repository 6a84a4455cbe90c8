// layers/vit.h: timm's VisionTransformer (learned absolute pos_embed, pre-norm blocks) with the options its
// pretrained families use (DeiT-3, DINOv2 with registers, CLIP, SigLIP, register ViTs):
//   patch_embed -> prefix [cls, reg_0..reg_R-1] and pos_embed (tokens.h; no_embed_class: patches only) -> pos dropout
//   -> norm_pre (pre_norm) -> blocks -> norm -> pool -> fc_norm -> head dropout -> head
// global_pool 'token' takes the class token, 'avg' the mean of the patch tokens (prefix excluded), 'map' an attention
// pool of the patch tokens (attention_pool.h). fc_norm 'auto'
// is (global_pool == avg); with final_norm, the final LayerNorm is `fc_norm` after pooling when fc_norm is on and
// `norm` before pooling otherwise (timm). act_layer: the MLPs' activation; norm_eps: every LayerNorm's eps.
// num_kv_heads: the blocks' grouped-query attention (attention.h; not a timm argument): blocks.i.attn.qkv.weight
// ((num_heads + 2 num_kv_heads) head_dim, C).
// images: (B, in_chans, img_size, img_size) -> logits: (B, num_classes)  (num_classes 0: pooled features (B, C)).
// Parameter names and shapes are timm's state_dict: cls_token (1,1,C), reg_token (1,R,C), pos_embed (1,P+Np,C) or
// (1,Np,C), patch_embed.proj.*, norm_pre.*, blocks.i.*, norm.* | fc_norm.*, head.*.
// distilled (timm's VisionTransformerDistilled, deit.py): prefix [cls, dist_token], pos_embed (1, Np+2, C), and
// logits (head(x[:, 0]) + head_dist(x[:, 1])) / 2 after `norm`, in training too (no teacher), no fc_norm or head dropout.
#pragma once
#include <string>
#include <vector>

#include "tapevit/layers/attention_pool.h"
#include "tapevit/layers/layernorm.h"
#include "tapevit/layers/linear.h"
#include "tapevit/layers/patch_embed.h"
#include "tapevit/layers/tokens.h"
#include "tapevit/layers/transformer_block.h"

namespace tapevit {

struct VitConfig {
  int64_t img_size = 224, patch_size = 16, in_chans = 3, num_classes = 1000;
  int64_t embed_dim = 768, depth = 12, num_heads = 12;
  int64_t num_kv_heads = 0;  // key/value heads of the blocks' attention (attention.h); 0: num_heads, 1: multi-query
  double mlp_ratio = 4.0;
  bool qkv_bias = true;
  double drop_rate = 0;       // head dropout (timm's drop_rate)
  double pos_drop_rate = 0;   // after pos_embed
  double proj_drop_rate = 0;  // attention proj and MLP dropouts
  double attn_drop_rate = 0;  // on attention probabilities
  double drop_path_rate = 0;  // stochastic depth, linear from 0 to this over the blocks
  double init_values = 0;     // LayerScale init; 0 = no LayerScale
  std::string global_pool = "token";  // "token" | "avg" | "map" (SigLIP's attention pool over the patch tokens)
  double norm_eps = 1e-6;             // every LayerNorm (CLIP: 1e-5)
  bool class_token = true;
  int64_t reg_tokens = 0;             // register tokens after the class token (DINOv2-reg, SBB ViTs)
  bool no_embed_class = false;        // pos_embed covers the patches only; the prefix gets no position
  bool pre_norm = false;              // CLIP: norm_pre after the position embedding, no patch_embed bias
  std::string act_layer = "gelu";     // "gelu" | "gelu_tanh" | "quick_gelu"
  std::string fc_norm = "auto";       // "auto" (= global_pool is avg) | "true" | "false"
  bool final_norm = true;
  bool distilled = false;             // DeiT's VisionTransformerDistilled: dist_token and head_dist

  // Throws an Error naming the offending key (embed_dim vs num_heads, img_size vs patch_size, ranges, ...).
  void validate() const;
  int64_t kv_heads() const { return num_kv_heads > 0 ? num_kv_heads : num_heads; }
  int64_t grid() const { return img_size / patch_size; }  // floor, as the stride-P convolution
  int64_t num_patches() const { return grid() * grid(); }
  int64_t num_prefix_tokens() const { return (class_token ? 1 : 0) + (distilled ? 1 : 0) + reg_tokens; }
  int64_t num_tokens() const { return num_patches() + num_prefix_tokens(); }
  // pos_embed's rows: patches, plus the prefix unless no_embed_class (the rows resampling keeps as they are).
  int64_t pos_embed_prefix() const { return no_embed_class ? 0 : num_prefix_tokens(); }
  bool use_fc_norm() const { return fc_norm == "auto" ? global_pool == "avg" : fc_norm == "true"; }
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
  Var<T> cls_token_ = nullptr, reg_token_ = nullptr, pos_embed_ = nullptr, dist_token_ = nullptr;
  PatchEmbed<T> patch_embed_;
  LayerNorm<T> norm_pre_;
  std::vector<TransformerBlock<T>> blocks_;
  LayerNorm<T> norm_, fc_norm_;  // at most one of them exists (final_norm, use_fc_norm)
  AttentionPoolLatent<T> attn_pool_;  // global_pool = map
  Linear<T> head_, head_dist_;
};

}  // namespace tapevit
