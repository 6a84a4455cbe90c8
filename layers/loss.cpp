// layers/loss.cpp: see loss.h.
#include "tapevit/layers/loss.h"

#include <algorithm>
#include <cmath>

namespace tapevit {

template <class T>
T softmax_xent_forward(T* probs, const T* logits, const T* targets, int64_t B, int64_t K) {
  double total = 0;  // B terms: summed in double so the mean does not drift with batch size
  for (int64_t b = 0; b < B; ++b) {
    const T* z = logits + b * K;
    T* p = probs + b * K;
    const T mx = *std::max_element(z, z + K);
    T sum = 0;
    for (int64_t k = 0; k < K; ++k) {
      p[k] = std::exp(z[k] - mx);
      sum += p[k];
    }
    const T lse = mx + std::log(sum);  // log p_k = z_k - lse
    T row = 0;
    for (int64_t k = 0; k < K; ++k) {
      p[k] /= sum;
      row -= targets[b * K + k] * (z[k] - lse);
    }
    total += double(row);
  }
  return T(total / double(B));
}

template <class T>
void softmax_xent_backward(T* dlogits, T dloss, const T* probs, const T* targets, int64_t B, int64_t K) {
  const T s = dloss / T(B);
  for (int64_t i = 0; i < B * K; ++i) dlogits[i] += s * (probs[i] - targets[i]);
}

template <class T>
void smoothed_targets(T* targets, const int32_t* labels, int64_t B, int64_t K, double smoothing) {
  if (smoothing < 0 || smoothing >= 1) fail("smoothing must be in [0, 1), got ", smoothing);
  const T off = T(smoothing / double(K)), on = T(1.0 - smoothing + smoothing / double(K));
  for (int64_t b = 0; b < B; ++b) {
    if (labels[b] < 0 || labels[b] >= K) fail("label ", labels[b], " of sample ", b, " is outside [0, ", K, ")");
    std::fill(targets + b * K, targets + (b + 1) * K, off);
    targets[b * K + labels[b]] = on;
  }
}

namespace {
template <class T>
Var<T> xent_node(Tape<T>& t, Var<T> logits, const T* targets) {
  if (logits->shape.rank != 2) fail("cross_entropy: logits are ", logits->shape, ", expected [B, K]");
  const int64_t B = logits->shape[0], K = logits->shape[1];
  T* probs = t.scratch(B * K);
  Var<T> loss = t.tensor(Shape{}, t.needs_grad(logits));
  loss->data[0] = softmax_xent_forward(probs, logits->data, targets, B, K);
  if (loss->requires_grad) {
    Tape<T>* tp = &t;
    t.record(loss, [=] {
      if (!loss->grad) return;
      softmax_xent_backward(tp->grad(logits, logits->shape), loss->grad[0], probs, targets, B, K);
    });
  }
  return loss;
}
}  // namespace

template <class T>
Var<T> cross_entropy(Tape<T>& t, Var<T> logits, const int32_t* labels, double smoothing) {
  if (logits->shape.rank != 2) fail("cross_entropy: logits are ", logits->shape, ", expected [B, K]");
  T* targets = t.scratch(logits->numel());
  smoothed_targets(targets, labels, logits->shape[0], logits->shape[1], smoothing);
  return xent_node(t, logits, targets);
}

template <class T>
Var<T> soft_target_cross_entropy(Tape<T>& t, Var<T> logits, const T* targets) {
  return xent_node(t, logits, targets);  // targets must outlive backward: the caller's buffer or tape scratch
}

#define TAPEVIT_INSTANTIATE(T)                                                               \
  template T softmax_xent_forward<T>(T*, const T*, const T*, int64_t, int64_t);              \
  template void softmax_xent_backward<T>(T*, T, const T*, const T*, int64_t, int64_t);       \
  template void smoothed_targets<T>(T*, const int32_t*, int64_t, int64_t, double);           \
  template Var<T> cross_entropy<T>(Tape<T>&, Var<T>, const int32_t*, double);                \
  template Var<T> soft_target_cross_entropy<T>(Tape<T>&, Var<T>, const T*);
TAPEVIT_INSTANTIATE(float)
TAPEVIT_INSTANTIATE(double)

}  // namespace tapevit
