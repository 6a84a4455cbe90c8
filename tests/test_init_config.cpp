// tests/test_init_config.cpp: the model an --init weights file builds when the config does not describe it
// (layer_init_config + resolve_config + load_pretrained, as `tapevit train` and `predict` run them), against the
// logits PyTorch computed for the model the file came from (tests/fixtures/import.h5, tests/make_import_fixtures.py):
//   - without config.json, only num_heads given (and act_layer, which no weights carry): timm's model;
//   - every suggestion the import error makes ("set k = v, ..."), applied on the command line over a config that
//     contradicts the file, gives timm's model too.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "tapevit/io/h5.h"
#include "tapevit/io/pretrained.h"
#include "tapevit/io/vit_json.h"
#include "tapevit/train/hub_config.h"

using namespace tapevit;

namespace {

const std::string kDir = TAPEVIT_FIXTURES;

struct Case {
  std::string group, weights;  // import.h5's group, the weights file
  VitConfig truth;             // what PyTorch built
};

std::vector<Case> cases() {
  H5File f(kDir + "/import.h5", H5File::Read);
  std::vector<Case> out = {{"same", kDir + "/import_src.safetensors", {}}};
  for (const char* fam : {"deit3", "dinov2_reg", "clip_quickgelu", "siglip_map", "betwixt_reg_gap", "deit_distilled"})
    out.push_back({std::string("family_") + fam, kDir + "/family_" + fam + ".safetensors", {}});
  for (auto& c : out) c.truth = vit_config_from_json(nlohmann::json::parse(f.attr_string("config", c.group)));
  return out;
}

ConfigValue cli(const std::string& v) { return {v, "command line", kCommandLine}; }

// What no weights file carries: the heads, and the activation where it is not timm's default.
ConfigValues given(const Case& c) {
  ConfigValues v = {{"init", cli(c.weights)}, {"num_heads", cli(std::to_string(c.truth.num_heads))}};
  if (c.truth.act_layer != "gelu") v["act_layer"] = cli(c.truth.act_layer);
  return v;
}

// Resolves `values` as `tapevit predict --init` does, loads the weights and returns the logits' relative error
// against PyTorch's. Throws what the import throws.
double import_error(const Case& c, ConfigValues values) {
  layer_init_config(values);
  const TrainConfig cfg = resolve_config(values);
  VisionTransformer<float> m(cfg.vit, 1);
  load_pretrained(cfg.init, m.params(), cfg.vit, true);
  H5File f(kDir + "/import.h5", H5File::Read);
  Shape xs;
  std::vector<float> x = f.read<float>(c.group + "/input", &xs);
  const std::vector<float> ref = f.read<float>(c.group + "/logits");
  Tape<float> t;
  t.set_grad_enabled(false);
  Var<float> logits = m(t, t.wrap(x.data(), xs));
  REQUIRE(size_t(logits->numel()) == ref.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num += (double(logits->data[i]) - ref[i]) * (double(logits->data[i]) - ref[i]);
    den += double(ref[i]) * ref[i];
  }
  return std::sqrt(num / den);
}

// The "set k = v, k2 = v2" of an import error, as command-line values.
ConfigValues suggestions(const std::string& msg) {
  const size_t at = msg.find("\n  set ");
  REQUIRE_MESSAGE(at != std::string::npos, "no suggestion in: " << msg);
  const size_t end = msg.find(" (and num_heads", at);
  std::string list = msg.substr(at + 7, end == std::string::npos ? std::string::npos : end - at - 7);
  ConfigValues out;
  for (size_t a = 0; a < list.size();) {
    const size_t b = std::min(list.find(", ", a), list.size());
    const std::string kv = list.substr(a, b - a);
    const size_t eq = kv.find(" = ");
    REQUIRE_MESSAGE(eq != std::string::npos, "not 'key = value': " << kv);
    out[kv.substr(0, eq)] = cli(kv.substr(eq + 3));
    a = b + 2;
  }
  return out;
}

// A config that contradicts the file (`wrong`, from a config file), the error it gets, its suggestions applied on
// the command line: the result must be PyTorch's model.
void check_advice(const Case& c, const std::map<std::string, std::string>& wrong, const std::string& what) {
  ConfigValues values = given(c);
  for (const auto& [k, v] : wrong) values[k] = {v, "wrong.ini", 1};
  std::string msg;
  try {
    import_error(c, values);
  } catch (const Error& e) {
    msg = e.what();
  }
  REQUIRE_MESSAGE(msg.find("the weights do not fit the model's architecture") != std::string::npos,
                  c.group << " with " << what << ": expected the import to refuse it, got: " << (msg.empty() ? "no error" : msg));
  for (const auto& [k, v] : suggestions(msg)) values[k] = v;
  const double e = import_error(c, values);
  CHECK_MESSAGE(e <= 1e-5, c.group << " with " << what << ", after the advice of:\n" << msg << "\nlogits relative error " << e);
}

}  // namespace

TEST_CASE("Import without config.json: the weights decide the architecture, num_heads given, and the logits are timm's") {
  for (const Case& c : cases()) {
    const double e = import_error(c, given(c));
    CHECK_MESSAGE(e <= 1e-5, c.group << ": logits relative error " << e);
    ConfigValues v = given(c);
    const std::vector<std::string> said = layer_init_config(v);
    REQUIRE(!said.empty());
    CHECK_MESSAGE(said[0].find("has no config.json beside it: the model is timm's VisionTransformer defaults with what "
                               "the weights decide (") != std::string::npos, said[0]);
    // timm's defaults, named after the file (import_src.safetensors: vit_custom_import_src)
    CHECK(v.at("model").value == "vit_custom_" + std::filesystem::path(c.weights).stem().string());
  }
}

TEST_CASE("Import without config.json: num_heads is required, and the error says so before anything loads") {
  ConfigValues v = {{"init", cli(kDir + "/import_src.safetensors")}};
  CHECK_THROWS_WITH_AS(layer_init_config(v), doctest::Contains("num_heads is not in the weights and no config.json is beside them"), Error);
  // a preset given by the user supplies it (and must then fit the file)
  v = {{"init", cli(kDir + "/import_src.safetensors")}, {"model", cli("vit_fmnist_tiny")}};
  CHECK_NOTHROW(layer_init_config(v));
  REQUIRE(v.count("embed_dim"));  // the file's keys stay under the user's preset: it decides, and must fit
  CHECK(v.at("embed_dim").priority == 0);
  CHECK(v.at("model").priority == kCommandLine);
  CHECK_THROWS_WITH_AS(import_error(cases()[0], v), doctest::Contains("set embed_dim = 24"), Error);
}

TEST_CASE("Import: every suggestion of an import error, applied, gives timm's model") {
  for (const Case& c : cases()) {
    const VitConfig& t = c.truth;
    // tapevit's default preset, named in a config file with the file's input and classes
    check_advice(c, {{"model", "vit_fmnist_tiny_avg"}, {"img_size", std::to_string(t.img_size)},
                     {"in_chans", std::to_string(t.in_chans)}, {"num_classes", std::to_string(t.num_classes)}},
                 "model = vit_fmnist_tiny_avg");
    // one key at a time set against the file
    const std::vector<std::pair<std::string, std::string>> flips = {
        {"embed_dim", std::to_string(t.embed_dim * 2)},
        {"depth", std::to_string(t.depth + 1)},
        {"patch_size", std::to_string(t.patch_size / 2)},
        {"mlp_ratio", "3"},
        {"qkv_bias", t.qkv_bias ? "false" : "true"},
        {"init_values", t.init_values > 0 ? "0" : "0.1"},
        {"global_pool", t.global_pool == "avg" ? "map" : "avg"},
        {"fc_norm", t.global_pool == "avg" ? "false" : "true"},
        {"final_norm", "false"},
        {"reg_tokens", std::to_string(t.reg_tokens + 2)},
        {"no_embed_class", t.no_embed_class ? "false" : "true"},
        {"pre_norm", t.pre_norm ? "false" : "true"},
    };
    for (const auto& [key, value] : flips) {
      if (t.distilled && (key == "global_pool" || key == "reg_tokens" || key == "no_embed_class")) continue;  // not valid
      if (!t.class_token && key == "global_pool" && value == "token") continue;
      check_advice(c, {{key, value}}, key + " = " + value);
    }
    if (t.class_token && !t.distilled) check_advice(c, {{"class_token", "false"}, {"global_pool", "avg"}}, "no class token");
  }
}
