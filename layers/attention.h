// layers/attention.h: multi-head self-attention exactly as timm.layers.Attention, and its grouped-query form.
//   qkv = Linear(C, (H + 2 Hkv) D)(x), its rows q (H heads), k (Hkv heads), v (Hkv heads): (B, N, H + 2 Hkv, D)
//   attn = softmax(q k^T * D^-0.5) over keys -> attention dropout -> o = attn v -> (B, N, H*D) -> proj -> dropout
// Query head h reads kv head h / (H / Hkv) (PyTorch's scaled_dot_product_attention(enable_gqa=True), i.e. k and v
// repeat_interleave'd H / Hkv times); Hkv = H (the default) is timm's Attention, with its (B, N, 3, H, D) split;
// Hkv = 1 is multi-query attention. timm's fused (F.scaled_dot_product_attention) and manual paths are this same math.
// x: (B, N, C) -> y: (B, N, C). Params: <name>.qkv.weight ((H + 2 Hkv) D, C), <name>.qkv.bias ((H + 2 Hkv) D) if
// qkv_bias, <name>.proj.weight (C, C), <name>.proj.bias (C).
#pragma once
#include <string>

#include "tapevit/layers/linear.h"

namespace tapevit {

// Scratch values per OpenMP thread that attention_forward and attention_backward need.
int64_t attention_scratch(int64_t N, int64_t D);

// The core on a fused qkv buffer (B, N, (H + 2 Hkv) D), parallel over (batch, kv head): the kv head's k and v are
// transposed (and, for amp, packed) once and used by its H / Hkv query heads (the forward splits them into runs when
// there are fewer pairs than threads). out: (B, N, H D). Each head's six
// products are C = A B with B's rows contiguous; float with AVX-512 runs them in register tiles straight from the
// strided qkv rows, with a vectorised softmax (inside a Bf16Scope, amp, the tiles take bfloat16 operands rounded as
// they are packed, float32 sums); double (the gradient checks) uses gemm().
// probs (B, H, N, N): softmax probabilities kept for backward (null in inference). attn_drop > 0 draws the
// mask from `key`: element (b, h, i, j) is draw first + ((b H + h) N + i) N + j (first: the slice's place in its
// whole batch, Tape::row0 H N N). scratch: attention_scratch(N, D) per OpenMP thread. H must divide by Hkv.
template <class T>
void attention_forward(T* out, T* probs, const T* qkv, int64_t B, int64_t N, int64_t H, int64_t Hkv, int64_t D,
                       double attn_drop, uint64_t key, T* scratch, uint64_t first = 0);
// dqkv (B, N, (H + 2 Hkv) D) accumulates, or is assigned when `assign`; scratch: attention_scratch(N, D) per thread.
template <class T>
void attention_backward(T* dqkv, const T* dout, const T* qkv, const T* probs, int64_t B, int64_t N, int64_t H,
                        int64_t Hkv, int64_t D, double attn_drop, uint64_t key, T* scratch, bool assign = false,
                        uint64_t first = 0);

// One tape node for the core (qkv -> concatenated heads).
template <class T>
Var<T> attention_core(Tape<T>& t, Var<T> qkv, int64_t num_heads, int64_t num_kv_heads, double attn_drop,
                      const std::string& name);

template <class T>
struct MultiHeadSelfAttention {
  std::string name;
  int64_t dim = 0, num_heads = 0, num_kv_heads = 0;
  double attn_drop = 0, proj_drop = 0;
  Linear<T> qkv, proj;

  MultiHeadSelfAttention() = default;
  // num_kv_heads 0: num_heads (timm's Attention)
  MultiHeadSelfAttention(Params<T>& p, const std::string& name, int64_t dim, int64_t num_heads, bool qkv_bias,
                         double attn_drop = 0, double proj_drop = 0, int64_t num_kv_heads = 0);
  Var<T> operator()(Tape<T>& t, Var<T> x) const;
};

}  // namespace tapevit
