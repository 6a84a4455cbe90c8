// tests/test_layernorm.cpp
#include "gradcheck.h"
#include "tapevit/layers/layernorm.h"

#include <cmath>
#include <string>
#include <vector>

using namespace tapevit;
using namespace tapevit::test;

TEST_CASE("LayerNorm: normalises each row with biased variance and eps 1e-6") {
  Params<double> p;
  LayerNorm<double> ln(p, "norm", 3);
  p.allocate();
  p.init(0);
  CHECK(ln.weight->data[0] == 1.0);  // init (1, 0)
  CHECK(ln.bias->data[0] == 0.0);
  ln.weight->data[1] = 2.0;
  ln.bias->data[2] = 0.5;
  double xs[] = {1, 2, 3};
  Tape<double> t(1 << 24);
  Var<double> y = ln(t, t.wrap(xs, {1, 3}));
  const double s = 1.0 / std::sqrt(2.0 / 3.0 + 1e-6);  // var = 2/3 (biased)
  CHECK(y->data[0] == doctest::Approx(-s).epsilon(1e-14));
  CHECK(y->data[1] == doctest::Approx(0.0));
  CHECK(y->data[2] == doctest::Approx(s + 0.5).epsilon(1e-14));
}

TEST_CASE("LayerNorm: gradients of input, weight and bias") {
  for (int64_t C : {9, 37}) {  // 37: two blocks of the 16 interleaved partial sums and a ragged tail
    Params<double> p;
    LayerNorm<double> ln(p, "norm1", C);
    p.allocate();
    fill_param(ln.weight, 21, 0.5, 1.0);
    fill_param(ln.bias, 22, 0.5);
    Leaf x({3, 4, C}, 23, 2.0);
    for (int64_t i = 0; i < C; ++i) x.data[size_t(i)] += 5.0;  // a row with a large mean
    auto reps = gradcheck([&](Tape<double>& t) { return ln(t, x.var()); },
                          {{"x", x.var()}, {"weight", ln.weight, true}, {"bias", ln.bias, true}}, &p);
    expect_grads_ok("LayerNorm(" + std::to_string(C) + ") x[3,4," + std::to_string(C) + "]", reps);
  }
}

TEST_CASE("LayerNorm: a row of 37 values against a sum in long double") {
  Params<double> p;
  LayerNorm<double> ln(p, "norm", 37);
  p.allocate();
  p.init(0);
  std::vector<double> xs(37);
  for (size_t i = 0; i < xs.size(); ++i) xs[i] = 100.0 + std::sin(double(i) * 1.7) * 3.0;  // large mean
  long double m = 0, v = 0;
  for (double x : xs) m += x;
  m /= 37;
  for (double x : xs) v += (x - m) * (x - m);
  v /= 37;
  const long double s = 1.0L / std::sqrt(v + 1e-6L);
  Tape<double> t(1 << 24);
  Var<double> y = ln(t, t.wrap(xs.data(), {1, 37}));
  for (size_t i = 0; i < xs.size(); ++i) CHECK(y->data[i] == doctest::Approx(double((xs[i] - m) * s)).epsilon(1e-12));
}

TEST_CASE("LayerNorm: wrong last dim names the layer") {
  Params<float> p;
  LayerNorm<float> ln(p, "blocks.3.norm1", 192);
  p.allocate();
  std::vector<float> xs(8 * 197 * 384);
  Tape<float> t;
  CHECK_THROWS_WITH_AS(ln(t, t.wrap(xs.data(), {8, 197, 384})),
                       "LayerNorm 'blocks.3.norm1' input: got [8, 197, 384], expected [*, 192]", Error);
}
