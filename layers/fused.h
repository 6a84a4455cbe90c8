// layers/fused.h: the two fused nodes a TransformerBlock is built from when it has no LayerScale and no active
// dropout after the projections (timm's default ViT). Same math as the composed layers, fewer buffers kept:
//
//   norm_linear:      y = Linear(LayerNorm(x))
//                     keeps x (which the residual stream keeps anyway) and the per-row mean and rstd; the
//                     normalised rows are never stored: the GEMM normalises x as it packs it (LayerNormMap), in
//                     the forward and again for the weight gradient.
//   residual_linear:  out = x + drop_path(Linear(act(a))),   act = identity or an MLP activation (gelu.h)
//                     keeps a only; act(a) is never stored: the GEMM applies act as it packs a (gemm_map), in
//                     the forward and again for the weight gradient; act'(a) is applied as the backward's product
//                     writes d act(a) (ActGradMap), so only da is stored. The branch and the gradients are
//                     temporaries; the residual add happens in the GEMM's accumulator.
//
// Per token, a pre-norm block then keeps qkv (3C), the attention output (C), the mid-block residual (C), the
// MLP pre-activation (4C) and the block output (C), plus the attention probabilities (heads x N): 10C + hN
// floats, against 18C + hN for the composed layers (which also keep both LayerNorm outputs, the GELU output
// and both projection outputs).
// Drop path draws from t.rng exactly as residual_add does, so both paths give the same samples.
#pragma once
#include "tapevit/layers/gelu.h"
#include "tapevit/layers/layernorm.h"
#include "tapevit/layers/linear.h"

namespace tapevit {

// x (B, N, C) -> (B, N, lin.out); lin.in == ln.dim == C.
template <class T>
Var<T> norm_linear(Tape<T>& t, Var<T> x, const LayerNorm<T>& ln, const Linear<T>& lin);

// x (B, N, C), a (B, N, lin.in) -> (B, N, C); lin.out == C. drop_path: the rate (0: none).
template <class T>
Var<T> residual_linear(Tape<T>& t, Var<T> x, Var<T> a, const Linear<T>& lin, Act act, double drop_path);

}  // namespace tapevit
