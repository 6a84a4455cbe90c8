// src/io/vit_json.cpp: see tapevit/io/vit_json.h.
#include "tapevit/io/vit_json.h"

#include <functional>
#include <map>

namespace tapevit {

namespace {
// One table of (key, field) drives both directions, so the two cannot drift apart.
template <class F>
void for_each_field(VitConfig& c, F&& f) {
  f("img_size", c.img_size);
  f("patch_size", c.patch_size);
  f("in_chans", c.in_chans);
  f("num_classes", c.num_classes);
  f("embed_dim", c.embed_dim);
  f("depth", c.depth);
  f("num_heads", c.num_heads);
  f("num_kv_heads", c.num_kv_heads);
  f("mlp_ratio", c.mlp_ratio);
  f("qkv_bias", c.qkv_bias);
  f("drop_rate", c.drop_rate);
  f("pos_drop_rate", c.pos_drop_rate);
  f("proj_drop_rate", c.proj_drop_rate);
  f("attn_drop_rate", c.attn_drop_rate);
  f("drop_path_rate", c.drop_path_rate);
  f("init_values", c.init_values);
  f("global_pool", c.global_pool);
  f("norm_eps", c.norm_eps);
  f("class_token", c.class_token);
  f("reg_tokens", c.reg_tokens);
  f("no_embed_class", c.no_embed_class);
  f("pre_norm", c.pre_norm);
  f("act_layer", c.act_layer);
  f("fc_norm", c.fc_norm);
  f("final_norm", c.final_norm);
  f("distilled", c.distilled);
}
}  // namespace

nlohmann::json vit_config_to_json(const VitConfig& c) {
  nlohmann::json j;
  VitConfig copy = c;
  for_each_field(copy, [&](const char* key, auto& v) { j[key] = v; });
  return j;
}

VitConfig vit_config_from_json(const nlohmann::json& j, VitConfig c) {
  if (!j.is_object()) fail("model config: expected a JSON object");
  std::map<std::string, bool> known;
  for_each_field(c, [&](const char* key, auto& v) {
    known[key] = true;
    auto it = j.find(key);
    if (it == j.end()) return;
    using V = std::decay_t<decltype(v)>;
    const bool ok = std::is_same_v<V, std::string> ? it->is_string()
                    : std::is_same_v<V, bool>      ? it->is_boolean()
                    : std::is_integral_v<V>        ? it->is_number_integer()
                                                   : it->is_number();
    if (!ok) fail("model config key '", key, "': unexpected value ", it->dump());
    v = it->template get<V>();
  });
  for (auto it = j.begin(); it != j.end(); ++it)
    if (!known.count(it.key())) fail("model config: unknown key '", it.key(), "'");
  return c;
}

}  // namespace tapevit
