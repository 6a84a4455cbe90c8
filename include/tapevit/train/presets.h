// tapevit/train/presets.h: named architectures, as timm's model names (`vit_tiny_patch16_224`, ...) plus
// tapevit's small models for 28x28 and 32x32 images. A preset sets the VitConfig's architecture keys; the config
// file and the command line may override them.
#pragma once
#include <string>
#include <vector>

#include "tapevit/layers/vit.h"

namespace tapevit {

std::vector<std::string> preset_names();
// Sets `vit`'s architecture from the preset `name` (dashes read as underscores); false if there is none.
bool apply_preset(const std::string& name, VitConfig& vit);

}  // namespace tapevit
