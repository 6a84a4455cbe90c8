// tests/test_patch_embed.cpp: PatchEmbed = Conv2d(k = s = P) as gather + GEMM.
#include "gradcheck.h"
#include "tapevit/layers/patch_embed.h"

using namespace tapevit;
using namespace tapevit::test;

TEST_CASE("PatchEmbed: matches a direct convolution with kernel = stride = P") {
  const int64_t B = 2, Ci = 3, S = 6, P = 2, C = 4, G = S / P;
  Params<double> p;
  PatchEmbed<double> pe(p, "patch_embed", S, P, Ci, C);
  p.allocate();
  fill_param(pe.weight, 1);
  fill_param(pe.bias, 2);
  Leaf x({B, Ci, S, S}, 3);
  Tape<double> t(1 << 24);
  Var<double> y = pe(t, x.var());
  REQUIRE(y->shape == Shape{B, G * G, C});
  for (int64_t b = 0; b < B; ++b)
    for (int64_t gy = 0; gy < G; ++gy)
      for (int64_t gx = 0; gx < G; ++gx)
        for (int64_t o = 0; o < C; ++o) {
          double s = pe.bias->data[o];
          for (int64_t c = 0; c < Ci; ++c)
            for (int64_t ky = 0; ky < P; ++ky)
              for (int64_t kx = 0; kx < P; ++kx)
                s += pe.weight->data[((o * Ci + c) * P + ky) * P + kx] *
                     x.data[size_t(((b * Ci + c) * S + gy * P + ky) * S + gx * P + kx)];
          CHECK(y->data[(b * G * G + gy * G + gx) * C + o] == doctest::Approx(s).epsilon(1e-13));
        }
}

TEST_CASE("PatchEmbed: timm names, Conv2d default init bound, gradients") {
  Params<double> p;
  PatchEmbed<double> pe(p, "patch_embed", 8, 4, 2, 5);
  p.allocate();
  p.init(9);
  CHECK(p.info(0).name == "patch_embed.proj.weight");
  CHECK(p.info(0).shape == Shape{5, 2, 4, 4});
  const double bound = 1.0 / std::sqrt(2.0 * 16);
  for (int64_t i = 0; i < pe.weight->numel(); ++i) REQUIRE(std::abs(pe.weight->data[i]) <= bound);
  Leaf x({2, 2, 8, 8}, 4);
  auto reps = gradcheck([&](Tape<double>& t) { return pe(t, x.var()); },
                        {{"x", x.var()}, {"weight", pe.weight, true}, {"bias", pe.bias, true}}, &p);
  expect_grads_ok("PatchEmbed img8 P4 Ci2 C5", reps);
}

TEST_CASE("PatchEmbed: bad image shapes are errors") {
  Params<float> p;
  CHECK_THROWS_WITH_AS(PatchEmbed<float>(p, "patch_embed", 3, 4, 3, 8),
                       "PatchEmbed 'patch_embed': img_size 3 is smaller than patch_size 4", Error);
  PatchEmbed<float> pe(p, "patch_embed", 28, 4, 1, 8);
  p.allocate();
  std::vector<float> xs(2 * 3 * 28 * 28);
  Tape<float> t(1 << 24);
  CHECK_THROWS_WITH_AS(pe(t, t.wrap(xs.data(), {2, 3, 28, 28})),
                       "PatchEmbed 'patch_embed' input: got [2, 3, 28, 28], expected [B, 1, 28, 28]", Error);
}

TEST_CASE("PatchEmbed: an img_size the patch does not divide drops the last rows and columns, as the stride-P conv") {
  // 10x10 images, patch 4: a 2x2 grid reading pixels 0..7; rows and columns 8, 9 are not read
  Params<double> p;
  PatchEmbed<double> pe(p, "patch_embed", 10, 4, 2, 3);
  p.allocate();
  fill_param(pe.weight, 1);
  fill_param(pe.bias, 2);
  CHECK(pe.num_patches() == 4);
  Leaf x({2, 2, 10, 10}, 3);
  expect_grads_ok("PatchEmbed img 10 patch 4 (floor grid)",
                  gradcheck([&](Tape<double>& t) { return pe(t, x.var()); },
                            {{"x", x.var()}, {"proj.weight", pe.weight, true}, {"proj.bias", pe.bias, true}}, &p));
  // the unread pixels: changing them changes nothing, and their gradient is exactly zero
  Tape<double> t(1 << 24);
  Var<double> y0 = pe(t, x.var());
  std::vector<double> before(y0->data, y0->data + y0->numel());
  for (int b = 0; b < 2; ++b)
    for (int c = 0; c < 2; ++c)
      for (int i = 0; i < 10; ++i) {
        x.data[size_t(((b * 2 + c) * 10 + 9) * 10 + i)] += 5;  // row 9
        x.data[size_t(((b * 2 + c) * 10 + i) * 10 + 8)] -= 5;  // column 8
      }
  t.reset();
  x.value.grad = nullptr;
  Var<double> y1 = pe(t, x.var());
  CHECK(std::vector<double>(y1->data, y1->data + y1->numel()) == before);
  std::vector<double> ones(size_t(y1->numel()), 1.0);
  t.backward(y1, ones.data());
  for (int i = 0; i < 10; ++i) {
    CHECK(x.value.grad[(9) * 10 + i] == 0.0);
    CHECK(x.value.grad[i * 10 + 8] == 0.0);
  }
}

TEST_CASE("PatchEmbed: without a bias (CLIP's pre_norm ViTs) there is no proj.bias and the gradients hold") {
  Params<double> p;
  PatchEmbed<double> pe(p, "patch_embed", 8, 4, 3, 5, /*bias=*/false);
  p.allocate();
  CHECK(p.find("patch_embed.proj.bias") == nullptr);
  fill_param(pe.weight, 4);
  Leaf x({2, 3, 8, 8}, 5);
  expect_grads_ok("PatchEmbed no bias", gradcheck([&](Tape<double>& t) { return pe(t, x.var()); },
                                                  {{"x", x.var()}, {"proj.weight", pe.weight, true}}, &p));
}
