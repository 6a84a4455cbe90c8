// layers/patch_embed.cpp: see patch_embed.h.
#include "tapevit/layers/patch_embed.h"

#include <cmath>
#include <cstring>

#include "tapevit/layers/linear.h"

namespace tapevit {

template <class T>
void patch_gather(T* patches, const T* x, int64_t B, int64_t Ci, int64_t S, int64_t P) {
  const int64_t G = S / P, K = Ci * P * P;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t gy = 0; gy < G; ++gy)
      for (int64_t gx = 0; gx < G; ++gx) {
        T* row = patches + ((b * G + gy) * G + gx) * K;
        for (int64_t c = 0; c < Ci; ++c)
          for (int64_t py = 0; py < P; ++py)
            std::memcpy(row + (c * P + py) * P, x + ((b * Ci + c) * S + gy * P + py) * S + gx * P, sizeof(T) * P);
      }
}

template <class T>
void patch_scatter_add(T* dx, const T* dpatches, int64_t B, int64_t Ci, int64_t S, int64_t P) {
  const int64_t G = S / P, K = Ci * P * P;
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t b = 0; b < B; ++b)
    for (int64_t gy = 0; gy < G; ++gy)
      for (int64_t gx = 0; gx < G; ++gx) {
        const T* row = dpatches + ((b * G + gy) * G + gx) * K;
        for (int64_t c = 0; c < Ci; ++c)
          for (int64_t py = 0; py < P; ++py) {
            T* d = dx + ((b * Ci + c) * S + gy * P + py) * S + gx * P;
            const T* s = row + (c * P + py) * P;
            for (int64_t px = 0; px < P; ++px) d[px] += s[px];
          }
      }
}

template <class T>
PatchEmbed<T>::PatchEmbed(Params<T>& p, const std::string& name_, int64_t img, int64_t patch, int64_t ci, int64_t d,
                          bool with_bias)
    : name(name_), img_size(img), patch_size(patch), in_chans(ci), dim(d) {
  if (patch <= 0 || img < patch)
    fail("PatchEmbed '", name, "': img_size ", img, " is smaller than patch_size ", patch);
  // torch.nn.Conv2d.reset_parameters: kaiming_uniform(a=sqrt 5) == U(+-1/sqrt(fan_in)), bias likewise.
  const double bound = 1.0 / std::sqrt(double(ci * patch * patch));
  weight = p.add(name + ".proj.weight", {d, ci, patch, patch}, InitSpec::uniform(bound));
  if (with_bias) bias = p.add(name + ".proj.bias", {d}, InitSpec::uniform(bound));
}

template <class T>
Var<T> PatchEmbed<T>::operator()(Tape<T>& t, Var<T> x) const {
  if (x->shape.rank != 4 || x->shape[1] != in_chans || x->shape[2] != img_size || x->shape[3] != img_size)
    fail("PatchEmbed '", name, "' input: got ", x->shape, ", expected [B, ", in_chans, ", ", img_size, ", ", img_size, "]");
  const int64_t B = x->shape[0], Np = num_patches(), K = in_chans * patch_size * patch_size, C = dim;
  const int64_t Ci = in_chans, S = img_size, P = patch_size;
  T* patches = t.scratch(B * Np * K);
  patch_gather(patches, x->data, B, Ci, S, P);
  Var<T> y = t.tensor({B, Np, C}, t.needs_grad(x, weight, bias));
  linear_forward(y->data, patches, weight->data, bias ? bias->data : nullptr, B * Np, K, C);
  if (y->requires_grad) {
    Var<T> w = weight, b = bias;
    Tape<T>* tp = &t;
    t.record(y, [=] {
      if (!y->grad) return;
      T* dx = tp->grad(x, x->shape);
      T* dpatches = nullptr;
      if (dx) {
        dpatches = tp->temp(B * Np * K);
        std::memset(dpatches, 0, sizeof(T) * size_t(B * Np * K));
      }
      linear_backward(dpatches, tp->grad(w, w->shape), b ? tp->grad(b, b->shape) : nullptr, y->grad, patches, w->data,
                      B * Np, K, C);
      if (dx) {
        patch_scatter_add(dx, dpatches, B, Ci, S, P);
        tp->release(dpatches, B * Np * K);
      }
    });
  }
  return y;
}

#define TAPEVIT_INSTANTIATE(T)                                                              \
  template void patch_gather<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t);          \
  template void patch_scatter_add<T>(T*, const T*, int64_t, int64_t, int64_t, int64_t);     \
  template struct PatchEmbed<T>;
TAPEVIT_INSTANTIATE(float)
TAPEVIT_INSTANTIATE(double)

}  // namespace tapevit
