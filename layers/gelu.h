// layers/gelu.h: the MLP activations of timm's ViTs (act_layer), elementwise, no parameters. x: any shape -> same.
//   gelu        exact erf form, y = x Phi(x) = 0.5 x (1 + erf(x / sqrt 2)): torch.nn.GELU(), timm's default.
//   gelu_tanh   y = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3): GELU(approximate='tanh') (SigLIP).
//   quick_gelu  y = x sigmoid(1.702 x): OpenAI CLIP's QuickGELU (timm's *_quickgelu models).
#pragma once
#include <string>

#include "tapevit/gemm.h"
#include "tapevit/tape.h"

namespace tapevit {

enum class Act { Identity, Gelu, GeluTanh, QuickGelu };
// "gelu" | "gelu_tanh" | "quick_gelu" -> Act; anything else throws naming act_layer.
Act act_from_name(const std::string& name);

template <class T>
void gelu_forward(T* y, const T* x, int64_t n);
// dx += dy * (Phi(x) + x * phi(x)); accumulates, or assigns (=) when `assign`.
template <class T>
void gelu_backward(T* dx, const T* dy, const T* x, int64_t n, bool assign = false);

template <class T>
void gelu_tanh_forward(T* y, const T* x, int64_t n);
// dx += dy * (0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2))
template <class T>
void gelu_tanh_backward(T* dx, const T* dy, const T* x, int64_t n, bool assign = false);

template <class T>
void quick_gelu_forward(T* y, const T* x, int64_t n);
// dx += dy * (s + 1.702 x s (1 - s)),  s = sigmoid(1.702 x)
template <class T>
void quick_gelu_backward(T* dx, const T* dy, const T* x, int64_t n, bool assign = false);

// The kernels above by Act (Identity copies / passes dy through).
template <class T>
void act_forward(Act act, T* y, const T* x, int64_t n);
template <class T>
void act_backward(Act act, T* dx, const T* dy, const T* x, int64_t n, bool assign = false);

// The activation as an elementwise map for gemm_map (null for Identity): the MLP's fc2 reads act(a) straight from
// the pre-activation a (layers/fused.cpp), bit for bit what act_forward would have stored.
template <class T>
ElementMap<T> act_map(Act act);

// The activation's backward as gemm_map's epilogue (fc): y = x * act'(a) at the same (row, col), a the pre-activation
// (rows lda apart). The product that makes d act(a) then leaves da, bit for bit what act_backward (assigning) gives,
// and d act(a) is never stored. The map reads *this: keep it alive during the product. Identity: a null map.
template <class T>
struct ActGradMap {
  const T* a = nullptr;
  int64_t lda = 0;
  ElementMap<T> map(Act act) const;
};

template <class T>
Var<T> gelu(Tape<T>& t, Var<T> x);
// One tape node of any of the activations.
template <class T>
Var<T> activation(Tape<T>& t, Var<T> x, Act act);

}  // namespace tapevit
