// tapevit/train/hub_config.h: timm's Hugging Face Hub config.json (`architecture`, `num_classes`, `model_args`,
// `pretrained_cfg` with input_size, mean and std), read as config values. `--init DIR/model.safetensors` takes the
// architecture, mean/std and img_size from DIR/config.json when there is one, under every config file and the
// command line (they win).
#pragma once
#include <string>

#include "tapevit/train/config.h"

namespace tapevit {

// The config.json beside a safetensors weights file, or "" when there is none.
std::string hub_config_beside(const std::string& weights_path);
// Its values (priority 0, source = the file). A model_args key that would build another model than tapevit's
// ViT (reg_tokens, no_embed_class, ...) with a non-default value is an Error naming it.
ConfigValues read_hub_config(const std::string& json_path);

}  // namespace tapevit
