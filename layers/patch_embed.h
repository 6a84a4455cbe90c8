// layers/patch_embed.h: timm.layers.PatchEmbed: Conv2d(in_chans, C, kernel = stride = P) then flatten(2).transpose(1, 2).
// Done as a gather of non-overlapping patches into rows (Ci*P*P each, in the conv weight's (c, py, px) order)
// and one GEMM over all B*Np rows.
// x: (B, Ci, S, S) NCHW -> y: (B, Np, C) with Np = floor(S/P)^2, patches in row-major grid order; when P does not
// divide S the last S mod P rows and columns are not read (and get zero gradient), as the stride-P convolution does.
// Params: <name>.proj.weight (C, Ci, P, P), <name>.proj.bias (C) (none for CLIP's pre_norm ViTs); PyTorch's Conv2d
// default init.
#pragma once
#include <string>

#include "tapevit/params.h"
#include "tapevit/tape.h"

namespace tapevit {

// patches: (B * Np, Ci * P * P)
template <class T>
void patch_gather(T* patches, const T* x, int64_t B, int64_t Ci, int64_t S, int64_t P);
// dx (B, Ci, S, S) += the patch gradients put back where they came from
template <class T>
void patch_scatter_add(T* dx, const T* dpatches, int64_t B, int64_t Ci, int64_t S, int64_t P);

template <class T>
struct PatchEmbed {
  std::string name;
  int64_t img_size = 0, patch_size = 0, in_chans = 0, dim = 0;
  Var<T> weight = nullptr, bias = nullptr;

  PatchEmbed() = default;
  PatchEmbed(Params<T>& p, const std::string& name, int64_t img_size, int64_t patch_size, int64_t in_chans, int64_t dim,
             bool bias = true);
  int64_t grid() const { return img_size / patch_size; }
  int64_t num_patches() const { return grid() * grid(); }
  Var<T> operator()(Tape<T>& t, Var<T> x) const;
};

}  // namespace tapevit
