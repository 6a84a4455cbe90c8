// tests/test_mlp_block.cpp: Mlp and TransformerBlock (composites), names and gradients.
#include "gradcheck.h"
#include "layers/mlp.h"
#include "layers/transformer_block.h"

using namespace tapevit;
using namespace tapevit::test;

namespace {
std::vector<Wrt> all_params(Params<double>& p) {
  std::vector<Wrt> w;
  for (size_t i = 0; i < p.size(); ++i) w.push_back({p.info(i).name, p.value(i), true});
  return w;
}
}  // namespace

TEST_CASE("Mlp: fc1 -> GELU -> fc2 gradients, dropout active") {
  Params<double> p;
  Mlp<double> mlp(p, "blocks.0.mlp", 6, 10, 0.2);
  p.allocate();
  for (size_t i = 0; i < p.size(); ++i) fill_param(p.value(i), 80 + i, 0.5);
  CHECK(p.info(0).name == "blocks.0.mlp.fc1.weight");
  CHECK(p.info(2).name == "blocks.0.mlp.fc2.weight");
  CHECK(p.info(2).shape == Shape{6, 10});
  Leaf x({2, 3, 6}, 79);
  auto wrt = all_params(p);
  wrt.insert(wrt.begin(), {"x", x.var()});
  expect_grads_ok("Mlp(6->10->6, drop 0.2)", gradcheck([&](Tape<double>& t) { return mlp(t, x.var()); }, wrt, &p, true));
}

TEST_CASE("TransformerBlock: timm names and every gradient, plain and with LayerScale + DropPath + dropouts") {
  for (int variant = 0; variant < 2; ++variant) {
    BlockConfig bc;
    bc.dim = 8;
    bc.num_heads = 2;
    bc.mlp_hidden = 12;
    if (variant == 1) {
      bc.init_values = 0.5;
      bc.drop_path = 0.3;
      bc.attn_drop = 0.1;
      bc.proj_drop = 0.1;
      bc.qkv_bias = false;
    }
    Params<double> p;
    TransformerBlock<double> blk(p, "blocks.1", bc);
    p.allocate();
    p.init(5);
    for (size_t i = 0; i < p.size(); ++i) fill_param(p.value(i), 90 + i, 0.3, p.info(i).name.find("norm") != std::string::npos && p.info(i).name.ends_with("weight") ? 1.0 : 0.0);
    std::vector<std::string> names;
    for (auto& info : p.infos()) names.push_back(info.name);
    if (variant == 0)
      CHECK(names == std::vector<std::string>{"blocks.1.norm1.weight", "blocks.1.norm1.bias", "blocks.1.attn.qkv.weight",
                                              "blocks.1.attn.qkv.bias", "blocks.1.attn.proj.weight", "blocks.1.attn.proj.bias",
                                              "blocks.1.norm2.weight", "blocks.1.norm2.bias", "blocks.1.mlp.fc1.weight",
                                              "blocks.1.mlp.fc1.bias", "blocks.1.mlp.fc2.weight", "blocks.1.mlp.fc2.bias"});
    else
      CHECK(names == std::vector<std::string>{"blocks.1.norm1.weight", "blocks.1.norm1.bias", "blocks.1.attn.qkv.weight",
                                              "blocks.1.attn.proj.weight", "blocks.1.attn.proj.bias", "blocks.1.ls1.gamma",
                                              "blocks.1.norm2.weight", "blocks.1.norm2.bias", "blocks.1.mlp.fc1.weight",
                                              "blocks.1.mlp.fc1.bias", "blocks.1.mlp.fc2.weight", "blocks.1.mlp.fc2.bias",
                                              "blocks.1.ls2.gamma"});
    Leaf x({3, 4, 8}, 89);
    auto wrt = all_params(p);
    wrt.insert(wrt.begin(), {"x", x.var()});
    auto reps = gradcheck([&](Tape<double>& t) { return blk(t, x.var()); }, wrt, &p, /*training=*/true, 0, /*seed=*/3);
    expect_grads_ok(variant ? "Block C8 H2 ls+droppath+dropout" : "Block C8 H2 plain", reps);
  }
}
