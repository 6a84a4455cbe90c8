// layers/vit.cpp: see vit.h. Reads like timm's VisionTransformer.forward_features / forward_head.
#include "tapevit/layers/vit.h"

#include "tapevit/layers/dropout.h"

namespace tapevit {

// The one place the model keys are checked (tapevit train's config resolves into this struct and calls it): each
// message names the config key, as a config file or the command line spells it.
void VitConfig::validate() const {
  auto positive = [](const char* key, int64_t v) {
    if (v <= 0) fail("key '", key, "' must be positive, got ", v);
  };
  auto rate = [](const char* key, double v) {
    if (!(v >= 0 && v < 1)) fail("key '", key, "' must be in [0, 1), got ", v);
  };
  positive("img_size", img_size);
  positive("patch_size", patch_size);
  positive("in_chans", in_chans);
  positive("embed_dim", embed_dim);
  positive("depth", depth);
  positive("num_heads", num_heads);
  // num_classes 0: a backbone without a head (DINOv2, SigLIP as published)
  if (num_classes < 0) fail("key 'num_classes' must be >= 0, got ", num_classes);
  if (img_size < patch_size) fail("img_size ", img_size, " is smaller than patch_size ", patch_size);
  if (embed_dim % num_heads != 0) fail("embed_dim ", embed_dim, " is not divisible by num_heads ", num_heads);
  if (num_kv_heads < 0) fail("key 'num_kv_heads' must be >= 0 (0 = num_heads), got ", num_kv_heads);
  if (num_kv_heads > 0 && num_heads % num_kv_heads != 0)
    fail("num_heads ", num_heads, " is not divisible by num_kv_heads ", num_kv_heads,
         " (each key/value head serves num_heads / num_kv_heads query heads)");
  // sizes a CPU can hold: also keeps int(embed_dim * mlp_ratio) and the products of sizes far from overflow
  constexpr int64_t kMaxDim = int64_t(1) << 20;
  for (auto [k, v] : {std::pair{"img_size", img_size}, {"patch_size", patch_size}, {"in_chans", in_chans},
                      {"embed_dim", embed_dim}, {"depth", depth}, {"num_heads", num_heads}, {"num_classes", num_classes},
                      {"reg_tokens", reg_tokens}})
    if (v > kMaxDim) fail("key '", k, "' = ", v, " is larger than ", kMaxDim);
  if (!(mlp_ratio > 0) || !(double(embed_dim) * mlp_ratio < double(kMaxDim)) || mlp_hidden() <= 0)
    fail("key 'mlp_ratio' must be positive with int(embed_dim * mlp_ratio) in [1, ", kMaxDim, "), got ", mlp_ratio,
         " (embed_dim ", embed_dim, ")");
  rate("drop", drop_rate);
  rate("pos_drop", pos_drop_rate);
  rate("proj_drop", proj_drop_rate);
  rate("attn_drop", attn_drop_rate);
  rate("drop_path", drop_path_rate);
  if (init_values < 0) fail("key 'init_values' must be >= 0 (0 = no LayerScale), got ", init_values);
  if (global_pool != "token" && global_pool != "avg" && global_pool != "map")
    fail("key 'global_pool' must be token, avg or map, got '", global_pool, "'");
  if (global_pool == "token" && !class_token)
    fail("global_pool = token needs a class token (class_token = true), or use global_pool = avg");
  if (reg_tokens < 0) fail("key 'reg_tokens' must be >= 0, got ", reg_tokens);
  if (fc_norm != "auto" && fc_norm != "true" && fc_norm != "false")
    fail("key 'fc_norm' must be auto, true or false, got '", fc_norm, "'");
  act_from_name(act_layer);  // throws naming act_layer
  if (distilled && (global_pool != "token" || !class_token || reg_tokens > 0 || no_embed_class))
    fail("distilled (DeiT) needs global_pool = token and a class token, without reg_tokens or no_embed_class");
  if (!(norm_eps > 0)) fail("key 'norm_eps' must be positive, got ", norm_eps);
}

template <class T>
VisionTransformer<T>::VisionTransformer(const VitConfig& cfg, uint64_t seed) : cfg_(cfg) {
  cfg_.validate();
  const int64_t C = cfg_.embed_dim;
  Params<T>& p = params_;
  // Registration order is timm's state_dict order.
  if (cfg_.class_token) cls_token_ = p.add("cls_token", {1, 1, C}, InitSpec::normal(1e-6));
  if (cfg_.reg_tokens > 0) reg_token_ = p.add("reg_token", {1, cfg_.reg_tokens, C}, InitSpec::normal(1e-6));
  pos_embed_ = p.add("pos_embed", {1, cfg_.num_patches() + cfg_.pos_embed_prefix(), C}, InitSpec::trunc_normal(0.02));
  if (cfg_.distilled) dist_token_ = p.add("dist_token", {1, 1, C}, InitSpec::trunc_normal(0.02));
  patch_embed_ = PatchEmbed<T>(p, "patch_embed", cfg_.img_size, cfg_.patch_size, cfg_.in_chans, C, !cfg_.pre_norm);
  if (cfg_.pre_norm) norm_pre_ = LayerNorm<T>(p, "norm_pre", C, cfg_.norm_eps);
  blocks_.reserve(size_t(cfg_.depth));
  for (int64_t i = 0; i < cfg_.depth; ++i) {
    BlockConfig bc;
    bc.dim = C;
    bc.num_heads = cfg_.num_heads;
    bc.num_kv_heads = cfg_.kv_heads();
    bc.mlp_hidden = cfg_.mlp_hidden();
    bc.qkv_bias = cfg_.qkv_bias;
    bc.proj_drop = cfg_.proj_drop_rate;
    bc.attn_drop = cfg_.attn_drop_rate;
    bc.drop_path = cfg_.drop_path_at(i);
    bc.init_values = cfg_.init_values;
    bc.norm_eps = cfg_.norm_eps;
    bc.act = act_from_name(cfg_.act_layer);
    blocks_.emplace_back(p, "blocks." + std::to_string(i), bc);
  }
  if (cfg_.final_norm && !cfg_.use_fc_norm()) norm_ = LayerNorm<T>(p, "norm", C, cfg_.norm_eps);
  if (cfg_.global_pool == "map")
    attn_pool_ = AttentionPoolLatent<T>(p, "attn_pool", C, cfg_.num_heads, cfg_.mlp_hidden(), cfg_.norm_eps,
                                        act_from_name(cfg_.act_layer));
  if (cfg_.final_norm && cfg_.use_fc_norm()) fc_norm_ = LayerNorm<T>(p, "fc_norm", C, cfg_.norm_eps);
  if (cfg_.num_classes > 0) head_ = Linear<T>(p, "head", C, cfg_.num_classes);
  if (cfg_.num_classes > 0 && cfg_.distilled) head_dist_ = Linear<T>(p, "head_dist", C, cfg_.num_classes);
  p.allocate();
  p.init(seed);
}

template <class T>
Var<T> VisionTransformer<T>::operator()(Tape<T>& t, Var<T> images) const {
  const bool inference = !t.grad_enabled();
  const size_t mark = t.mark();
  Var<T> x = patch_embed_(t, images);
  // the prefix after the class token: DeiT's distillation token or the registers (never both)
  x = embed_tokens(t, x, cls_token_, pos_embed_, dist_token_ ? dist_token_ : reg_token_, cfg_.no_embed_class);
  x = dropout(t, x, cfg_.pos_drop_rate);
  if (norm_pre_.weight) x = norm_pre_(t, x);
  for (const auto& blk : blocks_) {
    x = blk(t, x);
    if (inference) x = t.collapse(mark, x);  // keep one block's activations, not the network's
  }
  if (norm_.weight) x = norm_(t, x);
  if (cfg_.distilled) {
    if (cfg_.num_classes == 0) return average(t, select_token(t, x, 0), select_token(t, x, 1));  // timm's pre_logits
    return average(t, head_(t, select_token(t, x, 0)), head_dist_(t, select_token(t, x, 1)));
  }
  if (attn_pool_.latent)
    x = attn_pool_(t, drop_prefix(t, x, cfg_.num_prefix_tokens()));
  else
    x = pool_tokens(t, x, cfg_.global_pool == "avg" ? Pool::Avg : Pool::Token, cfg_.num_prefix_tokens());
  if (fc_norm_.weight) x = fc_norm_(t, x);
  x = dropout(t, x, cfg_.drop_rate);
  return cfg_.num_classes > 0 ? head_(t, x) : x;
}

template class VisionTransformer<float>;
template class VisionTransformer<double>;

}  // namespace tapevit
