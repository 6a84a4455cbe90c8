// tests/test_vit.cpp: the whole VisionTransformer: timm names, config checks, loss gradients by central
// differences for every parameter tensor, and a non-zero gradient for every named parameter.
#include "gradcheck.h"
#include "tapevit/layers/loss.h"
#include "tapevit/layers/vit.h"

using namespace tapevit;
using namespace tapevit::test;

namespace {
VitConfig tiny(const std::string& pool, double init_values, bool regularise) {
  VitConfig c;
  c.img_size = 8; c.patch_size = 4; c.in_chans = 2; c.num_classes = 3;
  c.embed_dim = 8; c.depth = 2; c.num_heads = 2; c.mlp_ratio = 1.5;
  c.global_pool = pool;
  c.init_values = init_values;
  if (regularise) {
    c.drop_rate = 0.1; c.pos_drop_rate = 0.1; c.proj_drop_rate = 0.1; c.attn_drop_rate = 0.1; c.drop_path_rate = 0.2;
  }
  return c;
}
}  // namespace

TEST_CASE("ViT: parameter names and shapes are timm's state_dict") {
  VitConfig c;  // vit_tiny_patch16_224
  c.embed_dim = 192; c.num_heads = 3;
  VisionTransformer<float> m(c);
  const auto& p = m.params();
  CHECK(p.info(0).name == "cls_token");
  CHECK(p.info(0).shape == Shape{1, 1, 192});
  CHECK(p.info(1).name == "pos_embed");
  CHECK(p.info(1).shape == Shape{1, 197, 192});
  CHECK(p.info(2).name == "patch_embed.proj.weight");
  CHECK(p.info(2).shape == Shape{192, 3, 16, 16});
  CHECK(p.find("blocks.11.attn.qkv.weight")->shape == Shape{576, 192});
  CHECK(p.find("blocks.11.mlp.fc1.weight")->shape == Shape{768, 192});
  CHECK(p.find("norm.weight") != nullptr);
  CHECK(p.find("fc_norm.weight") == nullptr);
  CHECK(p.info(p.size() - 1).name == "head.bias");
  CHECK(p.numel() == 5717416);  // timm reports 5.72M parameters for vit_tiny_patch16_224
  CHECK_FALSE(p.find("pos_embed")->decay);
  CHECK_FALSE(p.find("cls_token")->decay);
  CHECK_FALSE(p.find("blocks.0.norm1.weight")->decay);
  CHECK(p.find("blocks.0.attn.qkv.weight")->decay);
  CHECK(p.find("patch_embed.proj.weight")->decay);
}

TEST_CASE("ViT: avg pool uses fc_norm instead of norm, and drop path is linear over depth") {
  VitConfig c = tiny("avg", 0, false);
  c.depth = 5;
  c.drop_path_rate = 0.4;
  VisionTransformer<float> m(c);
  CHECK(m.params().find("fc_norm.weight") != nullptr);
  CHECK(m.params().find("norm.weight") == nullptr);
  CHECK(c.drop_path_at(0) == 0.0);
  CHECK(c.drop_path_at(2) == doctest::Approx(0.2));
  CHECK(c.drop_path_at(4) == doctest::Approx(0.4));
}

TEST_CASE("ViT: timm init (cls 1e-6 normal, pos_embed trunc-normal .02, LayerNorm 1/0), reproducible by seed") {
  VitConfig c = tiny("token", 0, false);
  c.embed_dim = 64; c.num_heads = 4;
  VisionTransformer<float> a(c, 123), b(c, 123), d(c, 124);
  auto& pa = a.params();
  CHECK(std::equal(pa.data(), pa.data() + pa.flat_size(), b.params().data()));
  CHECK_FALSE(std::equal(pa.data(), pa.data() + pa.flat_size(), d.params().data()));
  Var<float> cls = pa.at("cls_token"), pos = pa.at("pos_embed");
  for (int64_t i = 0; i < cls->numel(); ++i) CHECK(std::abs(cls->data[i]) < 1e-5f);
  double s2 = 0;
  for (int64_t i = 0; i < pos->numel(); ++i) s2 += double(pos->data[i]) * pos->data[i];
  CHECK(std::sqrt(s2 / double(pos->numel())) == doctest::Approx(0.02).epsilon(0.15));
  CHECK(pa.at("blocks.0.norm1.weight")->data[0] == 1.0f);
  CHECK(pa.at("blocks.0.norm1.bias")->data[0] == 0.0f);
}

TEST_CASE("ViT: inconsistent configs are errors naming the keys") {
  VitConfig c = tiny("token", 0, false);
  c.embed_dim = 10; c.num_heads = 3;
  CHECK_THROWS_WITH_AS(c.validate(), "embed_dim 10 is not divisible by num_heads 3", Error);
  c = tiny("token", 0, false);
  c.img_size = 3;
  CHECK_THROWS_WITH_AS(c.validate(), "img_size 3 is smaller than patch_size 4", Error);
  c = tiny("token", 0, false);
  c.class_token = false;
  CHECK_THROWS_WITH_AS(c.validate(), "global_pool = token needs a class token (class_token = true), or use global_pool = avg", Error);
  c = tiny("token", 0, false);
  c.act_layer = "relu";
  CHECK_THROWS_WITH_AS(c.validate(), "key 'act_layer' must be gelu, gelu_tanh or quick_gelu, got 'relu'", Error);
  c = tiny("token", 0, false);
  c.fc_norm = "maybe";
  CHECK_THROWS_WITH_AS(c.validate(), "key 'fc_norm' must be auto, true or false, got 'maybe'", Error);
  c = tiny("max", 0, false);
  CHECK_THROWS_WITH_AS(c.validate(), "key 'global_pool' must be token, avg or map, got 'max'", Error);
  c = tiny("token", 0, false);
  c.drop_path_rate = 1.0;
  CHECK_THROWS_WITH_AS(c.validate(), "key 'drop_path' must be in [0, 1), got 1", Error);
}

TEST_CASE("ViT: loss gradient of every parameter tensor by central differences (double)") {
  struct Case { const char* label; VitConfig cfg; double smoothing; };
  // the families of issue 11: registers, no_embed_class, pre_norm (CLIP), the activations, fc_norm/final_norm,
  // a floor patch grid
  VitConfig reg = tiny("avg", 0, false);  // DINOv2-reg / SBB style: cls + 2 registers, avg excludes them
  reg.reg_tokens = 2;
  VitConfig noembed = tiny("token", 0.3, false);  // DeiT-3 style: no_embed_class + LayerScale
  noembed.no_embed_class = true;
  VitConfig clip = tiny("token", 0, false);  // CLIP: pre_norm, eps 1e-5, quick_gelu
  clip.pre_norm = true, clip.norm_eps = 1e-5, clip.act_layer = "quick_gelu";
  VitConfig siglip = tiny("avg", 0, false);  // SigLIP gap: no class token, gelu_tanh, final norm before avg pool
  siglip.class_token = false, siglip.act_layer = "gelu_tanh", siglip.fc_norm = "false";
  VitConfig regs_only = tiny("avg", 0, true);  // registers without a class token, no final norm, dropouts
  regs_only.class_token = false, regs_only.reg_tokens = 3, regs_only.final_norm = false, regs_only.no_embed_class = true;
  VitConfig siglip_map = tiny("map", 0, false);  // SigLIP: no class token, attention pool over the patches
  siglip_map.class_token = false;
  VitConfig map_regs = tiny("map", 0, false);  // map with a class token and registers: the prefix is dropped first
  map_regs.reg_tokens = 1;
  VitConfig distilled = tiny("token", 0, true);  // DeiT distilled: cls + dist token, two heads averaged, dropouts
  distilled.distilled = true;
  VitConfig floor_grid = tiny("token", 0, false);  // img 10, patch 4: a 2x2 grid, the last rows/columns unread
  floor_grid.img_size = 10;
  const Case cases[] = {
      {"ViT token pool, smoothing 0.1", tiny("token", 0, false), 0.1},
      {"ViT avg pool + LayerScale", tiny("avg", 0.3, false), 0.0},
      {"ViT token pool, all dropouts + drop path", tiny("token", 0.5, true), 0.1},
      {"ViT cls + 2 registers, avg pool", reg, 0.0},
      {"ViT no_embed_class + LayerScale", noembed, 0.1},
      {"ViT CLIP: pre_norm, eps 1e-5, quick_gelu", clip, 0.0},
      {"ViT SigLIP gap: no class token, gelu_tanh, norm then avg", siglip, 0.0},
      {"ViT 3 registers no cls, no_embed_class, no final norm, dropouts", regs_only, 0.1},
      {"ViT img 10 patch 4 (floor grid)", floor_grid, 0.0},
      {"ViT SigLIP map pool, no class token", siglip_map, 0.0},
      {"ViT map pool after cls + 1 register", map_regs, 0.1},
      {"ViT DeiT distilled (dist_token, head_dist), dropouts", distilled, 0.1},
  };
  for (const auto& cs : cases) {
    VisionTransformer<double> m(cs.cfg, 17);
    auto& p = m.params();
    // General position: timm's std .02 init makes deep gradients ~1e-5 of the loss, where the stencil's
    // round-off (|L| eps / h ~ 1e-13) dominates; fan-in scaled weights keep every gradient O(1e-2..1).
    for (size_t i = 0; i < p.size(); ++i) {
      const ParamInfo& info = p.info(i);
      if (info.shape.rank == 1)  // LayerNorm weights around 1, biases and LayerScale gammas around 0
        fill_param(p.value(i), 200 + i, 0.2, info.init.kind == InitSpec::Ones ? 1.0 : 0.0);
      else if (info.name == "cls_token" || info.name == "pos_embed" || info.name == "reg_token" ||
               info.name == "attn_pool.latent" || info.name == "dist_token")
        fill_param(p.value(i), 200 + i, 0.5);
      else
        fill_param(p.value(i), 200 + i, 1.0 / std::sqrt(double(info.shape.numel() / info.shape[0])));
    }
    const int64_t S = cs.cfg.img_size;
    Leaf img({3, 2, S, S}, 5, 1.0, /*requires_grad=*/true);
    int32_t labels[] = {2, 0, 1};
    std::vector<Wrt> wrt{{"images", img.var()}};
    for (size_t i = 0; i < p.size(); ++i) wrt.push_back({p.info(i).name, p.value(i), true});
    auto reps = gradcheck(
        [&](Tape<double>& t) { return cross_entropy(t, m(t, img.var()), labels, cs.smoothing); }, wrt, &p,
        /*training=*/cs.cfg.drop_path_rate > 0, /*max_entries=*/12);
    expect_grads_ok(cs.label, reps);
  }
}

TEST_CASE("ViT: the families' parameters are timm's: registers, no_embed_class, pre_norm, fc_norm and final_norm") {
  VitConfig c = tiny("avg", 0, false);
  c.reg_tokens = 4, c.no_embed_class = true, c.pre_norm = true;
  VisionTransformer<float> m(c);
  const auto& p = m.params();
  REQUIRE(p.find("reg_token"));
  CHECK(p.find("reg_token")->shape == Shape{1, 4, 8});
  CHECK(p.find("pos_embed")->shape == Shape{1, 4, 8});  // the 2x2 patches only
  CHECK(p.find("patch_embed.proj.bias") == nullptr);
  CHECK(p.find("norm_pre.weight"));
  CHECK(p.find("fc_norm.weight"));  // avg: fc_norm, no norm
  CHECK(p.find("norm.weight") == nullptr);
  CHECK(!takes_weight_decay("reg_token", Shape{1, 4, 8}));
  CHECK(p.find("reg_token")->init.kind == InitSpec::Normal);
  CHECK(p.find("reg_token")->init.a == 1e-6);
  c = tiny("avg", 0, false);
  c.fc_norm = "false";  // SigLIP gap: norm before pooling
  VisionTransformer<float> g(c);
  CHECK(g.params().find("norm.weight"));
  CHECK(g.params().find("fc_norm.weight") == nullptr);
  c.final_norm = false;
  VisionTransformer<float> none(c);
  CHECK(none.params().find("norm.weight") == nullptr);
  CHECK(none.params().find("fc_norm.weight") == nullptr);
  c = tiny("token", 0, false);
  c.distilled = true;  // timm's state_dict order: cls_token, pos_embed, dist_token, ..., head, head_dist
  VisionTransformer<float> d(c);
  CHECK(d.params().info(0).name == "cls_token");
  CHECK(d.params().info(1).name == "pos_embed");
  CHECK(d.params().info(1).shape == Shape{1, 4 + 2, 8});
  CHECK(d.params().info(2).name == "dist_token");
  CHECK(d.params().info(d.params().size() - 2).name == "head_dist.weight");
  CHECK(!takes_weight_decay("dist_token", Shape{1, 1, 8}));
  c.global_pool = "avg";
  CHECK_THROWS_WITH_AS(c.validate(), "distilled (DeiT) needs global_pool = token and a class token, without reg_tokens or no_embed_class", Error);
  c = tiny("token", 0, false);
  c.fc_norm = "true";
  VisionTransformer<float> tf(c);
  CHECK(tf.params().find("fc_norm.weight"));
  CHECK(tf.params().find("norm.weight") == nullptr);
}

TEST_CASE("ViT: every named parameter receives a non-zero gradient") {
  for (const char* pool : {"token", "avg"}) {
    VisionTransformer<float> m(tiny(pool, 0.1, true), 3);
    auto& p = m.params();
    std::vector<float> img(size_t(4 * 2 * 8 * 8));
    for (size_t i = 0; i < img.size(); ++i) img[i] = float(std::cos(0.11 * double(i)));
    int32_t labels[] = {0, 1, 2, 0};
    Tape<float> t(size_t(1) << 26);
    t.training = true;
    t.rng = Rng{1, 0};
    Var<float> loss = cross_entropy(t, m(t, t.wrap(img.data(), {4, 2, 8, 8})), labels, 0.1);
    t.backward(loss);
    for (size_t i = 0; i < p.size(); ++i) {
      Var<float> v = p.value(i);
      double norm = 0;
      for (int64_t j = 0; j < v->numel(); ++j) norm += double(v->grad[j]) * v->grad[j];
      CHECK_MESSAGE(norm > 0, pool << ": no gradient reached " << p.info(i).name);
    }
  }
}

TEST_CASE("ViT: slices of a batch with Tape::row0 draw the whole batch's dropout, attention-dropout and drop-path masks") {
  // Data parallelism and gradient accumulation split a batch by rows. With the draws keyed by global row, each
  // slice's logits are the whole batch's rows and the slices' gradients (each seeded with its share of the mean)
  // add up to the whole batch's. In double precision; the tolerance covers the summation order only.
  VitConfig c = tiny("token", 0.5, true);
  c.drop_rate = 0.3, c.attn_drop_rate = 0.3, c.drop_path_rate = 0.4;
  VisionTransformer<double> m(c, 7);
  auto& p = m.params();
  const int64_t B = 6, img = 2 * 8 * 8;
  std::vector<double> x(size_t(B * img));
  for (size_t i = 0; i < x.size(); ++i) x[i] = std::sin(0.37 * double(i));
  int32_t labels[B] = {2, 0, 1, 1, 2, 0};
  auto run = [&](int64_t row0, int64_t rows, double share, std::vector<double>& logits) {
    Tape<double> t(size_t(1) << 26);
    t.training = true;
    t.rng = Rng{99, 3};
    t.row0 = row0;
    Var<double> z = m(t, t.wrap(x.data() + row0 * img, {rows, 2, 8, 8}));
    logits.assign(z->data, z->data + rows * 3);
    Var<double> loss = cross_entropy(t, z, labels + row0, 0.1);
    const double seed = share;
    t.backward(loss, &seed);
  };
  std::vector<double> whole, a, b;
  p.zero_grad();
  run(0, B, 1.0, whole);
  std::vector<double> g_whole(p.grad(), p.grad() + p.flat_size());
  p.zero_grad();
  run(0, 2, 2.0 / 6.0, a);
  run(2, 4, 4.0 / 6.0, b);  // accumulates onto the first slice's gradients
  a.insert(a.end(), b.begin(), b.end());
  REQUIRE(a.size() == whole.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == doctest::Approx(whole[i]).epsilon(1e-12));
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < p.flat_size(); ++i) {
    diff += (p.grad()[i] - g_whole[size_t(i)]) * (p.grad()[i] - g_whole[size_t(i)]);
    norm += g_whole[size_t(i)] * g_whole[size_t(i)];
  }
  CHECK(norm > 0);
  CHECK(std::sqrt(diff / norm) < 1e-12);
  // without row0 the second slice would redraw the first slice's masks: the logits differ
  std::vector<double> wrong;
  {
    Tape<double> t(size_t(1) << 26);
    t.training = true;
    t.rng = Rng{99, 3};
    Var<double> z = m(t, t.wrap(x.data() + 2 * img, {4, 2, 8, 8}));
    wrong.assign(z->data, z->data + 12);
  }
  CHECK(!std::equal(wrong.begin(), wrong.end(), whole.begin() + 6));
}
