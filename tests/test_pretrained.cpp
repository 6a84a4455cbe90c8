// tests/test_pretrained.cpp: importing timm-named weights (load_pretrained) against what PyTorch computes with
// timm's rules (fixtures from tests/make_import_fixtures.py): same architecture, another grid (pos_embed
// resampled), another in_chans (adapt_input_conv), another num_classes (head re-initialised), one AdamW step after
// import; F16 files; tapevit checkpoints as a source; and every misfit refused by name, leaving the model as it was.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "tapevit/layers/loss.h"
#include "tapevit/layers/vit.h"
#include "tapevit/optim/optimizer.h"
#include "tapevit/io/checkpoint.h"
#include "tapevit/io/h5.h"
#include "tapevit/io/pretrained.h"
#include "tapevit/io/safetensors.h"
#include "tapevit/io/vit_json.h"

using namespace tapevit;
namespace fs = std::filesystem;

namespace {

const std::string kDir = TAPEVIT_FIXTURES;
const std::string kSrc = kDir + "/import_src.safetensors";
const std::string kSrc16 = kDir + "/import_src_f16.safetensors";

double rel_err(const float* a, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    num += (double(a[i]) - ref[i]) * (double(a[i]) - ref[i]);
    den += double(ref[i]) * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

VitConfig config_of(const H5File& f, const std::string& cs) {
  return vit_config_from_json(nlohmann::json::parse(f.attr_string("config", cs)));
}

// logits of the fixture's input, compared with PyTorch's; returns the relative error
double logits_error(VisionTransformer<float>& m, const H5File& f, const std::string& cs) {
  Shape xs;
  std::vector<float> x = f.read<float>(cs + "/input", &xs);
  Tape<float> t;
  t.set_grad_enabled(false);
  Var<float> logits = m(t, t.wrap(x.data(), xs));
  const double e = rel_err(logits->data, f.read<float>(cs + "/logits"));
  MESSAGE(cs << ": logits relative error " << e);
  return e;
}

std::vector<float> param(VisionTransformer<float>& m, const std::string& name) {
  Var<float> v = m.params().at(name);
  return {v->data, v->data + v->numel()};
}

}  // namespace

TEST_CASE("Import: the same architecture from F32 and F16 safetensors gives PyTorch's logits") {
  H5File f(kDir + "/import.h5", H5File::Read);
  for (const std::string& src : {kSrc, kSrc16}) {
    VisionTransformer<float> m(config_of(f, "same"), 1);
    LoadReport r = load_pretrained(src, m.params(), m.config());
    CHECK(r.count("loaded") == int64_t(m.params().size()));
    CHECK(r.rows.size() == m.params().size());
    CHECK(logits_error(m, f, "same") <= 1e-5);
  }
}

TEST_CASE("Import: another img_size resamples pos_embed as timm (bicubic, antialias) and matches PyTorch") {
  H5File f(kDir + "/import.h5", H5File::Read);
  VisionTransformer<float> m(config_of(f, "grid"), 1);
  LoadReport r = load_pretrained(kSrc, m.params(), m.config());
  CHECK(r.count("resampled") == 1);
  CHECK(r.table().find("resampled: pos_embed  (grid 4x4 -> 6x6, bicubic antialias)") != std::string::npos);
  const double e = rel_err(m.params().at("pos_embed")->data, f.read<float>("grid/pos_embed"));
  MESSAGE("resampled pos_embed relative error " << e);
  CHECK(e <= 1e-5);
  CHECK(logits_error(m, f, "grid") <= 1e-5);
}

TEST_CASE("Import: in_chans 1 and 5 adapt patch_embed.proj.weight as timm's adapt_input_conv") {
  H5File f(kDir + "/import.h5", H5File::Read);
  for (const std::string cs : {"gray", "chans5"}) {
    VisionTransformer<float> m(config_of(f, cs), 1);
    LoadReport r = load_pretrained(kSrc, m.params(), m.config());
    CHECK(r.count("adapted") == 1);
    const double e = rel_err(m.params().at("patch_embed.proj.weight")->data, f.read<float>(cs + "/patch_embed.proj.weight"));
    MESSAGE(cs << ": adapted weight relative error " << e);
    CHECK(e <= 1e-6);
  }
  VisionTransformer<float> gray(config_of(f, "gray"), 1);
  load_pretrained(kSrc, gray.params(), gray.config());
  CHECK(logits_error(gray, f, "gray") <= 1e-5);
}

TEST_CASE("Import: another num_classes re-initialises the head and loads the rest") {
  H5File f(kDir + "/import.h5", H5File::Read);
  VitConfig cfg = config_of(f, "same");
  cfg.num_classes = 12;
  VisionTransformer<float> m(cfg, 5), fresh(cfg, 5);
  LoadReport r = load_pretrained(kSrc, m.params(), m.config());
  CHECK(r.count("re-initialised") == 2);
  CHECK(r.table().find("re-initialised: head.weight  (num_classes: file [7, 24], model [12, 24])") != std::string::npos);
  CHECK(param(m, "head.weight") == param(fresh, "head.weight"));  // the model's own (seeded) init
  SafetensorsFile st(kSrc);
  CHECK(param(m, "blocks.1.mlp.fc2.weight") == st.read_f32(*st.find("blocks.1.mlp.fc2.weight")));
}

// Import `source` into the config of fixture group `cs`, check the logits, take one AdamW step (lr 1e-3, wd 0.05) and
// compare every parameter with PyTorch's. Returns the worst relative error of the step.
double import_and_step(const H5File& f, const std::string& cs, const std::string& source) {
  VisionTransformer<float> m(config_of(f, cs), 1);
  load_pretrained(source, m.params(), m.config());
  if (f.attr_string("config", cs).find("\"img_size\": 24") == std::string::npos) {
    // Exported back, the file holds exactly the source's tensors (names, shapes, bits): PyTorch's strict
    // load_state_dict of the export is the model the logits below were computed from.
    const std::string back = (fs::temp_directory_path() / (cs + "_export.safetensors")).string();
    export_safetensors(back, m.params(), {});
    const SafetensorsFile a(source), b(back);
    REQUIRE(a.tensors().size() == b.tensors().size());
    for (const auto& ta : a.tensors()) {
      const SafeTensor* tb = b.find(ta.name);
      REQUIRE_MESSAGE(tb, cs << ": the export lacks " << ta.name);
      CHECK(tb->shape == ta.shape);
      CHECK(a.read_f32(ta) == b.read_f32(*tb));
    }
  }
  Shape xs;
  std::vector<float> x = f.read<float>(cs + "/input", &xs);
  std::vector<int32_t> labels = f.read<int32_t>(cs + "/labels");
  if (f.exists(cs + "/logits")) {
    Tape<float> ti;
    ti.set_grad_enabled(false);
    Var<float> logits = m(ti, ti.wrap(x.data(), xs));
    const double e = rel_err(logits->data, f.read<float>(cs + "/logits"));
    CHECK_MESSAGE(e <= 1e-5, cs << " logits after import: relative error " << e);
  }
  OptimConfig oc;
  oc.weight_decay = 0.05;
  auto opt = make_optimizer(oc, m.params());
  Tape<float> t;
  t.training = true;
  Var<float> loss = cross_entropy(t, m(t, t.wrap(x.data(), xs)), labels.data());
  CHECK(std::abs(loss->data[0] - f.read<float>(cs + "/loss")[0]) <= 1e-5 * std::abs(loss->data[0]));
  m.params().zero_grad();
  t.backward(loss);
  opt->step(m.params(), 1e-3);
  double worst = 0;
  const int64_t C = m.config().embed_dim;
  const SafetensorsFile src(source);
  for (const auto& info : m.params().infos()) {
    std::vector<float> ref = f.read<float>(cs + "/after/" + info.name);
    float* got = m.params().data() + info.offset;
    if (info.name.size() > 13 && info.name.substr(info.name.size() - 13) == "attn.qkv.bias" &&
        info.name.rfind("blocks.", 0) == 0) {
      // The key bias has a gradient of exactly zero (q.(k + b) shifts every score of a query by the same q.b,
      // which softmax ignores); both sides compute float noise there, and AdamW's first step divides it by its
      // own magnitude (update ~ lr * sign). So the k slice is held to the step size, the rest to 1e-5.
      const std::vector<float> before = src.read_f32(*src.find(info.name));
      for (int64_t i = C; i < 2 * C; ++i) {
        CHECK(std::abs(got[i] - before[size_t(i)]) <= 1.01e-3);
        got[i] = ref[size_t(i)];
      }
    }
    if (info.name == "attn_pool.kv.bias") {  // the same for the attention pool's key bias (the first C entries)
      const std::vector<float> before = src.read_f32(*src.find(info.name));
      for (int64_t i = 0; i < C; ++i) {
        CHECK(std::abs(got[i] - before[size_t(i)]) <= 1.01e-3);
        got[i] = ref[size_t(i)];
      }
    }
    const double e = rel_err(got, ref);
    worst = std::max(worst, e);
    CHECK_MESSAGE(e <= 1e-5, cs << " " << info.name << ": relative error " << e);
  }
  return worst;
}

TEST_CASE("Import: one AdamW step after import gives PyTorch's weights") {
  H5File f(kDir + "/import.h5", H5File::Read);
  MESSAGE("one step after import: worst relative error over all parameters " << import_and_step(f, "step", kSrc));
}

TEST_CASE("Import: timm's families import to PyTorch's logits and take PyTorch's AdamW step") {
  H5File f(kDir + "/import.h5", H5File::Read);
  for (const char* fam : {"deit3", "dinov2_reg", "dinov2_reg_grid", "clip_quickgelu", "siglip_map", "betwixt_reg_gap",
                          "deit_distilled"}) {
    const std::string cs = std::string("family_") + fam;
    const double worst = import_and_step(f, cs, kDir + "/" + f.attr_string("source", cs));
    std::printf("import parity %-28s one AdamW step: worst relative error %.3e\n", cs.c_str(), worst);
  }
}

TEST_CASE("Import: a tapevit checkpoint is a source too") {
  H5File f(kDir + "/import.h5", H5File::Read);
  VisionTransformer<float> a(config_of(f, "same"), 1), b(config_of(f, "same"), 2);
  load_pretrained(kSrc, a.params(), a.config());
  const std::string ckpt = (fs::temp_directory_path() / "tapevit_import_ckpt.h5").string();
  save_checkpoint<float>(ckpt, {"", "{}", "adamw"}, a.params(), nullptr, TrainState{});
  LoadReport r = load_pretrained(ckpt, b.params(), b.config());
  CHECK(r.count("loaded") == int64_t(b.params().size()));
  CHECK(param(a, "pos_embed") == param(b, "pos_embed"));
  CHECK(param(a, "blocks.0.attn.qkv.weight") == param(b, "blocks.0.attn.qkv.weight"));
}

TEST_CASE("Import: misfits are refused naming the key or every tensor, and the model is left as it was") {
  H5File f(kDir + "/import.h5", H5File::Read);
  const VitConfig base = config_of(f, "same");
  auto error_for = [&](VitConfig cfg, const std::string& src, bool strict = true) {
    VisionTransformer<float> m(cfg, 3), fresh(cfg, 3);
    std::string msg = "no error";
    try {
      load_pretrained(src, m.params(), m.config(), strict);
    } catch (const Error& e) {
      msg = e.what();
    }
    CHECK(std::equal(m.params().data(), m.params().data() + m.params().flat_size(), fresh.params().data()));
    return msg;
  };
  VitConfig c = base;
  c.embed_dim = 32;
  c.num_heads = 2;
  CHECK(error_for(c, kSrc).find("embed_dim: the file has 24 (patch_embed.proj.weight [24, 3, 4, 4]), the config says 32") !=
        std::string::npos);
  c = base;
  c.depth = 3;
  CHECK(error_for(c, kSrc).find("depth: the file has 2 (blocks.0 .. blocks.1), the config says 3") != std::string::npos);
  c = base;
  c.patch_size = 8;
  CHECK(error_for(c, kSrc).find("patch_size: the file has 4") != std::string::npos);
  c = base;
  c.qkv_bias = false;
  CHECK(error_for(c, kSrc).find("qkv_bias: the file has true") != std::string::npos);

  // a file with an extra tensor and a wrong shape: strict lists both; non-strict loads the rest and reports them
  SafetensorsFile st(kSrc);
  std::vector<std::vector<float>> keep;
  std::vector<SafeTensorOut> outs;
  for (const auto& t : st.tensors()) {
    keep.push_back(st.read_f32(t));
    Shape s = t.shape;
    if (t.name == "blocks.0.norm1.weight") s = {12, 2};
    outs.push_back({t.name, s, keep.back().data()});
  }
  std::vector<float> extra = {1, 2};
  outs.push_back({"extra_token", {1, 1, 2}, extra.data()});
  const std::string odd = (fs::temp_directory_path() / "tapevit_import_odd.safetensors").string();
  write_safetensors(odd, outs);
  const std::string msg = error_for(base, odd);
  CHECK(msg.find("2 tensors do not fit the model (strict loading):") != std::string::npos);
  CHECK(msg.find("mismatched: blocks.0.norm1.weight file [12, 2], model [24]") != std::string::npos);
  CHECK(msg.find("unexpected: extra_token [1, 1, 2]") != std::string::npos);
  VisionTransformer<float> m(base, 3);
  LoadReport r = load_pretrained(odd, m.params(), m.config(), /*strict=*/false);
  CHECK(r.count("ignored") == 1);
  CHECK(r.count("missing") == 1);
  CHECK(r.count("loaded") == int64_t(m.params().size()) - 1);
  CHECK(error_for(base, kDir + "/nothing.safetensors").find("nothing.safetensors: cannot open") != std::string::npos);
}

TEST_CASE("resize_bicubic_aa: constant planes stay constant, identity size is the identity") {
  std::vector<float> x(5 * 7, 2.5f), y(3 * 11);
  resize_bicubic_aa(x.data(), 1, 5, 7, y.data(), 3, 11);
  for (float v : y) CHECK(v == doctest::Approx(2.5f).epsilon(1e-6));
  std::vector<float> z(12), w(12);
  for (int i = 0; i < 12; ++i) z[size_t(i)] = float(i * i) - 3.0f;
  resize_bicubic_aa(z.data(), 1, 3, 4, w.data(), 3, 4);
  for (int i = 0; i < 12; ++i) CHECK(w[size_t(i)] == doctest::Approx(z[size_t(i)]).epsilon(1e-6));
}

TEST_CASE("Export: timm's names, shapes and order as F32 safetensors that import back bit-exactly") {
  H5File f(kDir + "/import.h5", H5File::Read);
  VisionTransformer<float> a(config_of(f, "same"), 1), b(config_of(f, "same"), 2);
  load_pretrained(kSrc, a.params(), a.config());
  const std::string out = (fs::temp_directory_path() / "tapevit_export.safetensors").string();
  export_safetensors(out, a.params(), {{"note", "test"}});
  SafetensorsFile st(out);
  CHECK(st.metadata().at("format") == "pt");
  CHECK(st.metadata().at("note") == "test");
  REQUIRE(st.tensors().size() == a.params().size());
  for (const auto& info : a.params().infos()) {
    const SafeTensor* t = st.find(info.name);
    REQUIRE_MESSAGE(t, info.name);
    CHECK(t->dtype == "F32");
    CHECK(t->shape == info.shape);
  }
  CHECK(st.find("blocks.1.attn.qkv.weight")->shape == Shape({72, 24}));  // (3C, C) as timm
  load_pretrained(out, b.params(), b.config());
  CHECK(std::equal(a.params().data(), a.params().data() + a.params().flat_size(), b.params().data()));
}

TEST_CASE("Export: config.json in timm's Hub layout rebuilds the architecture") {
  VitConfig v;
  v.img_size = 28, v.patch_size = 4, v.in_chans = 1, v.num_classes = 10, v.embed_dim = 64, v.depth = 4, v.num_heads = 2;
  const auto j = nlohmann::json::parse(timm_hub_config("vit_tiny_patch16_224", v, {{0.286}, {0.353}}));
  CHECK(j["architecture"] == "vit_tiny_patch16_224");
  CHECK(j["num_classes"] == 10);
  CHECK(j["model_args"]["img_size"] == 28);
  CHECK(j["model_args"]["embed_dim"] == 64);
  CHECK(j["model_args"]["depth"] == 4);
  CHECK(j["model_args"]["num_heads"] == 2);
  CHECK(j["model_args"]["in_chans"] == 1);
  CHECK(j["pretrained_cfg"]["input_size"] == nlohmann::json::array({1, 28, 28}));
  CHECK(j["pretrained_cfg"]["mean"] == nlohmann::json::array({0.286}));
  CHECK(j["pretrained_cfg"]["classifier"] == "head");
  CHECK(j["pretrained_cfg"]["crop_pct"] == 0.875);  // HubDataConfig's defaults: timm's DEFAULT_CROP_PCT, bicubic
  CHECK(j["pretrained_cfg"]["interpolation"] == "bicubic");
  CHECK(!j.contains("label_names"));
  // the run's own eval transform and class names, where timm's loader reads them
  const auto k = nlohmann::json::parse(timm_hub_config("x", v, {{0.5}, {0.5}, 0.8, "bilinear", {"cat", "dog"}}));
  CHECK(k["pretrained_cfg"]["crop_pct"] == 0.8);
  CHECK(k["pretrained_cfg"]["interpolation"] == "bilinear");
  CHECK(k["pretrained_cfg"]["crop_mode"] == "center");
  CHECK(k["label_names"] == nlohmann::json::array({"cat", "dog"}));
  CHECK(k["pretrained_cfg"]["label_names"] == nlohmann::json::array({"cat", "dog"}));
}

namespace {

VitConfig family_tiny() {
  VitConfig v;
  v.img_size = 8, v.patch_size = 4, v.in_chans = 3, v.num_classes = 5, v.embed_dim = 16, v.depth = 2, v.num_heads = 2;
  return v;
}

std::string export_tmp(const std::string& name, VisionTransformer<float>& m) {
  const std::string path = (fs::temp_directory_path() / ("tapevit_family_" + name + ".safetensors")).string();
  export_safetensors(path, m.params(), {});
  return path;
}

}  // namespace

TEST_CASE("Import: family weights load into their family and round-trip bit-exactly") {
  VitConfig clip = family_tiny();
  clip.pre_norm = true, clip.norm_eps = 1e-5, clip.act_layer = "quick_gelu";
  VitConfig reg = family_tiny();
  reg.reg_tokens = 4, reg.no_embed_class = true, reg.init_values = 1e-5;
  VitConfig gap = family_tiny();
  gap.class_token = false, gap.reg_tokens = 2, gap.global_pool = "avg";
  for (const VitConfig& v : {clip, reg, gap}) {
    VisionTransformer<float> a(v, 3), b(v, 4);
    const std::string path = export_tmp("roundtrip", a);
    const LoadReport rep = load_pretrained(path, b.params(), v, true);
    CHECK(rep.count("loaded") == int64_t(a.params().size()));
    for (int64_t i = 0; i < a.params().flat_size(); ++i) REQUIRE(a.params().data()[i] == b.params().data()[i]);
    // what the file implies is the family
    const ImpliedArchitecture f = implied_architecture(weights_shapes(path));
    CHECK(f.class_token == v.class_token);
    CHECK(f.reg_tokens == v.reg_tokens);
    CHECK(f.no_embed_class == v.no_embed_class);
    CHECK(f.pre_norm == v.pre_norm);
    CHECK(f.img_size == v.img_size);
    CHECK(f.fc_norm == v.use_fc_norm());
  }
}

TEST_CASE("Import: a file of another family is refused before anything loads, naming the key to set") {
  VitConfig clip = family_tiny();
  clip.pre_norm = true;
  VisionTransformer<float> src(clip, 1);
  const std::string clip_path = export_tmp("clip", src);
  VisionTransformer<float> plain(family_tiny(), 2);
  const std::vector<float> before(plain.params().data(), plain.params().data() + plain.params().flat_size());
  try {
    load_pretrained(clip_path, plain.params(), family_tiny(), true);
    FAIL("a CLIP file loaded into a model without pre_norm");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK_MESSAGE(msg.find("pre_norm: the file has true (norm_pre.weight), the config says false") != std::string::npos, msg);
    CHECK_MESSAGE(msg.find("set pre_norm = true") != std::string::npos, msg);
  }
  CHECK(std::equal(before.begin(), before.end(), plain.params().data()));

  VitConfig reg = family_tiny();
  reg.reg_tokens = 4, reg.no_embed_class = true;
  VisionTransformer<float> rsrc(reg, 1);
  const std::string reg_path = export_tmp("reg", rsrc);
  try {
    load_pretrained(reg_path, plain.params(), family_tiny(), true);
    FAIL("a register file loaded into a model without registers");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK_MESSAGE(msg.find("reg_tokens: the file has 4 (reg_token [1, 4, 16]), the config says 0") != std::string::npos, msg);
    CHECK_MESSAGE(msg.find("set reg_tokens = 4, no_embed_class = true") != std::string::npos, msg);
  }
}

TEST_CASE("Import: resampling pos_embed keeps timm's prefix rows (P with the prefix embedded, none with no_embed_class)") {
  for (bool no_embed : {false, true}) {
    VitConfig small = family_tiny();  // grid 2
    small.reg_tokens = 2, small.no_embed_class = no_embed;
    VitConfig big = small;
    big.img_size = 12;  // grid 3
    VisionTransformer<float> a(small, 5), b(big, 6);
    const std::string path = export_tmp(no_embed ? "resample_noembed" : "resample", a);
    const LoadReport rep = load_pretrained(path, b.params(), big, true);
    CHECK(rep.count("resampled") == 1);
    const Var<float> pa = a.params().at("pos_embed"), pb = b.params().at("pos_embed");
    const int64_t C = 16, prefix = no_embed ? 0 : 3;
    CHECK(pb->shape == Shape{1, prefix + 9, C});
    for (int64_t i = 0; i < prefix * C; ++i) CHECK(pb->data[i] == pa->data[i]);  // the prefix rows, as they were
    // the grid rows: resampled from the 2x2 grid exactly as resample_pos_embed does
    const std::vector<float> grid(pa->data + prefix * C, pa->data + pa->numel());
    std::vector<float> full(pa->data, pa->data + pa->numel());
    const std::vector<float> want = resample_pos_embed(full, C, prefix, 2, 2, 3, 3);
    for (int64_t i = 0; i < pb->numel(); ++i) REQUIRE(pb->data[i] == want[size_t(i)]);
  }
}
