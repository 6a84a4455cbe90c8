// tests/test_gelu.cpp
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
