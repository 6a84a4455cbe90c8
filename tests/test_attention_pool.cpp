// tests/test_attention_pool.cpp: timm's AttentionPoolLatent ('map' pooling): a hand-checked case, and gradients of
// the latent cross-attention kernel, of dropping the prefix and of the whole pool.
#include "gradcheck.h"
#include "tapevit/layers/attention_pool.h"

using namespace tapevit;
using namespace tapevit::test;

TEST_CASE("latent_attention: a zero query averages the values, a sharp one picks a token") {
  // B=1, N=2, H=1, D=2: kv rows [k | v]
  double kv[] = {1, 0, 10, 20,  // token 0: k = (1, 0), v = (10, 20)
                 0, 1, 30, 40};  // token 1: k = (0, 1), v = (30, 40)
  double q0[] = {0, 0}, q1[] = {0, 100};
  Tape<double> t(1 << 24);
  Var<double> a = latent_attention(t, t.wrap(q0, {1, 1, 2}), t.wrap(kv, {1, 2, 4}), 1);
  CHECK(a->shape == Shape{1, 1, 2});
  CHECK(a->data[0] == doctest::Approx(20.0));
  CHECK(a->data[1] == doctest::Approx(30.0));
  Var<double> b = latent_attention(t, t.wrap(q1, {1, 1, 2}), t.wrap(kv, {1, 2, 4}), 1);
  CHECK(b->data[0] == doctest::Approx(30.0));
  CHECK(b->data[1] == doctest::Approx(40.0));
}

TEST_CASE("latent_attention and drop_prefix: gradients") {
  Leaf q({1, 1, 6}, 1), kv({3, 5, 12}, 2);
  expect_grads_ok("latent_attention B3 N5 H2 D3",
                  gradcheck([&](Tape<double>& t) { return latent_attention(t, q.var(), kv.var(), 2); },
                            {{"q", q.var()}, {"kv", kv.var()}}));
  Leaf x({2, 6, 4}, 3);
  expect_grads_ok("drop_prefix P=2", gradcheck([&](Tape<double>& t) { return drop_prefix(t, x.var(), 2); }, {{"x", x.var()}}));
}

TEST_CASE("AttentionPoolLatent: timm's names and shapes, and every gradient") {
  Params<double> p;
  AttentionPoolLatent<double> pool(p, "attn_pool", 8, 2, 16, 1e-6, Act::GeluTanh);
  p.allocate();
  const char* names[] = {"attn_pool.latent", "attn_pool.q.weight", "attn_pool.q.bias", "attn_pool.kv.weight",
                         "attn_pool.kv.bias", "attn_pool.proj.weight", "attn_pool.proj.bias", "attn_pool.norm.weight",
                         "attn_pool.norm.bias", "attn_pool.mlp.fc1.weight", "attn_pool.mlp.fc1.bias",
                         "attn_pool.mlp.fc2.weight", "attn_pool.mlp.fc2.bias"};
  REQUIRE(p.size() == 13);
  for (size_t i = 0; i < 13; ++i) CHECK(p.info(i).name == names[i]);
  CHECK(p.find("attn_pool.kv.weight")->shape == Shape{16, 8});
  CHECK(p.find("attn_pool.latent")->shape == Shape{1, 1, 8});
  CHECK(p.find("attn_pool.latent")->init.kind == InitSpec::TruncNormalTf);
  for (size_t i = 0; i < p.size(); ++i)
    fill_param(p.value(i), 40 + i, p.info(i).shape.rank == 1 ? 0.2 : 0.5, p.info(i).init.kind == InitSpec::Ones ? 1.0 : 0.0);
  Leaf x({3, 5, 8}, 9);
  std::vector<Wrt> wrt{{"x", x.var()}};
  for (size_t i = 0; i < p.size(); ++i) wrt.push_back({p.info(i).name, p.value(i), true});
  expect_grads_ok("AttentionPoolLatent C8 H2 hidden16 gelu_tanh", gradcheck([&](Tape<double>& t) { return pool(t, x.var()); }, wrt, &p));
}
