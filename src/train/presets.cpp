// src/train/presets.cpp: see tapevit/train/presets.h.
#include "tapevit/train/presets.h"

#include <algorithm>
#include <cctype>
#include <iomanip>
#include <sstream>
#include <tuple>

namespace tapevit {

namespace {

struct Preset {
  std::string name;
  VitConfig vit;
  bool timm;  // timm.create_model knows the name
};

VitConfig vit(int64_t img, int64_t patch, int64_t chans, int64_t classes, int64_t dim, int64_t depth, int64_t heads) {
  VitConfig v;  // timm's defaults for everything else: mlp_ratio 4, qkv_bias, gelu, eps 1e-6, a class token, ...
  v.img_size = img, v.patch_size = patch, v.in_chans = chans, v.num_classes = classes;
  v.embed_dim = dim, v.depth = depth, v.num_heads = heads;
  return v;
}

// timm's names with the size and classes of their default pretrained tag (timm 1.0.28), and tapevit's small models
// for 28x28 (Fashion-MNIST, MNIST) and 32x32 (CIFAR-10).
const std::vector<Preset>& presets() {
  static const std::vector<Preset> table = [] {
    std::vector<Preset> t;
    t.push_back({"vit_tiny_patch16_224", vit(224, 16, 3, 1000, 192, 12, 3), true});
    t.push_back({"vit_small_patch16_224", vit(224, 16, 3, 1000, 384, 12, 6), true});
    t.push_back({"vit_base_patch16_224", vit(224, 16, 3, 1000, 768, 12, 12), true});
    VitConfig v = vit(224, 16, 3, 1000, 384, 12, 6);  // DeiT-3: LayerScale, no position for the class token
    v.no_embed_class = true, v.init_values = 1e-6;
    t.push_back({"deit3_small_patch16_224", v, true});
    v = vit(224, 16, 3, 1000, 384, 12, 6);  // DeiT distilled: cls + dist tokens, two heads averaged
    v.distilled = true;
    t.push_back({"deit_small_distilled_patch16_224", v, true});
    v = vit(518, 14, 3, 0, 384, 12, 6);  // DINOv2 (lvd142m): a backbone, no head
    v.init_values = 1e-5;
    t.push_back({"vit_small_patch14_dinov2", v, true});
    v.reg_tokens = 4, v.no_embed_class = true;
    t.push_back({"vit_small_patch14_reg4_dinov2", v, true});
    v = vit(224, 16, 3, 1000, 768, 12, 12);  // CLIP image tower (laion2b_ft_in12k_in1k)
    v.pre_norm = true, v.norm_eps = 1e-5;
    t.push_back({"vit_base_patch16_clip_224", v, true});
    v.act_layer = "quick_gelu", v.num_classes = 512;  // OpenAI-style QuickGELU tower (metaclip_2pt5b: 512-d embedding)
    t.push_back({"vit_base_patch16_clip_quickgelu_224", v, true});
    v = vit(224, 16, 3, 0, 768, 12, 12);  // SigLIP (v2_webli): no class token, attention pool ('map') over the patches
    v.class_token = false, v.global_pool = "map";
    t.push_back({"vit_base_patch16_siglip_224", v, true});
    v = vit(224, 16, 3, 0, 768, 12, 12);  // SigLIP without its attention-pool head: norm, then the mean of the patches
    v.class_token = false, v.global_pool = "avg", v.fc_norm = "false";
    t.push_back({"vit_base_patch16_siglip_gap_224", v, true});
    v = vit(256, 16, 3, 1000, 640, 12, 10);  // SBB "betwixt": 4 registers, no class token, avg pool
    v.class_token = false, v.reg_tokens = 4, v.no_embed_class = true, v.global_pool = "avg", v.init_values = 1e-5;
    t.push_back({"vit_betwixt_patch16_reg4_gap_256", v, true});
    t.push_back({"vit_fmnist", vit(28, 4, 1, 10, 192, 6, 3), false});
    t.push_back({"vit_fmnist_tiny", vit(28, 4, 1, 10, 64, 4, 2), false});
    v = vit(28, 4, 1, 10, 64, 4, 2);  // the default: a 10-minute run on 2 cores; the mean of the patch tokens learns
    v.global_pool = "avg";            // faster than the class token (experiments/time_to_accuracy)
    t.push_back({"vit_fmnist_tiny_avg", v, false});
    t.push_back({"vit_fmnist_small", vit(28, 4, 1, 10, 96, 6, 3), false});
    t.push_back({"vit_cifar", vit(32, 4, 3, 10, 192, 6, 3), false});
    // timm's VisionTransformer() defaults: the base of a model its keys describe (weights imported without a
    // config.json take it, not the Fashion-MNIST default); last, so that a model equal to a named preset is named so
    t.push_back({"vit_custom", VitConfig{}, false});
    return t;
  }();
  return table;
}

std::string num(double x) {
  std::ostringstream os;
  os << x;
  return os.str();
}

// The architecture keys (preset_keys() order) and their values as config text.
std::vector<std::pair<std::string, std::string>> arch_values(const VitConfig& v) {
  auto b = [](bool x) { return std::string(x ? "true" : "false"); };
  return {{"img_size", std::to_string(v.img_size)},   {"patch_size", std::to_string(v.patch_size)},
          {"in_chans", std::to_string(v.in_chans)},   {"num_classes", std::to_string(v.num_classes)},
          {"embed_dim", std::to_string(v.embed_dim)}, {"depth", std::to_string(v.depth)},
          {"num_heads", std::to_string(v.num_heads)}, {"mlp_ratio", num(v.mlp_ratio)},
          {"qkv_bias", b(v.qkv_bias)},                {"num_kv_heads", std::to_string(v.num_kv_heads)},
          {"init_values", num(v.init_values)},
          {"global_pool", v.global_pool},             {"class_token", b(v.class_token)},
          {"reg_tokens", std::to_string(v.reg_tokens)}, {"no_embed_class", b(v.no_embed_class)},
          {"pre_norm", b(v.pre_norm)},                {"norm_eps", num(v.norm_eps)},
          {"act_layer", v.act_layer},                 {"fc_norm", v.fc_norm},
          {"final_norm", b(v.final_norm)},            {"distilled", b(v.distilled)}};
}

bool name_char(char ch) { return std::isalnum(static_cast<unsigned char>(ch)) || ch == '_' || ch == '.' || ch == '-'; }

const std::string kCustom = "vit_custom";

// A preset by name; vit_custom_<name> is vit_custom under that name.
const Preset* find_preset(const std::string& name) {
  std::string norm = name;
  std::replace(norm.begin(), norm.end(), '-', '_');
  if (norm.size() > kCustom.size() + 1 && norm.compare(0, kCustom.size() + 1, kCustom + "_") == 0 &&
      std::all_of(norm.begin(), norm.end(), name_char))
    norm = kCustom;
  for (const auto& p : presets())
    if (norm == p.name) return &p;
  return nullptr;
}

}  // namespace

bool preset_data_config(const std::string& name, PresetDataConfig& out) {
  static const std::vector<double> inception = {0.5, 0.5, 0.5};
  static const std::vector<double> imagenet_mean = {0.485, 0.456, 0.406}, imagenet_std = {0.229, 0.224, 0.225};
  static const std::vector<double> clip_mean = {0.48145466, 0.4578275, 0.40821073};
  static const std::vector<double> clip_std = {0.26862954, 0.26130258, 0.27577711};
  // name -> (mean, std, crop_pct) of the default tag (vision_transformer.py / deit.py default_cfgs)
  static const std::vector<std::tuple<std::string, const std::vector<double>*, const std::vector<double>*, double>> table = {
      {"vit_tiny_patch16_224", &inception, &inception, 0.9},            // augreg_in21k_ft_in1k
      {"vit_small_patch16_224", &inception, &inception, 0.9},           // augreg_in21k_ft_in1k
      {"vit_base_patch16_224", &inception, &inception, 0.9},            // augreg2_in21k_ft_in1k
      {"deit3_small_patch16_224", &imagenet_mean, &imagenet_std, 0.9},  // fb_in1k
      {"deit_small_distilled_patch16_224", &imagenet_mean, &imagenet_std, 0.9},
      {"vit_small_patch14_dinov2", &imagenet_mean, &imagenet_std, 1.0},  // lvd142m
      {"vit_small_patch14_reg4_dinov2", &imagenet_mean, &imagenet_std, 1.0},
      {"vit_base_patch16_clip_224", &clip_mean, &clip_std, 0.95},        // laion2b_ft_in12k_in1k
      {"vit_base_patch16_clip_quickgelu_224", &clip_mean, &clip_std, 1.0},  // metaclip_2pt5b
      {"vit_base_patch16_siglip_224", &inception, &inception, 0.9},     // v2_webli
      {"vit_base_patch16_siglip_gap_224", &inception, &inception, 0.9},
      {"vit_betwixt_patch16_reg4_gap_256", &inception, &inception, 0.95},  // sbb2_e200_in12k_ft_in1k
  };
  const Preset* p = find_preset(name);
  for (const auto& [n, mean, std, crop] : table)
    if (p && n == p->name) {
      out.mean = *mean, out.std = *std, out.crop_pct = crop;
      return true;
    }
  return false;
}

bool is_custom_model(const std::string& name) {
  const Preset* p = find_preset(name);
  return p && p->name == kCustom;
}

std::string custom_model_name(const std::string& name) {
  std::string s = name;
  for (char& ch : s)
    if (!name_char(ch)) ch = '_';
  if (s.empty()) return kCustom;
  return is_custom_model(s) ? s : kCustom + "_" + s;
}

std::vector<std::string> preset_names() {
  std::vector<std::string> out;
  for (const auto& p : presets()) out.push_back(p.name);
  return out;
}

bool apply_preset(const std::string& name, VitConfig& v) {
  const Preset* p = find_preset(name);
  if (!p) return false;
  const VitConfig& a = p->vit;  // the architecture only: dropout rates and the like stay
  v.img_size = a.img_size, v.patch_size = a.patch_size, v.in_chans = a.in_chans, v.num_classes = a.num_classes;
  v.embed_dim = a.embed_dim, v.depth = a.depth, v.num_heads = a.num_heads, v.mlp_ratio = a.mlp_ratio;
  v.qkv_bias = a.qkv_bias, v.init_values = a.init_values, v.global_pool = a.global_pool, v.norm_eps = a.norm_eps;
  v.class_token = a.class_token, v.reg_tokens = a.reg_tokens, v.no_embed_class = a.no_embed_class;
  v.pre_norm = a.pre_norm, v.act_layer = a.act_layer, v.fc_norm = a.fc_norm, v.final_norm = a.final_norm;
  v.distilled = a.distilled, v.num_kv_heads = a.num_kv_heads;
  return true;
}

const std::vector<std::string>& preset_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> k;
    for (const auto& [name, value] : arch_values(VitConfig{})) k.push_back(name);
    return k;
  }();
  return keys;
}

std::string describe_architecture(const std::string& preset, const VitConfig& v) {
  std::ostringstream os;
  os << preset << ": embed_dim " << v.embed_dim << ", depth " << v.depth << ", num_heads " << v.num_heads << ", patch "
     << v.patch_size << ", mlp " << v.mlp_hidden() << ", " << v.img_size << "x" << v.img_size << "x" << v.in_chans
     << " -> " << v.num_classes << " classes";
  // the family options that differ from timm's plain ViT
  const auto now = arch_values(v), plain = arch_values(VitConfig{});
  std::string extras;
  for (size_t i = 7; i < now.size(); ++i)  // after num_heads: the options
    if (now[i].second != plain[i].second) extras += (extras.empty() ? "" : ", ") + now[i].first + " " + now[i].second;
  if (!extras.empty()) os << "; " << extras;
  VitConfig base;
  if (!is_custom_model(preset) && apply_preset(preset, base)) {  // vit_custom: every key is the model's own
    std::string changed;
    const auto was = arch_values(base);
    for (size_t i = 0; i < now.size(); ++i)
      if (now[i].second != was[i].second)
        changed += (changed.empty() ? "" : ", ") + now[i].first + " " + was[i].second + " -> " + now[i].second;
    if (!changed.empty()) os << " (changed from the preset: " << changed << ")";
  }
  return os.str();
}

std::vector<std::string> presets_for_data(int64_t channels, int64_t size, int64_t classes) {
  std::vector<std::string> out;
  for (const auto& p : presets())
    if (p.vit.in_chans == channels && p.vit.img_size == size && p.vit.num_classes == classes && p.name != "vit_custom")
      out.push_back(p.name);
  return out;
}

std::string architecture_name(const VitConfig& v) {
  for (const auto& p : presets())
    if (arch_values(p.vit) == arch_values(v)) return p.name;
  return "vit_custom_patch" + std::to_string(v.patch_size) + "_" + std::to_string(v.img_size);
}

bool is_timm_name(const std::string& name) {
  const Preset* p = find_preset(name);
  return p && p->timm;
}

std::string preset_table() {
  std::ostringstream os;
  os << std::left << std::setw(37) << "model" << std::setw(9) << "img_size" << std::setw(6) << "patch" << std::setw(9)
     << "in_chans" << std::setw(12) << "num_classes" << std::setw(10) << "embed_dim" << std::setw(6) << "depth"
     << std::setw(6) << "heads" << "options\n";
  const auto plain = arch_values(VitConfig{});
  for (const auto& p : presets()) {
    const VitConfig& v = p.vit;
    std::string extras;
    const auto now = arch_values(v);
    for (size_t i = 7; i < now.size(); ++i)
      if (now[i].second != plain[i].second) extras += (extras.empty() ? "" : ", ") + now[i].first + " " + now[i].second;
    os << std::setw(37) << p.name << std::setw(9) << v.img_size << std::setw(6) << v.patch_size << std::setw(9)
       << v.in_chans << std::setw(12) << v.num_classes << std::setw(10) << v.embed_dim << std::setw(6) << v.depth
       << std::setw(6) << v.num_heads << extras << (p.timm ? "" : (extras.empty() ? "" : "; ") + std::string("tapevit's own")) << "\n";
  }
  return os.str();
}

}  // namespace tapevit
