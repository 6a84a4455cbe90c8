// tapevit/train/hub_config.h: what an --init weights file says about the model, as config values under every config
// file and the command line (they win): timm's Hugging Face Hub config.json beside it (`architecture`, `num_classes`,
// `global_pool`, `model_args`, `pretrained_cfg` with input_size, mean and std), a tapevit checkpoint's own model
// keys, and the architecture the weights' shapes decide.
#pragma once
#include <string>
#include <vector>

#include "tapevit/train/config.h"

namespace tapevit {

// The config.json beside a safetensors weights file, or "" when there is none.
std::string hub_config_beside(const std::string& weights_path);
// Its values (priority 0, source = the file). A model_args key that would build another model than tapevit's
// ViT (reg_tokens, no_embed_class, ...) with a non-default value is an Error naming it.
ConfigValues read_hub_config(const std::string& json_path);

// The class names of config.json's label_names (timm's save_config_for_hf writes them top-level; its loader moves
// them into pretrained_cfg): empty when there are none. read_hub_config has already checked the file.
std::vector<std::string> hub_label_names(const std::string& json_path);

// The class names a weights file carries, in label order: a tapevit checkpoint's class_names, or the label_names
// of the config.json beside a safetensors file; empty when it has none.
std::vector<std::string> weights_class_names(const std::string& weights_path);

// With values["init"] set: layers under `values` (priority 0, each naming its source) what the weights file says:
//   1. the keys its weights decide (ImpliedArchitecture::keys: sizes, tokens, norms, pooling, LayerScale),
//   2. over them DIR/config.json (timm's Hub layout) when there is one, or a tapevit checkpoint's model keys,
//   3. and, when no source names a `model`, model = vit_custom_<name> (presets.h): timm's VisionTransformer()
//      defaults for the rest (global_pool token, a class token, mlp_ratio 4, qkv_bias, ...), not tapevit's
//      Fashion-MNIST preset, named after config.json's architecture (or model_name), else the weights file.
// num_heads is not in the weights: without config.json, a checkpoint's config or a preset it must be given, else
// an Error names it. Returns the start-up lines that say where the model came from. No init: nothing happens.
std::vector<std::string> layer_init_config(ConfigValues& values);

}  // namespace tapevit
