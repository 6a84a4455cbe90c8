// tapevit/io/pretrained.h: initialise a ViT from published weights, as timm's load_pretrained / checkpoint_filter_fn.
//
// Sources: a timm `model.safetensors` (timm's state_dict names) or a tapevit checkpoint (.h5, /params). Every model
// parameter is matched by name and shape; the rules for what may differ are timm's:
//   head.weight / head.bias of another num_classes (or absent): re-initialised (the model's own init);
//   pos_embed of another grid: resampled as timm's resample_abs_pos_embed (cls row kept, the grid interpolated
//       bicubic with antialias, align_corners false: PyTorch's F.interpolate(mode='bicubic', antialias=True));
//   patch_embed.proj.weight of a 3-channel source for another in_chans: timm's adapt_input_conv (summed over
//       the channels for 1, tiled and scaled by 3 / in_chans otherwise).
// Anything else missing, unexpected or of another shape is an Error listing every such name with both shapes;
// strict = false loads what matches and reports the rest instead. Before matching, the architecture the file
// implies (embed_dim, depth, patch_size, MLP hidden size, qkv_bias) is checked against the config, so a wrong
// preset fails with one line naming the key.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "tapevit/layers/vit.h"

namespace tapevit {

// The architecture a state_dict's shapes imply (num_heads is not among them). 0 / false where the file does not
// say (no head: num_classes 0; no pos_embed: img_size 0).
struct ImpliedArchitecture {
  int64_t embed_dim = 0, patch_size = 0, in_chans = 0, depth = 0, mlp_hidden = 0, num_classes = 0, img_size = 0;
  bool qkv_bias = false;
  // the family: prefix tokens, where pos_embed starts, CLIP's norm_pre, the final norm's place, LayerScale, MAP pool
  bool class_token = false, no_embed_class = false, pre_norm = false, fc_norm = false, final_norm = false;
  bool layer_scale = false, distilled = false, attn_pool = false;
  int64_t reg_tokens = 0;
  int64_t qkv_rows = 0;  // of blocks.0.attn.qkv.weight: 3 embed_dim, or (num_heads + 2 num_kv_heads) head_dim
  std::map<std::string, Shape> shapes;  // of the tensors that tell the sizes (patch_embed.proj.weight, pos_embed, ...)
  std::string describe() const;  // "embed_dim 192, depth 12, patch 16, ..."

  // A config key the weights decide: its value as config text and the tensor that says so.
  struct Key {
    std::string key, value, from;
  };
  // Every key the weights decide, in the config registry's order: img_size (pos_embed), patch_size, in_chans,
  // num_classes, embed_dim, depth, mlp_ratio, qkv_bias, init_values (LayerScale: 1e-05, the file's gammas load),
  // global_pool and fc_norm (timm's VisionTransformer pooling that fits the final norm's place: attn_pool -> map,
  // fc_norm.weight -> avg, a class token -> token, else avg with fc_norm = false), class_token, reg_tokens,
  // no_embed_class, pre_norm, final_norm, distilled. Keys the file does not show are left out.
  std::vector<Key> keys() const;
  // num_kv_heads for these weights given num_heads (which they do not hold): from qkv_rows; 0 when the rows do not
  // fit num_heads (or there are none).
  int64_t kv_heads_for(int64_t num_heads) const;
  // Where `v` builds another model than these weights, one line per fact ("depth: the file has 2 (blocks.0 ..
  // blocks.1), the config says 3"), and the settings that make it the weights' model ("depth = 2"), each a key of
  // keys() with its value. img_size, in_chans and num_classes may differ (timm's rules resample, adapt, re-initialise).
  struct Misfit {
    std::vector<std::string> lines, settings;
  };
  Misfit misfit(const VitConfig& v) const;
};
ImpliedArchitecture implied_architecture(const std::map<std::string, Shape>& shapes);
// Every tensor's shape in a timm safetensors file or a tapevit checkpoint (/params), by name.
std::map<std::string, Shape> weights_shapes(const std::string& path);

struct LoadAction {
  std::string name, action, detail;  // action: loaded | resampled | adapted | re-initialised | missing | ignored
};
struct LoadReport {
  std::string path;
  std::vector<LoadAction> rows;
  int64_t count(const std::string& action) const;
  std::string table() const;  // a short summary: counts, then one line per tensor that was not simply loaded
};

// timm's state_dict as float32 safetensors (timm's names and shapes, in registration order = timm's order), written
// atomically; `metadata` goes into the header's __metadata__ ("format": "pt" is always set, as torch writers do).
void export_safetensors(const std::string& path, const Params<float>& params,
                        std::map<std::string, std::string> metadata = {});
// The data a model was trained and evaluated on, as timm's pretrained_cfg holds it: normalisation, the eval
// transform (resize the shorter side to img_size / crop_pct with `interpolation`, center-crop img_size), and the
// names of the classes (label order).
struct HubDataConfig {
  std::vector<double> mean, std;
  double crop_pct = 0.875;
  std::string interpolation = "bicubic";
  std::vector<std::string> label_names = {};  // empty: not written
};
// The config.json of timm's Hugging Face Hub layout (timm's save_config_for_hf) for a model `vit` trained on `data`:
// architecture (the preset name when it is a timm one), num_classes, num_features, global_pool, label_names,
// model_args (every architecture argument, so timm.create_model rebuilds it) and pretrained_cfg (input_size, mean,
// std, interpolation, crop_pct, label_names, first_conv, classifier).
// num_kv_heads (when not num_heads) is written in model_args too, for tapevit to read back: timm has no such argument
// (timm_cannot_build says so).
std::string timm_hub_config(const std::string& architecture, const VitConfig& vit, const HubDataConfig& data);
// Why timm's VisionTransformer cannot hold a model of this config (empty: it can): grouped-query attention
// (num_kv_heads), which timm's ViT has no argument for.
std::string timm_cannot_build(const VitConfig& vit);

LoadReport load_pretrained(const std::string& path, Params<float>& params, const VitConfig& cfg, bool strict = true);

// PyTorch's antialiased bicubic resize (F.interpolate(mode='bicubic', antialias=True, align_corners=False)) of
// `channels` planes (c, in_h, in_w) -> (c, out_h, out_w), separable, Keys cubic with a = -0.5 as PIL.
void resize_bicubic_aa(const float* src, int64_t channels, int64_t in_h, int64_t in_w, float* dst, int64_t out_h,
                       int64_t out_w);
// timm's resample_abs_pos_embed: pos (1, prefix + old_h*old_w, C) -> (1, prefix + new_h*new_w, C).
std::vector<float> resample_pos_embed(const std::vector<float>& pos, int64_t C, int64_t prefix, int64_t old_h,
                                      int64_t old_w, int64_t new_h, int64_t new_w);
// timm's adapt_input_conv: weight (O, 3, P, P) -> (O, in_chans, P, P).
std::vector<float> adapt_input_conv(const std::vector<float>& w, const Shape& shape, int64_t in_chans,
                                    const std::string& where);

}  // namespace tapevit
