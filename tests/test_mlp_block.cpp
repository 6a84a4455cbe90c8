// tests/test_mlp_block.cpp: Mlp and TransformerBlock (composites), names and gradients.
#include "gradcheck.h"
#include "tapevit/layers/mlp.h"
#include "tapevit/layers/transformer_block.h"

using namespace tapevit;
using namespace tapevit::test;

namespace {
std::vector<Wrt> all_params(Params<double>& p) {
  std::vector<Wrt> w;
  for (size_t i = 0; i < p.size(); ++i) w.push_back({p.info(i).name, p.value(i), true});
  return w;
}

// Every block parameter random (scale 0.3), LayerNorm weights around 1, so no gradient is zero by construction.
void fill_block_params(Params<double>& p, uint64_t seed) {
  p.allocate();
  for (size_t i = 0; i < p.size(); ++i) {
    const std::string& n = p.info(i).name;
    fill_param(p.value(i), seed + i, 0.3, n.find("norm") != std::string::npos && n.ends_with("weight") ? 1.0 : 0.0);
  }
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

TEST_CASE("TransformerBlock: timm names and every gradient, plain, with DropPath + attention dropout (fused "
          "nodes) and with LayerScale + DropPath + dropouts (composed layers)") {
  for (int variant = 0; variant < 3; ++variant) {
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
    if (variant == 2) {
      bc.drop_path = 0.3;
      bc.attn_drop = 0.1;
    }
    Params<double> p;
    TransformerBlock<double> blk(p, "blocks.1", bc);
    fill_block_params(p, 90);
    std::vector<std::string> names;
    for (auto& info : p.infos()) names.push_back(info.name);
    if (variant == 0)
      CHECK(names == std::vector<std::string>{"blocks.1.norm1.weight", "blocks.1.norm1.bias", "blocks.1.attn.qkv.weight",
                                              "blocks.1.attn.qkv.bias", "blocks.1.attn.proj.weight", "blocks.1.attn.proj.bias",
                                              "blocks.1.norm2.weight", "blocks.1.norm2.bias", "blocks.1.mlp.fc1.weight",
                                              "blocks.1.mlp.fc1.bias", "blocks.1.mlp.fc2.weight", "blocks.1.mlp.fc2.bias"});
    else if (variant == 1)
      CHECK(names == std::vector<std::string>{"blocks.1.norm1.weight", "blocks.1.norm1.bias", "blocks.1.attn.qkv.weight",
                                              "blocks.1.attn.proj.weight", "blocks.1.attn.proj.bias", "blocks.1.ls1.gamma",
                                              "blocks.1.norm2.weight", "blocks.1.norm2.bias", "blocks.1.mlp.fc1.weight",
                                              "blocks.1.mlp.fc1.bias", "blocks.1.mlp.fc2.weight", "blocks.1.mlp.fc2.bias",
                                              "blocks.1.ls2.gamma"});
    Leaf x({3, 4, 8}, 89);
    auto wrt = all_params(p);
    wrt.insert(wrt.begin(), {"x", x.var()});
    auto reps = gradcheck([&](Tape<double>& t) { return blk(t, x.var()); }, wrt, &p, /*training=*/true, 0, /*seed=*/3);
    const char* what[] = {"Block C8 H2 plain", "Block C8 H2 ls+droppath+dropout", "Block C8 H2 droppath+attn_drop"};
    expect_grads_ok(what[variant], reps);
  }
}

TEST_CASE("TransformerBlock: the fused nodes compute what the composed layers compute (values and gradients)") {
  for (double drop_path : {0.25, 0.0}) {  // with drop path the branch is a temporary; without, the GEMM accumulates
    CAPTURE(drop_path);
    BlockConfig bc;
    bc.dim = 12;
    bc.num_heads = 3;
    bc.mlp_hidden = 20;
    bc.drop_path = drop_path;
    bc.attn_drop = 0.1;
    Params<double> p;
    TransformerBlock<double> blk(p, "blocks.0", bc);
    fill_block_params(p, 300);
    Leaf x({5, 7, 12}, 17);
    const std::vector<double> r = random_vector(5 * 7 * 12, 18);
    auto run = [&](bool fused, std::vector<double>& out, std::vector<double>& grads, std::vector<double>& dx) {
      Tape<double> t(size_t(1) << 26);
      t.training = true;
      t.rng = Rng{21, 0};
      p.zero_grad();
      x.value.grad = nullptr;
      Var<double> y;
      if (fused) {
        y = blk(t, x.var());
      } else {  // timm's Block.forward spelled out with the separate layers
        Var<double> h = residual_add(t, x.var(), blk.attn(t, blk.norm1(t, x.var())), nullptr, bc.drop_path);
        y = residual_add(t, h, blk.mlp(t, blk.norm2(t, h)), nullptr, bc.drop_path);
      }
      out.assign(y->data, y->data + y->numel());
      t.backward(y, r.data());
      grads.assign(p.grad(), p.grad() + p.flat_size());
      dx.assign(x.value.grad, x.value.grad + x.value.numel());
    };
    std::vector<double> yf, gf, dxf, yc, gc, dxc;
    run(true, yf, gf, dxf);
    run(false, yc, gc, dxc);
    auto max_diff = [](const std::vector<double>& a, const std::vector<double>& b) {
      REQUIRE(a.size() == b.size());
      double m = 0, s = 0;
      for (size_t i = 0; i < a.size(); ++i) {
        m = std::max(m, std::abs(a[i] - b[i]));
        s = std::max(s, std::abs(b[i]));
      }
      return m / std::max(s, 1e-300);
    };
    bool dropped_some = false;  // some sample must lose both branches (y == x) in this draw, or drop path is untested
    for (int64_t b = 0; b < 5; ++b) {
      double d = 0;
      for (int64_t i = 0; i < 7 * 12; ++i) d += std::abs(yf[size_t(b * 84 + i)] - x.data[size_t(b * 84 + i)]);
      dropped_some |= d == 0;
    }
    MESSAGE("fused vs composed, max relative difference: out " << max_diff(yf, yc) << ", param grads "
            << max_diff(gf, gc) << ", dx " << max_diff(dxf, dxc));
    CHECK(max_diff(yf, yc) < 1e-13);
    CHECK(max_diff(gf, gc) < 1e-12);
    CHECK(max_diff(dxf, dxc) < 1e-12);
    CHECK(dropped_some == (drop_path > 0));
  }
}
