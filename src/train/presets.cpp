// src/train/presets.cpp: see tapevit/train/presets.h.
#include "tapevit/train/presets.h"

#include <algorithm>
#include <iomanip>
#include <sstream>

namespace tapevit {

namespace {

struct Preset {
  const char* name;
  int64_t img, patch, chans, classes, dim, depth, heads;
};
// timm's ViT-Ti/S/B at 224, and tapevit's small models for 28x28 (Fashion-MNIST, MNIST) and 32x32 (CIFAR-10).
constexpr Preset kPresets[] = {
    {"vit_tiny_patch16_224", 224, 16, 3, 1000, 192, 12, 3},
    {"vit_small_patch16_224", 224, 16, 3, 1000, 384, 12, 6},
    {"vit_base_patch16_224", 224, 16, 3, 1000, 768, 12, 12},
    {"vit_fmnist", 28, 4, 1, 10, 192, 6, 3},
    {"vit_fmnist_tiny", 28, 4, 1, 10, 64, 4, 2},  // the default: most accuracy in a 10-minute run on 2 cores
    {"vit_fmnist_small", 28, 4, 1, 10, 96, 6, 3},
    {"vit_cifar", 32, 4, 3, 10, 192, 6, 3},
};

}  // namespace

std::vector<std::string> preset_names() {
  std::vector<std::string> out;
  for (const auto& p : kPresets) out.push_back(p.name);
  return out;
}

bool apply_preset(const std::string& name, VitConfig& v) {
  std::string norm = name;
  std::replace(norm.begin(), norm.end(), '-', '_');
  for (const auto& p : kPresets)
    if (norm == p.name) {
      v.img_size = p.img, v.patch_size = p.patch, v.in_chans = p.chans, v.num_classes = p.classes;
      v.embed_dim = p.dim, v.depth = p.depth, v.num_heads = p.heads;
      return true;
    }
  return false;
}

const std::vector<std::string>& preset_keys() {
  static const std::vector<std::string> keys = {"img_size", "patch_size", "in_chans", "num_classes",
                                                "embed_dim", "depth",      "num_heads"};
  return keys;
}

namespace {

std::vector<std::pair<const char*, int64_t>> arch_fields(const VitConfig& v) {
  return {{"embed_dim", v.embed_dim}, {"depth", v.depth},         {"num_heads", v.num_heads}, {"patch_size", v.patch_size},
          {"img_size", v.img_size},   {"in_chans", v.in_chans}, {"num_classes", v.num_classes}};
}

}  // namespace

std::string describe_architecture(const std::string& preset, const VitConfig& v) {
  std::ostringstream os;
  os << preset << ": embed_dim " << v.embed_dim << ", depth " << v.depth << ", num_heads " << v.num_heads << ", patch "
     << v.patch_size << ", mlp " << v.mlp_hidden() << ", " << v.img_size << "x" << v.img_size << "x" << v.in_chans
     << " -> " << v.num_classes << " classes";
  VitConfig base;
  if (apply_preset(preset, base)) {
    std::string changed;
    const auto now = arch_fields(v), was = arch_fields(base);
    for (size_t i = 0; i < now.size(); ++i)
      if (now[i].second != was[i].second)
        changed += (changed.empty() ? "" : ", ") + std::string(now[i].first) + " " + std::to_string(was[i].second) +
                   " -> " + std::to_string(now[i].second);
    if (!changed.empty()) os << " (changed from the preset: " << changed << ")";
  }
  return os.str();
}

std::vector<std::string> presets_for_data(int64_t channels, int64_t size, int64_t classes) {
  std::vector<std::string> out;
  for (const auto& p : kPresets)
    if (p.chans == channels && p.img == size && p.classes == classes) out.push_back(p.name);
  return out;
}

std::string architecture_name(const VitConfig& v) {
  for (const auto& p : kPresets) {
    VitConfig base;
    apply_preset(p.name, base);
    const auto a = arch_fields(v), b = arch_fields(base);
    if (a == b && v.mlp_ratio == base.mlp_ratio && v.qkv_bias == base.qkv_bias) return p.name;
  }
  return "vit_custom_patch" + std::to_string(v.patch_size) + "_" + std::to_string(v.img_size);
}

bool is_timm_name(const std::string& name) { return name.find("_patch16_224") != std::string::npos; }

std::string preset_table() {
  std::ostringstream os;
  os << std::left << std::setw(24) << "model" << std::setw(10) << "img_size" << std::setw(11) << "patch_size"
     << std::setw(10) << "in_chans" << std::setw(12) << "num_classes" << std::setw(10) << "embed_dim" << std::setw(7)
     << "depth" << "num_heads\n";
  for (const auto& p : kPresets)
    os << std::setw(24) << p.name << std::setw(10) << p.img << std::setw(11) << p.patch << std::setw(10) << p.chans
       << std::setw(12) << p.classes << std::setw(10) << p.dim << std::setw(7) << p.depth << p.heads << "\n";
  return os.str();
}

}  // namespace tapevit
