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

TEST_CASE("embed_tokens: registers follow the class token, and no_embed_class gives the prefix no position") {
  double x[] = {1, 2, 3, 4};  // B=1, Np=2, C=2
  double cls[] = {10, 20}, reg[] = {30, 40, 50, 60};
  double pos_all[] = {100, 200, 300, 400, 500, 600, 700, 800, 900, 1000};  // P + Np = 5 rows
  double pos_patches[] = {100, 200, 300, 400};
  Tape<double> t(1 << 24);
  Var<double> a = embed_tokens(t, t.wrap(x, {1, 2, 2}), t.wrap(cls, {1, 1, 2}), t.wrap(pos_all, {1, 5, 2}),
                               t.wrap(reg, {1, 2, 2}), false);
  const double want_a[] = {110, 220, 330, 440, 550, 660, 701, 802, 903, 1004};
  for (int i = 0; i < 10; ++i) CHECK(a->data[i] == want_a[i]);
  Var<double> b = embed_tokens(t, t.wrap(x, {1, 2, 2}), t.wrap(cls, {1, 1, 2}), t.wrap(pos_patches, {1, 2, 2}),
                               t.wrap(reg, {1, 2, 2}), true);
  const double want_b[] = {10, 20, 30, 40, 50, 60, 101, 202, 303, 404};
  for (int i = 0; i < 10; ++i) CHECK(b->data[i] == want_b[i]);
  Var<double> c = embed_tokens(t, t.wrap(x, {1, 2, 2}), static_cast<Var<double>>(nullptr), t.wrap(pos_patches, {1, 2, 2}));
  const double want_c[] = {101, 202, 303, 404};  // no prefix at all
  for (int i = 0; i < 4; ++i) CHECK(c->data[i] == want_c[i]);
  CHECK_THROWS_WITH_AS(embed_tokens(t, t.wrap(x, {1, 2, 2}), t.wrap(cls, {1, 1, 2}), t.wrap(pos_all, {1, 5, 2}),
                                    t.wrap(reg, {1, 2, 2}), true),
                       "pos_embed: got [1, 5, 2], expected [1, 2, 2] (no_embed_class: patches only)", Error);
}

TEST_CASE("pool: avg skips every prefix token (registers too)") {
  double x[] = {1, 2, 3, 4, 5, 6, 7, 8};  // B=1, N=4 (cls, reg, 2 patches), C=2
  Tape<double> t(1 << 24);
  Var<double> a = pool_tokens(t, t.wrap(x, {1, 4, 2}), Pool::Avg, 2);
  CHECK(a->data[0] == 6);
  CHECK(a->data[1] == 7);
}

TEST_CASE("embed_tokens with registers and no_embed_class, and prefix-aware pooling: gradients") {
  for (bool no_embed : {false, true})
    for (bool with_cls : {true, false}) {
      Leaf x({3, 4, 5}, 11), cls({1, 1, 5}, 12), reg({1, 2, 5}, 13);
      const int64_t P = (with_cls ? 1 : 0) + 2;
      Leaf pos({1, no_embed ? 4 : 4 + P, 5}, 14);
      std::vector<Wrt> wrt = {{"x", x.var()}, {"reg", reg.var()}, {"pos", pos.var()}};
      if (with_cls) wrt.push_back({"cls", cls.var()});
      const std::string label = std::string("embed_tokens reg 2") + (with_cls ? " + cls" : "") +
                                (no_embed ? ", no_embed_class" : "");
      expect_grads_ok(label, gradcheck([&](Tape<double>& t) {
                        return embed_tokens(t, x.var(), with_cls ? cls.var() : nullptr, pos.var(), reg.var(), no_embed);
                      }, wrt));
    }
  Leaf z({2, 6, 3}, 15);
  expect_grads_ok("pool avg, 3 prefix tokens", gradcheck([&](Tape<double>& t) { return pool_tokens(t, z.var(), Pool::Avg, 3); },
                                                          {{"x", z.var()}}));
}
