// src/io/pretrained.cpp: see tapevit/io/pretrained.h.
#include "tapevit/io/pretrained.h"

#include <algorithm>
#include <cstring>
#include <charconv>
#include <cctype>
#include <cmath>
#include <functional>
#include <iomanip>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tapevit/io/h5.h"
#include "tapevit/io/safetensors.h"

namespace tapevit {

namespace {

// One weights file, whatever its format: names -> shapes, and a reader of float32 values.
struct Source {
  std::string path;
  std::map<std::string, Shape> shapes;
  std::function<std::vector<float>(const std::string&)> read;
  std::shared_ptr<void> keep;  // the open file
};

bool is_hdf5(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) fail(path, ": cannot open weights file");
  unsigned char sig[16] = {};
  const size_t n = std::fread(sig, 1, 16, f);
  std::fclose(f);
  static const unsigned char kSig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  // the HDF5 signature, or a tapevit checkpoint's digest in the user block before it
  return (n >= 8 && std::equal(sig, sig + 8, kSig)) || (n == 16 && std::memcmp(sig, "TAPEVIT-DIGEST 1", 16) == 0);
}

Source open_source(const std::string& path) {
  Source s;
  s.path = path;
  if (is_hdf5(path)) {
    auto f = std::make_shared<H5File>(path, H5File::Read);
    const std::string group = f->exists("params") ? "params" : "/";
    const std::string prefix = group == "/" ? "" : group + "/";
    for (const auto& name : f->list(group)) s.shapes[name] = f->shape(prefix + name);
    s.read = [f, prefix](const std::string& name) { return f->read<float>(prefix + name); };
    s.keep = f;
  } else {
    auto f = std::make_shared<SafetensorsFile>(path);
    for (const auto& t : f->tensors()) s.shapes[t.name] = t.shape;
    s.read = [f](const std::string& name) { return f->read_f32(*f->find(name)); };
    s.keep = f;
  }
  return s;
}

double keys_cubic(double x) {  // a = -0.5 (PIL, and PyTorch's antialiased bicubic)
  constexpr double a = -0.5;
  x = std::abs(x);
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

// (out, in) interpolation matrix of one axis; PyTorch's _compute_indices_weights_aa.
std::vector<double> aa_weights(int64_t in, int64_t out) {
  const double scale = double(in) / double(out);
  const double support = scale >= 1 ? 2.0 * scale : 2.0, inv = scale >= 1 ? 1.0 / scale : 1.0;
  std::vector<double> W(size_t(out * in), 0.0);
  for (int64_t i = 0; i < out; ++i) {
    const double center = scale * (double(i) + 0.5);
    const int64_t lo = std::max<int64_t>(int64_t(center - support + 0.5), 0);
    const int64_t hi = std::min<int64_t>(int64_t(center + support + 0.5), in);
    double total = 0;
    for (int64_t j = lo; j < hi; ++j) total += W[size_t(i * in + j)] = keys_cubic((double(j) - center + 0.5) * inv);
    for (int64_t j = lo; j < hi; ++j) W[size_t(i * in + j)] /= total;
  }
  return W;
}

}  // namespace

void resize_bicubic_aa(const float* src, int64_t channels, int64_t in_h, int64_t in_w, float* dst, int64_t out_h,
                       int64_t out_w) {
  const std::vector<double> Wh = aa_weights(in_h, out_h), Ww = aa_weights(in_w, out_w);
  std::vector<double> rows(size_t(in_h * out_w));
  for (int64_t c = 0; c < channels; ++c) {
    const float* x = src + c * in_h * in_w;
    for (int64_t y = 0; y < in_h; ++y)  // horizontal pass first, as PyTorch
      for (int64_t o = 0; o < out_w; ++o) {
        double acc = 0;
        for (int64_t j = 0; j < in_w; ++j) acc += Ww[size_t(o * in_w + j)] * double(x[y * in_w + j]);
        rows[size_t(y * out_w + o)] = acc;
      }
    for (int64_t o = 0; o < out_h; ++o)
      for (int64_t xo = 0; xo < out_w; ++xo) {
        double acc = 0;
        for (int64_t y = 0; y < in_h; ++y) acc += Wh[size_t(o * in_h + y)] * rows[size_t(y * out_w + xo)];
        dst[c * out_h * out_w + o * out_w + xo] = float(acc);
      }
  }
}

std::vector<float> resample_pos_embed(const std::vector<float>& pos, int64_t C, int64_t prefix, int64_t old_h,
                                      int64_t old_w, int64_t new_h, int64_t new_w) {
  // (prefix + HW, C) -> prefix rows kept; grid as C planes (C, H, W), resized, back to (HW, C)
  std::vector<float> planes(size_t(C * old_h * old_w)), resized(size_t(C * new_h * new_w));
  for (int64_t p = 0; p < old_h * old_w; ++p)
    for (int64_t c = 0; c < C; ++c) planes[size_t(c * old_h * old_w + p)] = pos[size_t((prefix + p) * C + c)];
  resize_bicubic_aa(planes.data(), C, old_h, old_w, resized.data(), new_h, new_w);
  std::vector<float> out(size_t((prefix + new_h * new_w) * C));
  std::copy(pos.begin(), pos.begin() + prefix * C, out.begin());
  for (int64_t p = 0; p < new_h * new_w; ++p)
    for (int64_t c = 0; c < C; ++c) out[size_t((prefix + p) * C + c)] = resized[size_t(c * new_h * new_w + p)];
  return out;
}

std::vector<float> adapt_input_conv(const std::vector<float>& w, const Shape& shape, int64_t in_chans,
                                    const std::string& where) {
  if (shape.rank != 4 || shape[1] != 3)
    fail(where, ": patch_embed.proj.weight ", shape, " can be adapted to in_chans ", in_chans,
         " only from 3 input channels (timm's adapt_input_conv)");
  const int64_t O = shape[0], PP = shape[2] * shape[3];
  std::vector<float> out(size_t(O * in_chans * PP));
  for (int64_t o = 0; o < O; ++o)
    for (int64_t c = 0; c < in_chans; ++c)
      for (int64_t k = 0; k < PP; ++k) {
        const float* src = w.data() + o * 3 * PP;
        float v;
        if (in_chans == 1)
          v = src[k] + src[PP + k] + src[2 * PP + k];  // sum over RGB
        else
          v = src[(c % 3) * PP + k] * float(3.0 / double(in_chans));  // tile RGB, rescale
        out[size_t((o * in_chans + c) * PP + k)] = v;
      }
  return out;
}

int64_t LoadReport::count(const std::string& action) const {
  return std::count_if(rows.begin(), rows.end(), [&](const LoadAction& r) { return r.action == action; });
}

std::string LoadReport::table() const {
  std::ostringstream os;
  os << "weights from " << path << ": " << count("loaded") << " loaded, " << count("resampled") << " resampled, "
     << count("adapted") << " adapted, " << count("re-initialised") << " re-initialised, " << count("missing")
     << " missing (kept init), " << count("ignored") << " ignored\n";
  for (const auto& r : rows)
    if (r.action != "loaded") os << "  " << r.action << ": " << r.name << (r.detail.empty() ? "" : "  (" + r.detail + ")") << "\n";
  return os.str();
}

void export_safetensors(const std::string& path, const Params<float>& params, std::map<std::string, std::string> metadata) {
  std::vector<SafeTensorOut> out;
  for (const auto& info : params.infos()) out.push_back({info.name, info.shape, params.data() + info.offset});
  metadata["format"] = "pt";
  write_safetensors(path, out, metadata);
}

std::string timm_hub_config(const std::string& architecture, const VitConfig& v, const HubDataConfig& data) {
  const auto per_channel = [&](const std::vector<double>& x) {
    return x.size() == 1 ? std::vector<double>(size_t(v.in_chans), x[0]) : x;
  };
  nlohmann::ordered_json j;
  j["architecture"] = architecture;
  j["num_classes"] = v.num_classes;
  j["num_features"] = v.embed_dim;
  j["global_pool"] = v.global_pool;
  if (!data.label_names.empty()) j["label_names"] = data.label_names;  // timm's loader puts them in pretrained_cfg
  j["model_args"] = {{"img_size", v.img_size},       {"patch_size", v.patch_size}, {"in_chans", v.in_chans},
                     {"num_classes", v.num_classes}, {"embed_dim", v.embed_dim},   {"depth", v.depth},
                     {"num_heads", v.num_heads},     {"mlp_ratio", v.mlp_ratio},   {"qkv_bias", v.qkv_bias},
                     {"global_pool", v.global_pool}, {"class_token", v.class_token}};
  // timm's constructor arguments for the families, written only where they differ from timm's defaults
  auto& args = j["model_args"];
  if (v.init_values > 0) args["init_values"] = v.init_values;
  if (v.reg_tokens > 0) args["reg_tokens"] = v.reg_tokens;
  if (v.no_embed_class) args["no_embed_class"] = true;
  if (v.pre_norm) args["pre_norm"] = true;
  if (v.fc_norm != "auto") args["fc_norm"] = v.fc_norm == "true";
  if (!v.final_norm) args["final_norm"] = false;
  if (v.act_layer != "gelu") args["act_layer"] = v.act_layer;
  if (v.kv_heads() != v.num_heads) args["num_kv_heads"] = v.kv_heads();  // tapevit's own: timm_cannot_build
  if (v.norm_eps != 1e-6) j["norm_eps"] = v.norm_eps;  // timm takes it from the architecture (CLIP: 1e-5)
  j["pretrained_cfg"] = {{"input_size", {v.in_chans, v.img_size, v.img_size}},
                         {"interpolation", data.interpolation},
                         {"crop_pct", data.crop_pct},
                         {"crop_mode", "center"},
                         {"mean", per_channel(data.mean)},
                         {"std", per_channel(data.std)},
                         {"num_classes", v.num_classes},
                         {"first_conv", "patch_embed.proj"},
                         {"classifier", "head"}};
  if (!data.label_names.empty()) j["pretrained_cfg"]["label_names"] = data.label_names;
  return j.dump(2) + "\n";
}

std::string timm_cannot_build(const VitConfig& v) {
  if (v.kv_heads() == v.num_heads) return "";
  const int64_t D = v.embed_dim / v.num_heads;
  std::ostringstream os;
  os << "num_kv_heads " << v.kv_heads() << " (grouped-query attention): timm's VisionTransformer has no such argument, "
     << "so timm cannot build this model: its blocks.*.attn.qkv.weight would be [" << 3 * v.embed_dim << ", "
     << v.embed_dim << "], these are [" << (v.num_heads + 2 * v.kv_heads()) * D << ", " << v.embed_dim
     << "] (q, then k and v of " << v.kv_heads() << (v.kv_heads() == 1 ? " head)" : " heads each)");
  return os.str();
}

std::string ImpliedArchitecture::describe() const {
  std::ostringstream os;
  os << "embed_dim " << embed_dim << ", depth " << depth << ", patch_size " << patch_size << ", in_chans " << in_chans
     << ", mlp hidden " << mlp_hidden << ", qkv_bias " << (qkv_bias ? "true" : "false");
  if (img_size) os << ", img_size " << img_size;
  os << ", num_classes " << num_classes << (num_classes ? "" : " (no head)");
  if (!class_token) os << ", class_token false";
  if (reg_tokens) os << ", reg_tokens " << reg_tokens;
  if (no_embed_class) os << ", no_embed_class true";
  if (pre_norm) os << ", pre_norm true";
  if (!final_norm) os << ", final_norm false";
  else if (fc_norm) os << ", fc_norm (after pooling)";
  if (layer_scale) os << ", LayerScale";
  if (qkv_rows && qkv_rows != 3 * embed_dim)
    os << ", qkv rows " << qkv_rows << " (not 3 x embed_dim: grouped-query attention, num_kv_heads = (" << qkv_rows
       << " / head_dim - num_heads) / 2)";
  if (attn_pool) os << ", attention pool (global_pool map)";
  if (distilled) os << ", distilled (dist_token, head_dist)";
  return os.str();
}

ImpliedArchitecture implied_architecture(const std::map<std::string, Shape>& shapes) {
  auto shape_of = [&](const std::string& n) -> const Shape* {
    auto it = shapes.find(n);
    return it == shapes.end() ? nullptr : &it->second;
  };
  ImpliedArchitecture a;
  for (const char* n : {"patch_embed.proj.weight", "pos_embed", "head.weight", "blocks.0.mlp.fc1.weight", "reg_token",
                        "blocks.0.attn.qkv.weight"})
    if (const Shape* s = shape_of(n)) a.shapes[n] = *s;
  if (const Shape* s = shape_of("patch_embed.proj.weight"); s && s->rank == 4)
    a.embed_dim = (*s)[0], a.in_chans = (*s)[1], a.patch_size = (*s)[2];
  for (const auto& [n, s] : shapes)
    if (n.rfind("blocks.", 0) == 0 && n.size() > 7 && std::isdigit((unsigned char)n[7])) {
      int64_t i = 0;  // at most 6 digits: a block index, not a number that overflows
      const auto [end, ec] = std::from_chars(n.data() + 7, n.data() + std::min<size_t>(n.size(), 13), i);
      if (ec == std::errc() && (end == n.data() + n.size() || *end == '.')) a.depth = std::max<int64_t>(a.depth, i + 1);
    }
  if (const Shape* s = shape_of("blocks.0.mlp.fc1.weight"); s && s->rank == 2) a.mlp_hidden = (*s)[0];
  a.qkv_bias = shape_of("blocks.0.attn.qkv.bias") != nullptr;
  if (const Shape* s = shape_of("blocks.0.attn.qkv.weight"); s && s->rank == 2) a.qkv_rows = (*s)[0];
  if (const Shape* s = shape_of("head.weight"); s && s->rank == 2) a.num_classes = (*s)[0];
  a.class_token = shape_of("cls_token") != nullptr;
  a.distilled = shape_of("dist_token") != nullptr;
  if (const Shape* s = shape_of("reg_token"); s && s->rank == 3) a.reg_tokens = (*s)[1];
  a.pre_norm = shape_of("norm_pre.weight") != nullptr;
  a.fc_norm = shape_of("fc_norm.weight") != nullptr;
  a.final_norm = a.fc_norm || shape_of("norm.weight") != nullptr;
  a.layer_scale = shape_of("blocks.0.ls1.gamma") != nullptr;
  a.attn_pool = shape_of("attn_pool.latent") != nullptr;
  if (const Shape* s = shape_of("pos_embed"); s && s->rank == 3 && a.patch_size) {
    // pos_embed rows = grid^2 (no_embed_class) or prefix + grid^2: the square that fits tells which
    const int64_t rows = (*s)[1], prefix = (a.class_token ? 1 : 0) + (a.distilled ? 1 : 0) + a.reg_tokens;
    for (const int64_t p : {int64_t(0), prefix}) {
      const int64_t g = int64_t(std::llround(std::sqrt(double(std::max<int64_t>(rows - p, 0)))));
      if (g > 0 && g * g == rows - p && (p == prefix || prefix > 0)) {
        a.img_size = g * a.patch_size;
        a.no_embed_class = p == 0 && prefix > 0;
        break;
      }
    }
  }
  return a;
}

std::map<std::string, Shape> weights_shapes(const std::string& path) { return open_source(path).shapes; }

namespace {

std::string flag(bool b) { return b ? "true" : "false"; }

// timm's pooling for these weights: what fits the final norm's place (fc_norm.weight exists only after pooling)
std::pair<std::string, std::string> implied_pool(const ImpliedArchitecture& a) {
  if (a.attn_pool) return {"map", "auto"};
  if (a.fc_norm) return {"avg", "auto"};
  if (a.class_token || a.distilled) return {"token", "auto"};
  return {"avg", a.final_norm ? "false" : "auto"};  // no class token: the mean of the patches, norm before it
}

// The shortest text of a double that reads back to it.
std::string shortest(double x) {
  for (int p = 1; p <= 17; ++p) {
    std::ostringstream os;
    os << std::setprecision(p) << x;
    if (std::strtod(os.str().c_str(), nullptr) == x) return os.str();
  }
  return std::to_string(x);
}

}  // namespace

int64_t ImpliedArchitecture::kv_heads_for(int64_t num_heads) const {
  if (!qkv_rows || num_heads <= 0 || embed_dim % num_heads != 0) return 0;
  const int64_t D = embed_dim / num_heads;  // rows = (num_heads + 2 num_kv_heads) D
  if (qkv_rows % D != 0 || (qkv_rows / D - num_heads) % 2 != 0) return 0;
  const int64_t kv = (qkv_rows / D - num_heads) / 2;
  return kv > 0 && num_heads % kv == 0 ? kv : 0;
}

std::vector<ImpliedArchitecture::Key> ImpliedArchitecture::keys() const {
  std::vector<Key> k;
  if (!embed_dim) return k;  // not a ViT's state_dict
  auto with_shape = [&](const std::string& name) {
    const auto it = shapes.find(name);
    return it == shapes.end() ? name : name + " " + it->second.str();
  };
  const std::string pe = with_shape("patch_embed.proj.weight");
  if (img_size) k.push_back({"img_size", std::to_string(img_size), with_shape("pos_embed")});
  k.push_back({"patch_size", std::to_string(patch_size), pe});
  k.push_back({"in_chans", std::to_string(in_chans), pe});
  k.push_back({"num_classes", std::to_string(num_classes), num_classes ? with_shape("head.weight") : "no head"});
  k.push_back({"embed_dim", std::to_string(embed_dim), pe});
  if (depth) k.push_back({"depth", std::to_string(depth), "blocks.0 .. blocks." + std::to_string(depth - 1)});
  if (mlp_hidden) {
    // timm's hidden size is int(embed_dim * mlp_ratio): the smallest ratio at or above hidden / embed_dim that gives it
    double r = double(mlp_hidden) / double(embed_dim);
    for (int i = 0; i < 4 && int64_t(double(embed_dim) * r) != mlp_hidden; ++i) r = std::nextafter(r, 1e300);
    k.push_back({"mlp_ratio", shortest(r), with_shape("blocks.0.mlp.fc1.weight")});
  }
  if (depth) k.push_back({"qkv_bias", flag(qkv_bias), qkv_bias ? "blocks.0.attn.qkv.bias" : "no blocks.0.attn.qkv.bias"});
  if (depth)
    k.push_back({"init_values", layer_scale ? "1e-05" : "0",
                 layer_scale ? "blocks.0.ls1.gamma: LayerScale, the file's values load" : "no LayerScale"});
  const auto [pool, fc] = implied_pool(*this);
  const std::string norm_from = fc_norm ? "fc_norm.weight" : final_norm ? "norm.weight" : "no final norm";
  k.push_back({"global_pool", pool, attn_pool ? "attn_pool.latent" : norm_from + (class_token ? ", cls_token" : ", no cls_token")});
  k.push_back({"class_token", flag(class_token), class_token ? "cls_token" : "no cls_token"});
  k.push_back({"reg_tokens", std::to_string(reg_tokens), reg_tokens ? with_shape("reg_token") : "no reg_token"});
  if (img_size) k.push_back({"no_embed_class", flag(no_embed_class), with_shape("pos_embed")});
  k.push_back({"pre_norm", flag(pre_norm), pre_norm ? "norm_pre.weight" : "no norm_pre"});
  k.push_back({"fc_norm", fc, norm_from});
  k.push_back({"final_norm", flag(final_norm), norm_from});
  k.push_back({"distilled", flag(distilled), distilled ? "dist_token" : "no dist_token"});
  return k;
}

ImpliedArchitecture::Misfit ImpliedArchitecture::misfit(const VitConfig& v) const {
  Misfit m;
  if (!embed_dim) return m;
  std::map<std::string, Key> file;
  for (const Key& k : keys()) file[k.key] = k;
  // The config's value of a key as the same text.
  auto config_text = [&](const std::string& key) -> std::string {
    if (key == "patch_size") return std::to_string(v.patch_size);
    if (key == "embed_dim") return std::to_string(v.embed_dim);
    if (key == "depth") return std::to_string(v.depth);
    if (key == "mlp_ratio") return shortest(v.mlp_ratio);
    if (key == "qkv_bias") return flag(v.qkv_bias);
    if (key == "init_values") return v.init_values > 0 ? "1e-05" : "0";
    if (key == "global_pool") return v.global_pool;
    if (key == "class_token") return flag(v.class_token);
    if (key == "reg_tokens") return std::to_string(v.reg_tokens);
    if (key == "no_embed_class") return flag(v.no_embed_class);
    if (key == "pre_norm") return flag(v.pre_norm);
    if (key == "fc_norm") return v.fc_norm;
    if (key == "final_norm") return flag(v.final_norm);
    if (key == "distilled") return flag(v.distilled);
    return "";
  };
  // A fact of the model that differs: the file's and the config's version of it, and the keys that settle it.
  auto fact = [&](const std::string& what, const std::string& in_file, const std::string& in_config,
                  std::initializer_list<const char*> settle) {
    m.lines.push_back(what + ": the file has " + in_file + ", the config " + in_config);
    for (const char* key : settle)
      if (auto it = file.find(key); it != file.end() && config_text(key) != it->second.value) {
        const std::string s = it->second.key + " = " + it->second.value;
        if (std::find(m.settings.begin(), m.settings.end(), s) == m.settings.end()) m.settings.push_back(s);
      }
  };
  auto said = [&](const char* key, const std::string& value) { return value + " (" + file.at(key).from + ")"; };
  auto plain = [&](const char* key) {  // a fact that is one key
    if (!file.count(key)) return;
    const std::string c = config_text(key);
    if (c != file.at(key).value) fact(key, said(key, file.at(key).value), "says " + c, {key});
  };
  plain("embed_dim");
  plain("patch_size");
  plain("depth");
  if (mlp_hidden && v.mlp_hidden() != mlp_hidden)
    fact("mlp hidden size (int(embed_dim * mlp_ratio))", said("mlp_ratio", std::to_string(mlp_hidden)),
         "says " + std::to_string(v.mlp_hidden()), {"mlp_ratio"});
  plain("qkv_bias");
  plain("class_token");
  plain("distilled");
  plain("reg_tokens");
  plain("pre_norm");
  plain("no_embed_class");
  if (qkv_rows && qkv_rows != (v.num_heads + 2 * v.kv_heads()) * (v.embed_dim / v.num_heads) &&
      v.embed_dim == embed_dim) {  // (another embed_dim is said above)
    m.lines.push_back("attention's qkv rows ((num_heads + 2 num_kv_heads) head_dim): the file has " +
                      std::to_string(qkv_rows) + " (blocks.0.attn.qkv.weight), the config builds " +
                      std::to_string((v.num_heads + 2 * v.kv_heads()) * (v.embed_dim / v.num_heads)) + " (num_heads " +
                      std::to_string(v.num_heads) + ", num_kv_heads " + std::to_string(v.kv_heads()) + ")");
    if (const int64_t kv = kv_heads_for(v.num_heads); kv > 0) m.settings.push_back("num_kv_heads = " + std::to_string(kv));
  }
  if (depth && layer_scale != (v.init_values > 0))
    fact("LayerScale", layer_scale ? "blocks.0.ls1.gamma" : "none", layer_scale ? "has none" : "has it (init_values > 0)",
         {"init_values"});
  // the final norm's place and the pooling: norm before pooling, fc_norm after it, or an attention pool
  const auto place = [](bool final_norm, bool after, bool map) {
    return std::string(!final_norm ? "no final norm" : after ? "the final norm after pooling (fc_norm.weight)"
                                                             : "the final norm before pooling (norm.weight)") +
           (map ? " and an attention pool (attn_pool.*)" : "");
  };
  const std::string fp = place(final_norm, fc_norm, attn_pool);
  const std::string cp = place(v.final_norm, v.use_fc_norm(), v.global_pool == "map");
  if (fp != cp) fact("pooling", fp, "builds " + cp + " (global_pool " + v.global_pool + ", fc_norm " + v.fc_norm + ")",
       {"global_pool", "fc_norm", "final_norm"});
  return m;
}

namespace {

// The architecture the file's shapes imply against the config: one line per fact that differs, and the keys to set.
void check_architecture(const std::string& path, const std::map<std::string, Shape>& shapes, const VitConfig& cfg) {
  const ImpliedArchitecture::Misfit m = implied_architecture(shapes).misfit(cfg);
  if (m.lines.empty()) return;
  std::string lines, settings;
  for (const auto& l : m.lines) lines += "\n  " + l;
  for (const auto& s : m.settings) settings += (settings.empty() ? "" : ", ") + s;
  if (settings.empty())  // qkv rows that no num_kv_heads gives with this num_heads
    fail(path, ": the weights do not fit the model's architecture:", lines, "\n  set num_heads as the weights were ",
         "trained (it is not in them; now ", cfg.num_heads, ") and num_kv_heads to fit the qkv rows");
  fail(path, ": the weights do not fit the model's architecture:", lines, "\n  set ", settings,
       " (and num_heads as the weights were trained: it is not in them; now ", cfg.num_heads, ")");
}

}  // namespace

LoadReport load_pretrained(const std::string& path, Params<float>& params, const VitConfig& cfg, bool strict) {
  Source src = open_source(path);
  auto shape_of = [&](const std::string& n) -> const Shape* {
    auto it = src.shapes.find(n);
    return it == src.shapes.end() ? nullptr : &it->second;
  };

  check_architecture(path, src.shapes, cfg);  // 1. the architecture the file implies, against the config

  // 2. tensor by tensor
  LoadReport rep;
  rep.path = path;
  std::ostringstream problems;
  int64_t nproblems = 0;
  std::vector<std::pair<size_t, std::vector<float>>> values;
  for (size_t i = 0; i < params.size(); ++i) {
    const ParamInfo& info = params.info(i);
    const Shape* fs = shape_of(info.name);
    const bool is_head = info.name == "head.weight" || info.name == "head.bias" || info.name == "head_dist.weight" ||
                         info.name == "head_dist.bias";
    if (!fs) {
      if (is_head) {
        rep.rows.push_back({info.name, "re-initialised", "not in the file"});
      } else if (!strict) {
        rep.rows.push_back({info.name, "missing", "not in the file " + info.shape.str()});
      } else {
        problems << "\n  missing:    " << info.name << " " << info.shape;
        ++nproblems;
      }
      continue;
    }
    if (*fs == info.shape) {
      values.emplace_back(i, src.read(info.name));
      rep.rows.push_back({info.name, "loaded", ""});
    } else if (is_head) {
      rep.rows.push_back({info.name, "re-initialised", "num_classes: file " + fs->str() + ", model " + info.shape.str()});
    } else if (info.name == "pos_embed" && fs->rank == 3 && (*fs)[2] == info.shape[2] && (*fs)[0] == 1) {
      // timm's resample_abs_pos_embed: the prefix rows (0 with no_embed_class) are kept, the grid is resampled
      const int64_t prefix = cfg.pos_embed_prefix();
      const int64_t old_n = (*fs)[1] - prefix, old_g = int64_t(std::llround(std::sqrt(double(std::max<int64_t>(old_n, 0)))));
      if (old_n <= 0 || old_g * old_g != old_n)
        fail(path, ": pos_embed ", *fs, " is not ", prefix, " prefix row(s) + a square grid of tokens");
      const int64_t g = cfg.grid();
      values.emplace_back(i, resample_pos_embed(src.read(info.name), info.shape[2], prefix, old_g, old_g, g, g));
      rep.rows.push_back({info.name, "resampled", "grid " + std::to_string(old_g) + "x" + std::to_string(old_g) + " -> " +
                                                      std::to_string(g) + "x" + std::to_string(g) + ", bicubic antialias"});
    } else if (info.name == "patch_embed.proj.weight" && fs->rank == 4 && (*fs)[0] == info.shape[0] &&
               (*fs)[2] == info.shape[2] && (*fs)[3] == info.shape[3] && (*fs)[1] != info.shape[1]) {
      values.emplace_back(i, adapt_input_conv(src.read(info.name), *fs, info.shape[1], path));
      rep.rows.push_back({info.name, "adapted", "in_chans " + std::to_string((*fs)[1]) + " -> " + std::to_string(info.shape[1])});
    } else if (!strict) {
      rep.rows.push_back({info.name, "missing", "file " + fs->str() + ", model " + info.shape.str() + "; kept init"});
    } else {
      problems << "\n  mismatched: " << info.name << " file " << *fs << ", model " << info.shape;
      ++nproblems;
    }
  }
  for (const auto& [name, s] : src.shapes)
    if (!params.find(name)) {
      if (strict) {
        problems << "\n  unexpected: " << name << " " << s;
        ++nproblems;
      } else {
        rep.rows.push_back({name, "ignored", "not in the model " + s.str()});
      }
    }
  if (nproblems)
    fail(path, ": ", nproblems, " tensor", nproblems > 1 ? "s do" : " does", " not fit the model (strict loading):",
         problems.str());
  // 3. only now, with everything checked, overwrite the parameters
  for (auto& [i, v] : values) std::copy(v.begin(), v.end(), params.data() + params.info(i).offset);
  return rep;
}

}  // namespace tapevit
