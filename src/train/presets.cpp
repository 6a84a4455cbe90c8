// src/train/presets.cpp: see tapevit/train/presets.h.
#include "tapevit/train/presets.h"

#include <algorithm>

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

}  // namespace tapevit
