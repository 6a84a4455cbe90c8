// src/train/hub_config.cpp: see tapevit/train/hub_config.h. The layout is what timm's push_to_hf_hub writes
// (timm/models/_hub.py: save_config_for_hf) and what `tapevit export --hub_config` writes.
#include "tapevit/train/hub_config.h"

#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <algorithm>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tapevit/io/checkpoint.h"
#include "tapevit/io/h5.h"
#include "tapevit/io/pretrained.h"

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
  // the model's name: a preset's, else vit_custom (timm's VisionTransformer defaults) named after it
  for (const char* name_key : {"architecture", "model_name"})
    if (j.contains(name_key) && j[name_key].is_string()) {
      std::string arch = j[name_key];
      arch = arch.substr(0, arch.find('.'));  // a pretrained tag, if any (timm writes the bare name)
      const auto names = preset_names();
      set("model", std::find(names.begin(), names.end(), arch) != names.end() ? arch : custom_model_name(arch));
      break;
    }
  if (j.contains("num_classes")) set("num_classes", j["num_classes"]);
  // timm writes the model's pooling here for information (its loader builds from architecture + model_args); for an
  // architecture tapevit has no preset of it is the best word on token vs avg, which the weights cannot tell apart
  if (j.contains("global_pool") && j["global_pool"].is_string()) set("global_pool", j["global_pool"]);
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
          "pre_norm",    "final_norm", "act_layer",   "num_kv_heads"};
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
    // the eval transform the weights were measured with (timm's crop_mode 'center')
    if (pc.contains("crop_pct") && pc["crop_pct"].is_number()) set("crop_pct", pc["crop_pct"]);
    if (pc.contains("interpolation") && pc["interpolation"].is_string()) set("interpolation", pc["interpolation"]);
  }
  return out;
}

}  // namespace tapevit

namespace tapevit {

std::vector<std::string> hub_label_names(const std::string& path) {
  std::ifstream f(path);
  const nlohmann::json j = nlohmann::json::parse(f, nullptr, /*allow_exceptions=*/false);
  auto list = [](const nlohmann::json& o) {  // o's label_names, or nothing
    std::vector<std::string> names;
    if (o.is_object() && o.contains("label_names") && o["label_names"].is_array())
      for (const auto& n : o["label_names"]) names.push_back(n.is_string() ? n.get<std::string>() : n.dump());
    return names;
  };
  std::vector<std::string> names = list(j);  // top-level, as timm writes them
  if (names.empty() && j.is_object() && j.contains("pretrained_cfg")) names = list(j["pretrained_cfg"]);
  return names;
}

std::vector<std::string> weights_class_names(const std::string& path) {
  if (fs::path(path).extension() == ".h5")  // a tapevit checkpoint (an .h5 of bare weights names none)
    return H5File(path, H5File::Read).has_attr("format") ? read_checkpoint_meta(path).class_names : std::vector<std::string>{};
  const std::string json = hub_config_beside(path);
  return json.empty() ? std::vector<std::string>{} : hub_label_names(json);
}

namespace {

// What a weights file is called: its stem, or its folder's name for timm's and PyTorch's generic file names
// (vit_tiny/model.safetensors: vit_tiny).
std::string weights_name(const std::string& path) {
  const std::string stem = fs::path(path).stem().string();
  if (stem != "model" && stem != "pytorch_model") return stem;
  return fs::absolute(path).parent_path().filename().string();
}

}  // namespace

std::vector<std::string> layer_init_config(ConfigValues& values) {
  std::vector<std::string> said;
  const auto init = values.find("init");
  if (init == values.end() || init->second.value.empty()) return said;
  const std::string path = init->second.value;
  ConfigValues from_file;  // what the file says, all under the user's sources (priority 0)
  const std::string weights_source = path + " (its weights)";
  const ImpliedArchitecture a = implied_architecture(weights_shapes(path));
  for (const auto& k : a.keys()) from_file[k.key] = {k.value, weights_source, 0};
  // timm's pre_norm ViTs are its CLIP towers, all built with LayerNorm eps 1e-5; the weights do not carry eps
  if (a.pre_norm) from_file["norm_eps"] = {"1e-05", weights_source + ": norm_pre, timm's CLIP towers use eps 1e-5", 0};
  std::string described_by;  // the file that describes the model beside the weights
  if (const std::string json = hub_config_beside(path); !json.empty()) {
    for (auto& [k, v] : read_hub_config(json)) from_file[k] = v;
    described_by = json;
  } else if (fs::path(path).extension() == ".h5" && H5File(path, H5File::Read).has_attr("format")) {
    const CheckpointMeta meta = read_checkpoint_meta(path);  // a tapevit checkpoint: its run's config
    if (!meta.config_ini.empty()) {
      const ConfigValues ckpt = parse_ini_text(meta.config_ini, path + " (its config)", 0);
      for (const auto& key : preset_keys())
        if (auto it = ckpt.find(key); it != ckpt.end()) from_file[key] = it->second;
      if (auto it = ckpt.find("model"); it != ckpt.end()) from_file["model"] = it->second;
      described_by = path;
    }
  }
  const bool model_given = values.count("model") > 0;
  if (!model_given && !from_file.count("model"))  // timm's defaults, named after the file
    from_file["model"] = {custom_model_name(weights_name(path)), "timm's VisionTransformer defaults", 0};
  if (!model_given && is_custom_model(from_file.at("model").value)) {
    if (!values.count("num_heads") && !from_file.count("num_heads"))
      fail(path, ": num_heads is not in the weights", described_by.empty() ? " and no config.json is beside them" : "",
           ": give num_heads as the model was trained (timm's ViTs mostly have 64 channels a head: vit_tiny 3, "
           "vit_small 6, vit_base 12, vit_large 16), or model = <preset> (tapevit train --list_models)");
  }
  // What the user set stays; the rest comes from the file.
  std::string used;  // in the registry's order
  auto add = [&](const std::string& item) { used += (used.empty() ? "" : ", ") + item; };
  for (const auto& k : a.keys())
    if (!values.count(k.key) && from_file.at(k.key).source == weights_source) add(k.key + " " + k.value);
  if (!values.count("num_heads") && from_file.count("num_heads"))
    add("num_heads " + from_file.at("num_heads").value + " (" + from_file.at("num_heads").source + ")");
  // grouped-query weights: qkv rows = (num_heads + 2 num_kv_heads) head_dim tell num_kv_heads once num_heads is known
  if (a.qkv_rows && a.qkv_rows != 3 * a.embed_dim && !values.count("num_kv_heads") && !from_file.count("num_kv_heads")) {
    const ConfigValue* h = values.count("num_heads")      ? &values.at("num_heads")
                           : from_file.count("num_heads") ? &from_file.at("num_heads")
                                                          : nullptr;
    if (const int64_t kv = h ? a.kv_heads_for(std::atoll(h->value.c_str())) : 0; kv > 0) {
      from_file["num_kv_heads"] = {std::to_string(kv), weights_source, 0};
      add("num_kv_heads " + std::to_string(kv) + " (blocks.0.attn.qkv.weight " +
          a.shapes.at("blocks.0.attn.qkv.weight").str() + " with num_heads " + h->value + ")");
    }
  }
  const std::string model = model_given ? values.at("model").value : from_file.at("model").value;
  for (auto& [key, v] : from_file)
    if (!values.count(key)) values[key] = v;
  const std::string base = is_custom_model(model) ? "timm's VisionTransformer defaults" : "preset " + model;
  if (model_given)
    said.push_back("model = " + model + " (" + values.at("model").source + ") sets the architecture; " + path +
                   " must fit it");
  else if (!described_by.empty())
    said.push_back(std::string(described_by == path ? "the architecture comes from " : "the architecture, mean/std and img_size come from ") + described_by + " (" + base +
                   " for what it leaves out) and the weights (" + (used.empty() ? "nothing more" : used) +
                   "), where the config files and the command line do not set them");
  else
    said.push_back(path + " has no config.json beside it: the model is " + base + " with what the weights decide (" +
                   used + "), where the config files and the command line do not set them");
  if (!model_given && a.pre_norm && !values.count("act_layer"))
    said.push_back("a CLIP tower (norm_pre): the weights cannot tell act_layer gelu from quick_gelu (OpenAI's CLIP "
                   "weights, timm's *_clip_quickgelu_*); set act_layer = quick_gelu for those");
  return said;
}

}  // namespace tapevit
