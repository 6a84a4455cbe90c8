// tests/test_dropout.cpp: Dropout statistics, eval identity, and gradients with a fixed mask.
#include "gradcheck.h"
#include "tapevit/layers/dropout.h"

using namespace tapevit;
using namespace tapevit::test;

TEST_CASE("Dropout: zeroes about p of the elements, scales the rest by 1/(1-p), identity in eval") {
  std::vector<double> xs(100000, 1.0);
  Tape<double> t(1 << 26);
  t.training = true;
  t.rng = Rng{42, 0};
  Var<double> x = t.wrap(xs.data(), {100000}, true);
  Var<double> y = dropout(t, x, 0.25);
  int64_t zeros = 0;
  for (int64_t i = 0; i < y->numel(); ++i) {
    if (y->data[i] == 0) ++zeros;
    else REQUIRE(y->data[i] == doctest::Approx(1.0 / 0.75));
  }
  CHECK(double(zeros) / 1e5 == doctest::Approx(0.25).epsilon(0.02));
  t.training = false;
  CHECK(dropout(t, x, 0.25) == x);  // eval: the same tensor, no node
  t.training = true;
  CHECK(dropout(t, x, 0.0) == x);
}

TEST_CASE("Dropout: gradient flows only through kept elements") {
  Leaf x({6, 10}, 41);
  auto reps = gradcheck([&](Tape<double>& t) { return dropout(t, x.var(), 0.3); }, {{"x", x.var()}}, nullptr, true);
  expect_grads_ok("Dropout(p=0.3) x[6,10]", reps);
}
