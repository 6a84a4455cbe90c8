// tests/test_finetune.cpp: fine-tuning features: timm's layer-wise lr decay (layer ids and scales, an optimizer
// step with a scale equal to one at the scaled lr, and a training run's first step scaled per layer group) and
// freezing all but the head (a linear probe).
#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <sstream>

#include "fake_data.h"
#include "tapevit/layers/vit.h"
#include "tapevit/optim/optimizer.h"
#include "tapevit/io/checkpoint.h"
#include "tapevit/io/h5.h"
#include "tapevit/train/train.h"

using namespace tapevit;

namespace {
VitConfig tiny(const std::string& pool = "token") {
  VitConfig v;
  v.img_size = 8, v.patch_size = 4, v.in_chans = 1, v.num_classes = 3, v.embed_dim = 8, v.depth = 2, v.num_heads = 2;
  v.global_pool = pool;
  return v;
}
}  // namespace

TEST_CASE("layer_decay_scales: timm's groups for token, avg, registers, pre_norm and head-less models") {
  // timm's rule (param_groups_layer_decay + VisionTransformer.group_matcher, timm 1.0.28): stem
  // cls/reg/pos/patch_embed 0, blocks.i i+1, norm and norm_pre with the last block, head and fc_norm one above; the
  // top id is the head's if the model has one of those (head, head_dist, fc_norm, attn_pool), else the last block's.
  // depth 2, decay 0.5.
  struct Case {
    const char* label;
    VitConfig cfg;
    int64_t top;  // the top layer id
  };
  VitConfig token = tiny("token"), avg = tiny("avg"), regs = tiny("avg"), clip = tiny("token"), headless = tiny("token");
  regs.reg_tokens = 2, regs.class_token = false, regs.no_embed_class = true;
  clip.pre_norm = true;
  headless.num_classes = 0;  // DINOv2 as published: norm, no head -> top id = depth
  VitConfig map = tiny("map");  // SigLIP: attn_pool.* in the head group
  map.class_token = false;
  VitConfig map_headless = map;
  map_headless.num_classes = 0;  // attn_pool alone still makes a top group
  VitConfig distilled = tiny("token");
  distilled.distilled = true;  // dist_token in the stem, head_dist on top
  VitConfig headless_avg = headless;
  headless_avg.global_pool = "avg";  // fc_norm is in the head group, so it is still there
  const Case cases[] = {{"token", token, 3}, {"avg", avg, 3}, {"registers", regs, 3}, {"pre_norm", clip, 3},
                        {"no head", headless, 2}, {"no head, avg (fc_norm)", headless_avg, 3}, {"map", map, 3},
                        {"map, no head", map_headless, 3}, {"distilled", distilled, 3}};
  for (const auto& c : cases) {
    VisionTransformer<float> m(c.cfg, 1);
    const auto s = layer_decay_scales(m.params(), 2, 0.5);
    REQUIRE(s.size() == m.params().size());
    for (size_t i = 0; i < s.size(); ++i) {
      const std::string& n = m.params().info(i).name;
      int64_t id = 3;  // head, fc_norm
      if (n == "cls_token" || n == "reg_token" || n == "dist_token" || n == "pos_embed" || n.rfind("patch_embed.", 0) == 0)
        id = 0;
      else if (n.rfind("blocks.0.", 0) == 0) id = 1;
      else if (n.rfind("blocks.1.", 0) == 0 || n.rfind("norm.", 0) == 0 || n.rfind("norm_pre.", 0) == 0) id = 2;
      CHECK_MESSAGE(s[i] == std::pow(0.5, double(c.top - id)), c.label << ": " << n);
    }
  }
  VisionTransformer<float> m(tiny(), 1);
  CHECK_THROWS_WITH_AS(layer_decay_scales(m.params(), 2, 1.5), "layer_decay: must be in (0, 1], got 1.5", Error);
}

TEST_CASE("Optimizer: an lr scale s steps exactly as the unscaled optimizer at lr * s (AdamW and SGD)") {
  for (const std::string kind : {"adamw", "sgd"}) {
    VisionTransformer<double> a(tiny(), 1), b(tiny(), 1);
    OptimConfig oc;
    oc.opt = kind;
    auto oa = make_optimizer(oc, a.params()), ob = make_optimizer(oc, b.params());
    const auto scales = layer_decay_scales(a.params(), 2, 0.5);
    oa->set_lr_scales(scales);
    for (auto* m : {&a, &b})
      for (int64_t j = 0; j < m->params().flat_size(); ++j) m->params().grad()[j] = std::sin(0.37 * double(j));
    oa->step(a.params(), 1e-2);
    // b: one parameter at a time, each at its own scaled lr (others frozen for that step)
    for (size_t i = 0; i < b.params().size(); ++i) {
      for (size_t k = 0; k < b.params().size(); ++k) b.params().value(k)->requires_grad = k == i;
      ob->set_steps(0);
      ob->step(b.params(), 1e-2 * scales[i]);
    }
    for (size_t i = 0; i < a.params().size(); ++i) {
      const auto& info = a.params().info(i);
      for (int64_t j = info.offset; j < info.offset + info.shape.numel(); ++j)
        REQUIRE_MESSAGE(a.params().data()[j] == doctest::Approx(b.params().data()[j]).epsilon(1e-14), kind << " " << info.name);
    }
  }
}

TEST_CASE("Fine-tune: freeze = all_but_head trains head.* only, and layer_decay scales each layer group's step as timm") {
  const std::string data = test::make_stripes_mnist("stripes_finetune", 256, 64);
  ConfigValues v;
  auto set = [&](const char* k, const std::string& x) { v[k] = {x, "test"}; };
  set("dataset", "mnist");
  set("data_dir", data);
  set("patch_size", "7");
  set("embed_dim", "16");
  set("depth", "2");
  set("num_heads", "2");
  set("batch_size", "32");
  set("epochs", "1");
  set("threads", "2");
  set("freeze", "all_but_head");
  const std::string out = (std::filesystem::temp_directory_path() / "tapevit_run_probe").string();
  std::filesystem::remove_all(out);
  set("output", out);
  TrainConfig cfg = resolve_config(v);
  train(cfg, {});
  VisionTransformer<float> init(cfg.vit, cfg.seed), trained(cfg.vit, cfg.seed);
  load_checkpoint<float>(out + "/last.h5", trained.params(), nullptr);
  for (const auto& info : init.params().infos()) {
    const float* a = init.params().data() + info.offset;
    const float* b = trained.params().data() + info.offset;
    const bool same = std::equal(a, a + info.shape.numel(), b);
    CHECK_MESSAGE(same == (info.name.rfind("head.", 0) != 0), info.name << std::string(same ? " unchanged" : " changed"));
  }
  // layer_decay through train(): the first optimizer step from the same weights on the same batch, with decay 0.75
  // and without. AdamW's step (weight decay included) is proportional to a tensor's lr, so each tensor moves by its
  // group's scale times its undecayed move: 0.75^(3 - id), with depth 2 and a head (stem 0, blocks.i i + 1, the head
  // and fc_norm 3).
  set("freeze", "none");
  set("sched", "constant");
  set("warmup_epochs", "0");
  auto first_step = [&](const char* layer_decay) {
    set("layer_decay", layer_decay);
    std::filesystem::remove_all(out);
    TrainOptions one;
    one.stop_after_steps = 1;
    const TrainConfig c = resolve_config(v);
    train(c, one);
    VisionTransformer<float> m(c.vit, c.seed);
    load_checkpoint<float>(out + "/last.h5", m.params(), nullptr);
    return std::vector<float>(m.params().data(), m.params().data() + m.params().flat_size());
  };
  const std::vector<float> decayed = first_step("0.75"), plain = first_step("0");
  std::set<int64_t> groups;
  for (const auto& info : init.params().infos()) {
    const std::string& n = info.name;
    int64_t id = 3;
    if (n == "cls_token" || n == "pos_embed" || n.rfind("patch_embed.", 0) == 0) id = 0;
    else if (n.rfind("blocks.0.", 0) == 0) id = 1;
    else if (n.rfind("blocks.1.", 0) == 0) id = 2;
    double moved = 0, moved_plain = 0;
    for (int64_t j = info.offset; j < info.offset + info.shape.numel(); ++j) {
      const double w0 = init.params().data()[j];
      moved += std::pow(decayed[size_t(j)] - w0, 2), moved_plain += std::pow(plain[size_t(j)] - w0, 2);
    }
    if (moved_plain == 0) continue;  // no step at all (a tensor without gradient or decay)
    groups.insert(id);
    const double ratio = std::sqrt(moved / moved_plain);
    CHECK_MESSAGE(ratio == doctest::Approx(std::pow(0.75, double(3 - id))).epsilon(1e-3),
                  n << " (layer id " << id << "): moved " << ratio << " x its step without layer_decay");
  }
  CHECK(groups == std::set<int64_t>{0, 1, 2, 3});
  set("freeze", "everything");
  CHECK_THROWS_WITH_AS(resolve_config(v), doctest::Contains("key 'freeze' must be none or all_but_head, got 'everything'"), Error);
  set("freeze", "none");
  set("layer_decay", "2");
  CHECK_THROWS_WITH_AS(resolve_config(v), doctest::Contains("key 'layer_decay' must be 0 (off) or in (0, 1], got 2"), Error);
}
