// tests/test_gelu.cpp
#include <cmath>

#include "gradcheck.h"
#include "tapevit/layers/gelu.h"

using namespace tapevit;
using namespace tapevit::test;

TEST_CASE("GELU: exact erf form, not the tanh approximation") {
  // x * Phi(x) with Phi the standard normal CDF: Phi(1) = 0.8413447460685429, Phi(-1) = 0.15865525393145707.
  double xs[] = {0.0, 1.0, -1.0, 3.0};
  Tape<double> t(1 << 24);
  Var<double> y = gelu(t, t.wrap(xs, {4}));
  CHECK(y->data[0] == 0.0);
  CHECK(y->data[1] == doctest::Approx(0.8413447460685429).epsilon(1e-15));
  CHECK(y->data[2] == doctest::Approx(-0.15865525393145707).epsilon(1e-15));
  // the tanh form gives 2.99636... at 3; the erf form 3 * Phi(3) = 2.995950...
  CHECK(y->data[3] == doctest::Approx(3.0 * 0.9986501019683699).epsilon(1e-15));
}

TEST_CASE("GELU: input gradient") {
  Leaf x({4, 33}, 31, 2.0);
  auto reps = gradcheck([&](Tape<double>& t) { return gelu(t, x.var()); }, {{"x", x.var()}});
  expect_grads_ok("GELU x[4,33]", reps);
}

TEST_CASE("gelu_tanh and quick_gelu: PyTorch's formulas at hand-checked points") {
  // GELU(approximate='tanh')(1) = 0.5 (1 + tanh(sqrt(2/pi) 1.044715)) = 0.8411919906082768
  // QuickGELU(1) = sigmoid(1.702) = 0.8457957659328212;  QuickGELU(-2) = -2 sigmoid(-3.404) = -0.0643365...
  double xs[] = {0.0, 1.0, -2.0};
  Tape<double> t(1 << 24);
  Var<double> a = activation(t, t.wrap(xs, {3}), Act::GeluTanh);
  CHECK(a->data[0] == 0.0);
  CHECK(a->data[1] == doctest::Approx(0.8411919906082768).epsilon(1e-14));
  CHECK(a->data[2] == doctest::Approx(-2 * 0.5 * (1 + std::tanh(0.7978845608028654 * (-2 - 0.044715 * 8)))).epsilon(1e-14));
  Var<double> q = activation(t, t.wrap(xs, {3}), Act::QuickGelu);
  CHECK(q->data[0] == 0.0);
  CHECK(q->data[1] == doctest::Approx(1.0 / (1.0 + std::exp(-1.702))).epsilon(1e-14));
  CHECK(q->data[2] == doctest::Approx(-2.0 / (1.0 + std::exp(3.404))).epsilon(1e-14));
  CHECK(act_from_name("quick_gelu") == Act::QuickGelu);
  CHECK_THROWS_WITH_AS(act_from_name("swish"), "key 'act_layer' must be gelu, gelu_tanh or quick_gelu, got 'swish'", Error);
}

TEST_CASE("gelu_tanh and quick_gelu: input gradients") {
  for (Act act : {Act::GeluTanh, Act::QuickGelu}) {
    Leaf x({4, 33}, 32, 2.0);
    expect_grads_ok(act == Act::GeluTanh ? "gelu_tanh x[4,33]" : "quick_gelu x[4,33]",
                    gradcheck([&](Tape<double>& t) { return activation(t, x.var(), act); }, {{"x", x.var()}}));
  }
}
