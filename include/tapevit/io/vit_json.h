// tapevit/io/vit_json.h: VitConfig <-> JSON with timm's argument names (as stored in checkpoints and fixtures).
// Reading is strict: an unknown key or a value of the wrong type is an Error naming the key.
#pragma once
#include <nlohmann/json.hpp>

#include "tapevit/layers/vit.h"

namespace tapevit {

nlohmann::json vit_config_to_json(const VitConfig& c);
// Keys absent from `j` keep their value in `base`.
VitConfig vit_config_from_json(const nlohmann::json& j, VitConfig base = {});

}  // namespace tapevit
