// tests/test_residual.cpp: x + drop_path(ls(branch)) as one node: LayerScale, DropPath, and their gradients.
#include "gradcheck.h"
#include "tapevit/layers/residual.h"

using namespace tapevit;
using namespace tapevit::test;

TEST_CASE("DropPath: whole samples are dropped or scaled by 1/keep, eval is the identity") {
  const int64_t B = 2000, N = 3, C = 4;
  std::vector<double> xs(B * N * C, 1.0), bs(B * N * C, 2.0);
  Tape<double> t(1 << 26);
  t.training = true;
  t.rng = Rng{3, 0};
  Var<double> y = residual_add(t, t.wrap(xs.data(), {B, N, C}), t.wrap(bs.data(), {B, N, C}), nullptr, 0.2);
  int64_t dropped = 0;
  for (int64_t b = 0; b < B; ++b) {
    const double first = y->data[b * N * C];
    for (int64_t i = 1; i < N * C; ++i) REQUIRE(y->data[b * N * C + i] == first);  // per sample, not per element
    if (first == 1.0) ++dropped;
    else REQUIRE(first == doctest::Approx(1.0 + 2.0 / 0.8));
  }
  CHECK(double(dropped) / B == doctest::Approx(0.2).epsilon(0.1));
  t.training = false;
  Var<double> z = residual_add(t, t.wrap(xs.data(), {B, N, C}), t.wrap(bs.data(), {B, N, C}), nullptr, 0.2);
  CHECK(z->data[0] == 3.0);
}

TEST_CASE("LayerScale: gamma initialised to init_values and multiplies the branch") {
  Params<double> p;
  LayerScale<double> ls(p, "blocks.0.ls1", 4, 1e-5);
  p.allocate();
  p.init(0);
  CHECK(p.info(0).name == "blocks.0.ls1.gamma");
  CHECK_FALSE(p.info(0).decay);
  for (int i = 0; i < 4; ++i) CHECK(ls.gamma->data[i] == 1e-5);
}

TEST_CASE("Residual: gradients with and without LayerScale and DropPath") {
  for (int variant = 0; variant < 4; ++variant) {
    const bool with_ls = variant & 1, with_dp = variant & 2;
    Params<double> p;
    LayerScale<double> ls;
    if (with_ls) ls = LayerScale<double>(p, "ls1", 5, 0.1);
    p.allocate();
    if (with_ls) fill_param(ls.gamma, 51);
    Leaf x({4, 3, 5}, 52), br({4, 3, 5}, 53);
    std::vector<Wrt> wrt{{"x", x.var()}, {"branch", br.var()}};
    if (with_ls) wrt.push_back({"gamma", ls.gamma, true});
    auto reps = gradcheck([&](Tape<double>& t) { return residual_add(t, x.var(), br.var(), ls.gamma, with_dp ? 0.5 : 0.0); },
                          wrt, &p, /*training=*/true, 0, /*seed=*/11);
    expect_grads_ok(std::string("Residual") + (with_ls ? "+LayerScale" : "") + (with_dp ? "+DropPath(0.5)" : "") + " [4,3,5]",
                    reps);
  }
}
