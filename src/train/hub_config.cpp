// src/train/hub_config.cpp: see tapevit/train/hub_config.h. The layout is what timm's push_to_hf_hub writes
// (timm/models/_hub.py: save_config_for_hf) and what `tapevit export --hub_config` writes.
#include "tapevit/train/hub_config.h"

#include <filesystem>
#include <fstream>
#include <algorithm>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

namespace tapevit {

namespace fs = std::filesystem;

std::string hub_config_beside(const std::string& weights_path) {
  if (fs::path(weights_path).extension() != ".safetensors") return "";
  const fs::path p = fs::path(weights_path).parent_path() / "config.json";
  return fs::exists(p) ? p.string() : "";
}

namespace {

std::string text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_array()) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + text(x);
    return s;
  }
  return v.dump();
}

}  // namespace

ConfigValues read_hub_config(const std::string& path) {
  std::ifstream f(path);
  if (!f) fail(path, ": cannot open");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": not valid JSON (", e.what(), ")");
  }
  if (!j.is_object()) fail(path, ": expected a JSON object (timm's Hub config.json)");
  ConfigValues out;
  auto set = [&](const std::string& key, const nlohmann::json& v) { out[key] = {text(v), path, 0}; };
  if (j.contains("architecture") && j["architecture"].is_string()) {
    const std::string arch = j["architecture"];
    const auto names = preset_names();
    if (std::find(names.begin(), names.end(), arch) != names.end()) set("model", arch);
  }
  if (j.contains("num_classes")) set("num_classes", j["num_classes"]);
  if (j.contains("model_args")) {
    const auto& args = j["model_args"];
    if (!args.is_object()) fail(path, ": model_args is not an object");
    for (const auto& [k, v] : args.items()) {
      static const std::set<std::string> direct = {"img_size",  "patch_size", "in_chans",  "num_classes", "embed_dim",
                                                   "depth",     "num_heads",  "mlp_ratio", "qkv_bias",    "global_pool",
                                                   "init_values"};
      if (direct.count(k)) {
        if (!v.is_null()) set(k, v);
        continue;
      }
      // timm's defaults that tapevit's ViT is; anything else builds another model
      const bool is_default = (k == "class_token" && v == true) || (k == "no_embed_class" && v == false) ||
                              (k == "reg_tokens" && v == 0) || (k == "pre_norm" && v == false) ||
                              (k == "fc_norm" && v.is_null()) || (k == "dynamic_img_size" && v == false) ||
                              (k == "drop_rate" || k == "drop_path_rate" || k == "pos_drop_rate" ||
                               k == "attn_drop_rate" || k == "proj_drop_rate");
      if (!is_default)
        fail(path, ": model_args '", k, "' = ", v.dump(), " builds a model tapevit cannot build yet");
    }
  }
  if (j.contains("pretrained_cfg") && j["pretrained_cfg"].is_object()) {
    const auto& pc = j["pretrained_cfg"];
    if (pc.contains("input_size") && pc["input_size"].is_array() && pc["input_size"].size() == 3) {
      if (!out.count("in_chans")) set("in_chans", pc["input_size"][0]);
      if (!out.count("img_size")) set("img_size", pc["input_size"][2]);
    }
    if (pc.contains("mean")) set("mean", pc["mean"]);
    if (pc.contains("std")) set("std", pc["std"]);
  }
  return out;
}

}  // namespace tapevit
