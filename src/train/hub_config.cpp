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
  // timm builds VisionTransformerDistilled from the deit*_distilled_* entry points: the name says it
  if (j.contains("architecture") && j["architecture"].is_string() &&
      j["architecture"].get<std::string>().find("distilled") != std::string::npos)
    out["distilled"] = {"true", path + " (a deit*_distilled_* architecture)", 0};
  if (j.contains("model_args")) {
    const auto& args = j["model_args"];
    if (!args.is_object()) fail(path, ": model_args is not an object");
    for (const auto& [k, v] : args.items()) {
      static const std::set<std::string> direct = {
          "img_size",    "patch_size", "in_chans",    "num_classes", "embed_dim",      "depth",    "num_heads",
          "mlp_ratio",   "qkv_bias",   "global_pool", "init_values", "class_token",    "reg_tokens", "no_embed_class",
          "pre_norm",    "final_norm", "act_layer"};
      if (direct.count(k)) {
        if (!v.is_null()) set(k, v);
        continue;
      }
      if (k == "fc_norm") {  // timm: None (auto), True, False
        if (!v.is_null() && !v.is_boolean()) fail(path, ": model_args 'fc_norm' must be null, true or false, got ", v.dump());
        set(k, v.is_null() ? nlohmann::json("auto") : nlohmann::json(v.get<bool>() ? "true" : "false"));
        continue;
      }
      // settings that do not change the model tapevit builds
      const bool harmless = (k == "dynamic_img_size" && v == false) || k == "drop_rate" || k == "drop_path_rate" ||
                            k == "pos_drop_rate" || k == "attn_drop_rate" || k == "proj_drop_rate";
      if (!harmless) fail(path, ": model_args '", k, "' = ", v.dump(), " builds a model tapevit cannot build yet");
    }
  }
  // LayerNorm eps is not a timm constructor argument: tapevit's export writes it; timm's CLIP towers use 1e-5
  if (j.contains("norm_eps")) set("norm_eps", j["norm_eps"]);
  else if (j.contains("architecture") && j["architecture"].is_string() &&
           j["architecture"].get<std::string>().find("_clip_") != std::string::npos)
    out["norm_eps"] = {"1e-05", path + " (timm's CLIP towers: LayerNorm eps 1e-5)", 0};
  // timm's *_quickgelu_* entry points set act_layer themselves; the weights cannot tell
  if (!out.count("act_layer") && j.contains("architecture") && j["architecture"].is_string() &&
      j["architecture"].get<std::string>().find("quickgelu") != std::string::npos)
    out["act_layer"] = {"quick_gelu", path + " (a *_quickgelu_* architecture)", 0};
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
