// tapevit/tape.h: the autograd tape. One node per layer call, not per scalar.
//
// A layer's forward computes its output with its forward kernel and, when any input requires a gradient
// (and grad mode is on), records one closure that calls its hand-written backward kernel. backward() seeds
// the output's gradient and replays the closures in reverse; kernels accumulate (+=), so a tensor used
// twice (fan-out) simply receives both contributions, and parameter gradients accumulate across calls
// until Params::zero_grad().
//
// Memory: activations, their gradients and scratch come from one arena, closures and tensor handles from a
// second; reset() at the start of a step rewinds both, so a warm training loop allocates nothing.
// Closures must be trivially destructible (they capture pointers and sizes), which a static_assert enforces.
#pragma once
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapevit/arena.h"
#include "tapevit/rng.h"
#include "tapevit/tensor.h"

namespace tapevit {

template <class T>
class Tape {
 public:
  explicit Tape(size_t reserve_bytes = 0) : acts_(reserve_bytes), meta_(size_t(1) << 30) { nodes_.reserve(1024); }

  bool training = false;  // dropout and drop path are active only when true
  Rng rng;                // dropout / drop-path streams

  bool grad_enabled() const { return grad_enabled_; }
  // Off: inference. Nothing is recorded and layers keep nothing for a backward pass.
  void set_grad_enabled(bool on) { grad_enabled_ = on; }

  // A new activation (uninitialised data) of the given shape.
  Var<T> tensor(const Shape& s, bool requires_grad) {
    Var<T> v = new (meta_.alloc(sizeof(Value<T>))) Value<T>();
    v->shape = s;
    v->data = acts_.alloc_n<T>(s.numel());
    v->requires_grad = requires_grad && grad_enabled_;
    return v;
  }
  // A handle on a buffer the caller owns (input images, targets).
  Var<T> wrap(T* data, const Shape& s, bool requires_grad = false) {
    Var<T> v = new (meta_.alloc(sizeof(Value<T>))) Value<T>();
    v->shape = s;
    v->data = data;
    v->requires_grad = requires_grad && grad_enabled_;
    return v;
  }
  T* scratch(int64_t n) { return acts_.alloc_n<T>(n); }
  template <class U>
  U* scratch_as(int64_t n) {
    return acts_.alloc_n<U>(n);
  }

  // Does an op on these inputs need a tape node?
  template <class... V>
  bool needs_grad(V... vs) const {
    return grad_enabled_ && (... || (vs && vs->requires_grad));
  }

  // The gradient buffer of v, which a backward kernel is about to accumulate into as a tensor of shape
  // `writes`. Allocated and zeroed on first use; nullptr when v needs no gradient (kernels then skip it).
  T* grad(Var<T> v, const Shape& writes) {
    if (!v || !v->requires_grad) return nullptr;
    if (!(v->shape == writes))
      fail("gradient shape mismatch: tensor is ", v->shape, ", backward accumulates ", writes);
    if (!v->grad) {
      v->grad = acts_.alloc_n<T>(v->numel());
      std::memset(v->grad, 0, sizeof(T) * size_t(v->numel()));
    }
    return v->grad;
  }

  template <class F>
  void record(F&& backward_fn) {
    using Fn = std::decay_t<F>;
    static_assert(std::is_trivially_destructible_v<Fn>, "tape closures capture pointers and sizes only");
    void* mem = meta_.alloc(sizeof(Fn));
    new (mem) Fn(std::forward<F>(backward_fn));
    nodes_.push_back({[](void* p) { (*static_cast<Fn*>(p))(); }, mem});
  }

  // Replay the record in reverse. seed = dL/d(out); nullptr means ones (out is usually the scalar loss).
  void backward(Var<T> out, const T* seed = nullptr) {
    if (!out->requires_grad) fail("backward: the output does not depend on anything that requires a gradient");
    T* g = grad(out, out->shape);
    for (int64_t i = 0; i < out->numel(); ++i) g[i] += seed ? seed[i] : T(1);
    for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) it->run(it->fn);
    nodes_.clear();  // a record is replayed once
  }

  // Start a new step: forget the record and every activation, keep the memory.
  void reset() {
    nodes_.clear();
    acts_.reset();
    meta_.reset();
  }

  // Inference only: keep `keep` (the last thing allocated) and free everything allocated since `mark`.
  size_t mark() const { return acts_.mark(); }
  Var<T> collapse(size_t mark, Var<T> keep) {
    if (grad_enabled_) fail("Tape::collapse is for inference (grad mode off)");
    auto* dst = acts_.base() + ((mark + Arena::kAlign - 1) & ~(Arena::kAlign - 1));
    auto* src = reinterpret_cast<std::byte*>(keep->data);
    if (src < dst) fail("Tape::collapse: the kept tensor lies below the mark");
    std::memmove(dst, src, sizeof(T) * size_t(keep->numel()));
    acts_.release(mark);
    keep->data = acts_.alloc_n<T>(keep->numel());  // == dst
    return keep;
  }

  size_t num_nodes() const { return nodes_.size(); }
  size_t activation_bytes() const { return acts_.used(); }
  size_t activation_high_water() const { return acts_.high_water(); }

 private:
  struct Node {
    void (*run)(void*);
    void* fn;
  };
  Arena acts_;
  Arena meta_;
  std::vector<Node> nodes_;
  bool grad_enabled_ = true;
};

}  // namespace tapevit
