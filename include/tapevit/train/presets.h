// tapevit/train/presets.h: named architectures, as timm's model names (`vit_tiny_patch16_224`, ...) plus
// tapevit's small models for 28x28 and 32x32 images. A preset sets the VitConfig's architecture keys
// (preset_keys()); keys from the same or a later source (config file, command line) override them, keys from an
// earlier source do not (a --model on the command line wins over a config file's embed_dim).
#pragma once
#include <string>
#include <vector>

#include "tapevit/layers/vit.h"

namespace tapevit {

std::vector<std::string> preset_names();
// Sets `vit`'s architecture from the preset `name` (dashes read as underscores); false if there is none.
// vit_custom_<name> (letters, digits, _ . -) is vit_custom, timm's VisionTransformer() defaults, under a name that
// says where the model came from (an export's architecture, vit_custom_patch16_32; the weights file's name).
bool apply_preset(const std::string& name, VitConfig& vit);
bool is_custom_model(const std::string& name);  // vit_custom or vit_custom_<name>
// The vit_custom name for a model called `name`: `name` itself when it is one, else vit_custom_<name> (other
// characters as '_'); vit_custom for "".
std::string custom_model_name(const std::string& name);
// The config keys a preset sets: img_size, patch_size, in_chans, num_classes, embed_dim, depth, num_heads.
const std::vector<std::string>& preset_keys();
// What `vit` is, honestly: "vit_fmnist: embed_dim 64, depth 4, num_heads 2, patch 4, mlp 256, 28x28x1 -> 10
// classes (changed from the preset: embed_dim 192 -> 64, ...)".
std::string describe_architecture(const std::string& preset, const VitConfig& vit);
// Presets whose input and classes fit images of channels x size x size in `classes` classes ("" if none).
std::vector<std::string> presets_for_data(int64_t channels, int64_t size, int64_t classes);
// A name for `vit` that does not claim more than it is: the preset it equals (timm's name for timm's
// architectures, tapevit's for its own), else "vit_custom_patch<P>_<img>".
std::string architecture_name(const VitConfig& vit);
bool is_timm_name(const std::string& name);  // vit_tiny_patch16_224, ... (timm.create_model knows it)
// timm's pretrained_cfg of a timm preset's default tag (timm 1.0.28): the normalisation and eval crop its weights
// were trained with. False for tapevit's own presets (their data set's statistics apply).
struct PresetDataConfig {
  std::vector<double> mean, std;
  double crop_pct = 0.875;
};
bool preset_data_config(const std::string& name, PresetDataConfig& out);
// One line per preset with its architecture (tapevit train --list_models).
std::string preset_table();

}  // namespace tapevit
