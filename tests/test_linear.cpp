// tests/test_linear.cpp: Linear forward by hand, and gradients by central differences.
#include "gradcheck.h"
#include "tapevit/layers/linear.h"

using namespace tapevit;
using namespace tapevit::test;

TEST_CASE("Linear: y = x W^T + b on a hand-checkable case") {
  Params<double> p;
  Linear<double> lin(p, "fc", 2, 3);
  p.allocate();
  const double w[] = {1, 0, 0, 1, 1, 1}, b[] = {0.5, 0, -1};
  std::copy(w, w + 6, lin.weight->data);
  std::copy(b, b + 3, lin.bias->data);
  double xs[] = {1, 2, -1, 3};
  Tape<double> t(1 << 24);
  Var<double> y = lin(t, t.wrap(xs, {2, 2}));
  CHECK(y->shape == Shape{2, 3});
  const double expect[] = {1.5, 2, 2, -0.5, 3, 1};
  for (int i = 0; i < 6; ++i) CHECK(y->data[i] == doctest::Approx(expect[i]));
}

TEST_CASE("Linear: names, shapes and timm init") {
  Params<float> p;
  Linear<float> lin(p, "blocks.0.mlp.fc1", 192, 768);
  p.allocate();
  p.init(1);
  CHECK(p.info(0).name == "blocks.0.mlp.fc1.weight");
  CHECK(p.info(0).shape == Shape{768, 192});
  CHECK(p.info(0).decay);
  CHECK(p.info(1).name == "blocks.0.mlp.fc1.bias");
  CHECK_FALSE(p.info(1).decay);
  double s = 0, s2 = 0;
  const int64_t n = 768 * 192;
  for (int64_t i = 0; i < n; ++i) s += lin.weight->data[i], s2 += double(lin.weight->data[i]) * lin.weight->data[i];
  CHECK(std::abs(s / n) < 1e-3);
  CHECK(std::sqrt(s2 / n) == doctest::Approx(0.02).epsilon(0.02));  // trunc-normal std .02 (cut at +-2: no effect)
  for (int64_t i = 0; i < 768; ++i) REQUIRE(lin.bias->data[i] == 0.0f);
}

TEST_CASE("Linear: gradients of input, weight and bias (double, central differences)") {
  for (bool bias : {true, false}) {
    Params<double> p;
    Linear<double> lin(p, "fc", 5, 7, bias);
    p.allocate();
    fill_param(lin.weight, 11);
    if (bias) fill_param(lin.bias, 12);
    Leaf x({2, 3, 5}, 13);
    std::vector<Wrt> wrt{{"x", x.var()}, {"weight", lin.weight, true}};
    if (bias) wrt.push_back({"bias", lin.bias, true});
    auto reps = gradcheck([&](Tape<double>& t) { return lin(t, x.var()); }, wrt, &p);
    expect_grads_ok(bias ? "Linear(5->7, bias) x[2,3,5]" : "Linear(5->7, no bias) x[2,3,5]", reps);
  }
}

TEST_CASE("Linear: a wrong input shape is an error naming the layer and both shapes") {
  Params<float> p;
  Linear<float> lin(p, "blocks.3.attn.proj", 8, 8);
  p.allocate();
  std::vector<float> xs(2 * 6);
  Tape<float> t(1 << 24);
  try {
    lin(t, t.wrap(xs.data(), {2, 6}));
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(std::string(e.what()) == "Linear 'blocks.3.attn.proj' input: got [2, 6], expected [*, 8]");
  }
}
