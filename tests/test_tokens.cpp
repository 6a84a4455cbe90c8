// tests/test_tokens.cpp: cls concat + pos_embed, and token / avg pooling.
#include "gradcheck.h"
#include "tapevit/layers/tokens.h"

using namespace tapevit;
using namespace tapevit::test;

TEST_CASE("embed_tokens: cls token first, then pos_embed added to every token") {
  double x[] = {1, 2, 3, 4};  // B=1, Np=2, C=2
  double cls[] = {10, 20};
  double pos[] = {100, 200, 300, 400, 500, 600};
  Tape<double> t(1 << 24);
  Var<double> y = embed_tokens(t, t.wrap(x, {1, 2, 2}), t.wrap(cls, {1, 1, 2}), t.wrap(pos, {1, 3, 2}));
  const double expect[] = {110, 220, 301, 402, 503, 604};
  for (int i = 0; i < 6; ++i) CHECK(y->data[i] == expect[i]);
}

TEST_CASE("pool: token takes the cls row, avg the mean of patch tokens") {
  double x[] = {1, 2, 3, 4, 5, 6};  // B=1, N=3, C=2
  Tape<double> t(1 << 24);
  Var<double> a = pool_tokens(t, t.wrap(x, {1, 3, 2}), Pool::Token);
  Var<double> b = pool_tokens(t, t.wrap(x, {1, 3, 2}), Pool::Avg);
  CHECK(a->data[0] == 1);
  CHECK(a->data[1] == 2);
  CHECK(b->data[0] == 4);
  CHECK(b->data[1] == 5);
}

TEST_CASE("embed_tokens and pool: gradients") {
  Leaf x({3, 4, 5}, 1), cls({1, 1, 5}, 2), pos({1, 5, 5}, 3);
  expect_grads_ok("embed_tokens B3 Np4 C5",
                  gradcheck([&](Tape<double>& t) { return embed_tokens(t, x.var(), cls.var(), pos.var()); },
                            {{"x", x.var()}, {"cls_token", cls.var()}, {"pos_embed", pos.var()}}));
  Leaf z({3, 5, 4}, 4);
  for (Pool m : {Pool::Token, Pool::Avg})
    expect_grads_ok(m == Pool::Token ? "pool token B3 N5 C4" : "pool avg B3 N5 C4",
                    gradcheck([&](Tape<double>& t) { return pool_tokens(t, z.var(), m); }, {{"x", z.var()}}));
}
