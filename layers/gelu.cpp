// layers/gelu.cpp: see gelu.h.
#include "tapevit/layers/gelu.h"

#include <algorithm>
#include <cstdint>

#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>

// GCC 12 warns that Eigen's AVX-512 pmin/pmax read an uninitialised merge source (_mm512_undefined_ps(), a false
// positive, as in attention.cpp): silenced for this file.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace tapevit {

namespace {
// Eigen's packet erf/exp (AVX-512 for float): the scalar libm erf was ~10% of a training step.
template <class T>
using Arr = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using CArr = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;
constexpr int64_t kChunk = 4096;  // elements per OpenMP task: stays in L1/L2, many tasks to share
constexpr int64_t kLanes = 16, kBuf = 256;  // a packet of floats; the serial maps' buffers

// The forward maps, as Eigen array expressions of a chunk.
template <class T>
struct GeluF {
  auto operator()(const CArr<T>& x) const { return T(0.5) * x * (T(1) + (x * T(0.70710678118654752440)).erf()); }
};
template <class T>
struct GeluTanhF {  // sqrt(2/pi) (x + 0.044715 x^3)
  auto operator()(const CArr<T>& x) const {
    return T(0.5) * x * (T(1) + (T(0.79788456080286535588) * (x + T(0.044715) * x.cube())).tanh());
  }
};
template <class T>
struct QuickGeluF {
  auto operator()(const CArr<T>& x) const { return x / (T(1) + (T(-1.702) * x).exp()); }
};

// y = F(x) for n values on the calling thread, in whole packets only: Eigen takes a scalar path (libm's erff) for an
// unaligned head or a ragged tail, which rounds differently, so such values go through an aligned buffer padded
// to a multiple of 16. A value's result then never depends on where it sits, and the GEMM operands mapped while
// packed (act_map, gemm_map) equal the passes below bit for bit.
template <class T, class F>
void map_serial(T* y, const T* x, int64_t n) {
  if (reinterpret_cast<uintptr_t>(y) % 64 == 0 && n % kLanes == 0) {
    Arr<T>(y, n) = F{}(CArr<T>(x, n));
    return;
  }
  alignas(64) T xb[kBuf], yb[kBuf];
  for (int64_t i0 = 0; i0 < n; i0 += kBuf) {
    const int64_t len = std::min(kBuf, n - i0), padded = (len + kLanes - 1) / kLanes * kLanes;
    std::copy(x + i0, x + i0 + len, xb);
    std::fill(xb + len, xb + padded, T(0));
    Arr<T>(yb, padded) = F{}(CArr<T>(xb, padded));
    std::copy(yb, yb + len, y + i0);
  }
}

// y = F(x) over chunks of kChunk elements, the chunks shared by the OpenMP threads.
template <class T, class F>
void map_chunks(T* y, const T* x, int64_t n) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t i0 = c * kChunk;
    map_serial<T, F>(y + i0, x + i0, std::min(kChunk, n - i0));
  }
}

// The derivatives, as Eigen array expressions of a block of at most kBuf values (fixed-capacity temporaries: no heap).
template <class T>
using Block = Eigen::Array<T, Eigen::Dynamic, 1, Eigen::ColMajor, kBuf, 1>;
template <class T>
struct GeluD {  // Phi(x) + x phi(x), x phi(x) taken at |x| <= 20 (beyond, Eigen's exp stops at exp(-88) ~ 1e-38 in float,
               // which a huge x would lift to ~x 1e-39; at 20 it leaves 1e-38)
  auto operator()(const CArr<T>& x) const {
    const auto xc = x.cwiseMax(T(-20)).cwiseMin(T(20));
    return T(0.5) * (T(1) + (x * T(0.70710678118654752440)).erf()) +
           xc * T(0.39894228040143267794) * (T(-0.5) * xc.square()).exp();
  }
};
template <class T>
struct GeluTanhD {  // 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
  Block<T> operator()(const CArr<T>& x) const {
    const T k = T(0.79788456080286535588), c3 = T(0.044715);
    const Block<T> th = (k * (x + c3 * x.cube())).tanh();
    return T(0.5) * (T(1) + th) + T(0.5) * x * (T(1) - th.square()) * k * (T(1) + T(3) * c3 * x.square());
  }
};
template <class T>
struct QuickGeluD {  // s + 1.702 x s (1 - s), s = sigmoid(1.702 x)
  Block<T> operator()(const CArr<T>& x) const {
    const Block<T> s = T(1) / (T(1) + (T(-1.702) * x).exp());
    return s + T(1.702) * x * s * (T(1) - s);
  }
};

// dx = dy * D(x) (assign) or dx += dy * D(x), n values on the calling thread, D in whole packets into an aligned
// buffer (as map_serial), so a value's derivative never depends on where it sits: the backward pass below and the
// GEMM epilogue (ActGradMap) give the same bits. dx may equal dy.
template <class T, class D>
void grad_serial(T* dx, const T* dy, const T* x, int64_t n, bool assign) {
  alignas(64) T xb[kBuf], d[kBuf];
  for (int64_t i0 = 0; i0 < n; i0 += kBuf) {
    const int64_t len = std::min(kBuf, n - i0), padded = (len + kLanes - 1) / kLanes * kLanes;
    const T* xs = x + i0;
    if (len != padded) {
      std::copy(xs, xs + len, xb);
      std::fill(xb + len, xb + padded, T(0));
      xs = xb;
    }
    Arr<T>(d, padded) = D{}(CArr<T>(xs, padded));
    if (assign)
      for (int64_t c = 0; c < len; ++c) dx[i0 + c] = dy[i0 + c] * d[c];
    else
      for (int64_t c = 0; c < len; ++c) dx[i0 + c] += dy[i0 + c] * d[c];
  }
}

// grad_serial over chunks of kChunk elements, the chunks shared by the OpenMP threads.
template <class T, class D>
void grad_chunks(T* dx, const T* dy, const T* x, int64_t n, bool assign) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t i0 = c * kChunk;
    grad_serial<T, D>(dx + i0, dy + i0, x + i0, std::min(kChunk, n - i0), assign);
  }
}

// gemm_map's positional forms of the maps.
template <class T, class F>
void act_at(const void*, T* y, const T* x, int64_t, int64_t, int64_t n) {
  map_serial<T, F>(y, x, n);
}
template <class T, class D>
void act_grad_at(const void* ctx, T* y, const T* x, int64_t row, int64_t col, int64_t n) {
  const auto* g = static_cast<const ActGradMap<T>*>(ctx);
  grad_serial<T, D>(y, x, g->a + row * g->lda + col, n, true);
}

}  // namespace

template <class T>
void gelu_forward(T* y, const T* x, int64_t n) {
  map_chunks<T, GeluF<T>>(y, x, n);
}

template <class T>
void gelu_backward(T* dx, const T* dy, const T* x, int64_t n, bool assign) {
  grad_chunks<T, GeluD<T>>(dx, dy, x, n, assign);
}

// gelu_tanh and quick_gelu: the same chunked Eigen packets as gelu (tanh and exp vectorise).
template <class T>
void gelu_tanh_forward(T* y, const T* x, int64_t n) {
  map_chunks<T, GeluTanhF<T>>(y, x, n);
}

template <class T>
void gelu_tanh_backward(T* dx, const T* dy, const T* x, int64_t n, bool assign) {
  grad_chunks<T, GeluTanhD<T>>(dx, dy, x, n, assign);
}

template <class T>
void quick_gelu_forward(T* y, const T* x, int64_t n) {
  map_chunks<T, QuickGeluF<T>>(y, x, n);
}

template <class T>
void quick_gelu_backward(T* dx, const T* dy, const T* x, int64_t n, bool assign) {
  grad_chunks<T, QuickGeluD<T>>(dx, dy, x, n, assign);
}

Act act_from_name(const std::string& name) {
  if (name == "gelu") return Act::Gelu;
  if (name == "gelu_tanh") return Act::GeluTanh;
  if (name == "quick_gelu") return Act::QuickGelu;
  fail("key 'act_layer' must be gelu, gelu_tanh or quick_gelu, got '", name, "'");
}

template <class T>
void act_forward(Act act, T* y, const T* x, int64_t n) {
  switch (act) {
    case Act::Identity: std::copy(x, x + n, y); break;
    case Act::Gelu: gelu_forward(y, x, n); break;
    case Act::GeluTanh: gelu_tanh_forward(y, x, n); break;
    case Act::QuickGelu: quick_gelu_forward(y, x, n); break;
  }
}

template <class T>
ElementMap<T> act_map(Act act) {
  switch (act) {
    case Act::Gelu: return &act_at<T, GeluF<T>>;
    case Act::GeluTanh: return &act_at<T, GeluTanhF<T>>;
    case Act::QuickGelu: return &act_at<T, QuickGeluF<T>>;
    default: return nullptr;
  }
}

template <class T>
ElementMap<T> ActGradMap<T>::map(Act act) const {
  switch (act) {
    case Act::Gelu: return {&act_grad_at<T, GeluD<T>>, this};
    case Act::GeluTanh: return {&act_grad_at<T, GeluTanhD<T>>, this};
    case Act::QuickGelu: return {&act_grad_at<T, QuickGeluD<T>>, this};
    default: return nullptr;
  }
}

template <class T>
void act_backward(Act act, T* dx, const T* dy, const T* x, int64_t n, bool assign) {
  switch (act) {
    case Act::Identity:
      for (int64_t i = 0; i < n; ++i) dx[i] = assign ? dy[i] : dx[i] + dy[i];
      break;
    case Act::Gelu: gelu_backward(dx, dy, x, n, assign); break;
    case Act::GeluTanh: gelu_tanh_backward(dx, dy, x, n, assign); break;
    case Act::QuickGelu: quick_gelu_backward(dx, dy, x, n, assign); break;
  }
}

template <class T>
Var<T> activation(Tape<T>& t, Var<T> x, Act act) {
  const int64_t n = x->numel();
  Var<T> y = t.tensor(x->shape, t.needs_grad(x));
  act_forward(act, y->data, x->data, n);
  if (y->requires_grad) {
    Tape<T>* tp = &t;
    t.record(y, [=] {
      if (!y->grad) return;
      act_backward(act, tp->grad(x, x->shape), y->grad, x->data, n);
    });
  }
  return y;
}

template <class T>
Var<T> gelu(Tape<T>& t, Var<T> x) {
  return activation(t, x, Act::Gelu);
}

#define TAPEVIT_INSTANTIATE(T)                                                  \
  template void gelu_forward<T>(T*, const T*, int64_t);                         \
  template void gelu_backward<T>(T*, const T*, const T*, int64_t, bool);        \
  template void gelu_tanh_forward<T>(T*, const T*, int64_t);                    \
  template void gelu_tanh_backward<T>(T*, const T*, const T*, int64_t, bool);   \
  template void quick_gelu_forward<T>(T*, const T*, int64_t);                   \
  template void quick_gelu_backward<T>(T*, const T*, const T*, int64_t, bool);  \
  template void act_forward<T>(Act, T*, const T*, int64_t);                     \
  template void act_backward<T>(Act, T*, const T*, const T*, int64_t, bool);    \
  template ElementMap<T> act_map<T>(Act);                                       \
  template struct ActGradMap<T>;                                                \
  template Var<T> gelu<T>(Tape<T>&, Var<T>);                                    \
  template Var<T> activation<T>(Tape<T>&, Var<T>, Act);
TAPEVIT_INSTANTIATE(float)
TAPEVIT_INSTANTIATE(double)

}  // namespace tapevit
