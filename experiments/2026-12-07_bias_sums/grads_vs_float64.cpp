// experiments/2026-12-07_bias_sums/grads_vs_float64.cpp: the gradients of one backward pass in float32 against the
// same pass in float64, per tensor (issue 26's measure of the bias sums).
//
// The model is an SBB-style ViT (4 register tokens, no class token, avg pool, embed 192, depth 2) on 32 x 32 images
// in patches of 4: 68 tokens, so a batch of 320 gives the 21,760 rows per bias sum. Both models hold the same
// weights (the float32 init, widened) and see the same images (random normal, rounded to float). Prints, per tensor,
// ||g32 - g64|| / ||g64|| and a hash of the float32 gradient's bits (to tell which tensors two builds change).
// Usage: grads_vs_float64 [batch]
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "tapevit/gradcheck.h"
#include "tapevit/layers/loss.h"
#include "tapevit/layers/vit.h"

using namespace tapevit;

namespace {

// FNV-1a over the bit patterns of n floats.
uint64_t bits_hash(const float* x, int64_t n) {
  uint64_t h = 1469598103934665603ull;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, x + i, 4);
    h = (h ^ u) * 1099511628211ull;
  }
  return h;
}

// The loss's gradients of m for these images and labels (one training-mode forward, no dropout in this config).
template <class T>
void backward(VisionTransformer<T>& m, std::vector<T>& images, const std::vector<int32_t>& labels, int64_t B) {
  const VitConfig& c = m.config();
  Tape<T> t(size_t(sizeof(T)) << 30);
  t.training = true;
  Var<T> logits = m(t, t.wrap(images.data(), {B, c.in_chans, c.img_size, c.img_size}));
  t.backward(cross_entropy(t, logits, labels.data()));
}

}  // namespace

int main(int argc, char** argv) {
  const int64_t B = argc > 1 ? std::atoll(argv[1]) : 320;
  VitConfig c;
  c.img_size = 32, c.patch_size = 4, c.in_chans = 3, c.num_classes = 10;
  c.embed_dim = 192, c.depth = 2, c.num_heads = 3;
  c.class_token = false, c.reg_tokens = 4, c.global_pool = "avg";
  VisionTransformer<float> m32(c, 5);
  VisionTransformer<double> m64(c, 5);
  Params<float>& p32 = m32.params();
  Params<double>& p64 = m64.params();
  for (size_t i = 0; i < p32.size(); ++i)
    std::copy(p32.value(i)->data, p32.value(i)->data + p32.value(i)->numel(), p64.value(i)->data);

  const std::vector<double> drawn = random_vector(B * c.in_chans * c.img_size * c.img_size, 9);
  std::vector<float> img32(drawn.begin(), drawn.end());
  std::vector<double> img64(img32.begin(), img32.end());
  std::vector<int32_t> labels(static_cast<size_t>(B));
  for (int64_t i = 0; i < B; ++i) labels[size_t(i)] = int32_t(i % c.num_classes);
  backward(m32, img32, labels, B);
  backward(m64, img64, labels, B);

  std::printf("# batch %lld x %lld tokens = %lld rows per bias sum\n", (long long)B, (long long)c.num_tokens(),
              (long long)(B * c.num_tokens()));
  std::printf("%-28s %10s  %s\n", "tensor", "rel. L2", "float32 bits (FNV-1a)");
  for (size_t i = 0; i < p32.size(); ++i) {
    const float* g = p32.value(i)->grad;
    const double* r = p64.value(i)->grad;
    double num = 0, den = 0;
    for (int64_t j = 0; j < p32.value(i)->numel(); ++j) {
      num += (double(g[j]) - r[j]) * (double(g[j]) - r[j]);
      den += r[j] * r[j];
    }
    std::printf("%-28s %10.3e  %016llx\n", p32.info(i).name.c_str(), std::sqrt(num / den),
                (unsigned long long)bits_hash(g, p32.value(i)->numel()));
  }
  return 0;
}
