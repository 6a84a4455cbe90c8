// tapevit/tape.h: the autograd tape. One node per layer call, not per scalar.
//
// A layer's forward computes its output with its forward kernel and, when any input requires a gradient
// (and grad mode is on), records one closure that calls its hand-written backward kernel. backward() seeds
// the output's gradient and replays the closures in reverse; kernels accumulate (+=), so a tensor used
// twice (fan-out) simply receives both contributions, and parameter gradients accumulate across calls
// until Params::zero_grad().
//
// Memory: activations a backward pass needs come from one arena, closures and tensor handles from a second.
// Everything shorter-lived comes from a BufferPool: the gradient of an activation is taken when its first
// consumer's backward runs and given back as soon as its producer's backward has run (each node names its
// output for this), and temporaries (recomputed activations, kernel scratch) are given back by the kernel
// that took them. So a backward pass holds the gradients of about one block at a time, not of the whole
// network. reset() at the start of a step rewinds everything: a warm training loop allocates nothing.
// Closures must be trivially destructible (they capture pointers and sizes), which a static_assert enforces.
//
// Interruption: a training step can be abandoned between nodes. When `stop` points at a flag that holds non-zero,
// the next node boundary (a node recorded in the forward pass, a node about to run in the backward pass) throws
// StepInterrupted. Nothing but the tape's own memory has changed by then (parameter gradients are partial, the
// weights untouched); reset() makes it ready for the next step.
#pragma once
#include <atomic>
#include <cstring>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

#include "tapevit/arena.h"
#include "tapevit/parallel_copy.h"
#include "tapevit/rng.h"
#include "tapevit/tensor.h"

namespace tapevit {

// Thrown at a node boundary when a tape's stop flag is set (not an Error: the step is abandoned, nothing failed).
struct StepInterrupted {};

// What a tape holds at most, by arena: activations (and scratch), records (closures and tensor handles), and
// temporaries (gradients of activations, kernel scratch). A step's measured footprint, or one to reserve.
struct TapeFootprint {
  size_t activations = 0, records = 0, temporaries = 0;
  size_t total() const { return activations + records + temporaries; }
};

template <class T>
class Tape {
 public:
  // capacity: of the activations' arena and of the temporaries' (0: the machine's physical memory size each)
  explicit Tape(size_t capacity = 0) : acts_(capacity), meta_(size_t(1) << 30), pool_(capacity) {
    nodes_.reserve(1024);
  }

  bool training = false;  // dropout and drop path are active only when true
  Rng rng;                // dropout / drop-path streams
  // The global index of this batch's first row when the batch is a slice of a larger one (a data-parallel rank's
  // share, a micro-batch of gradient accumulation): dropout, attention-dropout and drop-path draws are keyed by
  // global row, so the slices together draw exactly what the whole batch would.
  int64_t row0 = 0;
  // Checked (a relaxed load) at every node boundary: non-zero throws StepInterrupted. nullptr: never.
  const std::atomic<int>* stop = nullptr;
  // Called at every node boundary before the check, with true in the backward pass (a test's hook; nullptr: none).
  void (*at_node)(bool backward) = nullptr;

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
  // Memory that lives until reset() (per-row statistics, masks: small things a backward pass reads).
  T* scratch(int64_t n) { return acts_.alloc_n<T>(n); }
  template <class U>
  U* scratch_as(int64_t n) {
    return acts_.alloc_n<U>(n);
  }
  // A temporary of n elements (uninitialised) until release(p, n); forward and backward kernels both use it.
  T* temp(int64_t n) { return pool_.get_n<T>(n); }
  void release(T* p, int64_t n) { pool_.put_n<T>(p, n); }

  // Does an op on these inputs need a tape node?
  template <class... V>
  bool needs_grad(V... vs) const {
    return grad_enabled_ && (... || (vs && vs->requires_grad));
  }

  // The gradient buffer of v, which a backward kernel is about to accumulate into as a tensor of shape
  // `writes`. Allocated and zeroed on first use; nullptr when v needs no gradient (kernels then skip it).
  T* grad(Var<T> v, const Shape& writes) {
    bool fresh = false;
    T* g = grad_or_fresh(v, writes, fresh);
    if (fresh) parallel_zero(g, v->numel());
    return g;
  }
  // Like grad(), without zeroing a buffer it has just taken: then `fresh` is set and the caller must write
  // (assign) every element instead of accumulating. Saves a pass over memory for single-consumer tensors.
  T* grad_or_fresh(Var<T> v, const Shape& writes, bool& fresh) {
    fresh = false;
    if (!v || !v->requires_grad) return nullptr;
    if (!(v->shape == writes))
      fail("gradient shape mismatch: tensor is ", v->shape, ", backward accumulates ", writes);
    if (!v->grad) {
      v->grad = pool_.get_n<T>(v->numel());
      fresh = true;
    }
    return v->grad;
  }
  // v's gradient += src (a copy when v has none yet). Nothing when v needs no gradient.
  void accumulate_grad(Var<T> v, const T* src) {
    bool fresh = false;
    T* g = grad_or_fresh(v, v ? v->shape : Shape{}, fresh);
    if (!g) return;
    const int64_t n = v->numel();
    if (fresh) {
      parallel_copy(g, src, n);
      return;
    }
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) g[i] += src[i];
  }

  // Record the backward closure of the op that produced `out`. Once it has run, out's gradient is dead
  // (every consumer of out was recorded later, so ran earlier) and goes back to the pool.
  template <class F>
  void record(Var<T> out, F&& backward_fn) {
    using Fn = std::decay_t<F>;
    static_assert(std::is_trivially_destructible_v<Fn>, "tape closures capture pointers and sizes only");
    void* mem = meta_.alloc(sizeof(Fn));
    new (mem) Fn(std::forward<F>(backward_fn));
    nodes_.push_back({[](void* p) { (*static_cast<Fn*>(p))(); }, mem, out});
    node_boundary(false);
  }

  // Replay the record in reverse. seed = dL/d(out); nullptr means ones (out is usually the scalar loss).
  void backward(Var<T> out, const T* seed = nullptr) {
    if (!out->requires_grad) fail("backward: the output does not depend on anything that requires a gradient");
    T* g = grad(out, out->shape);
    for (int64_t i = 0; i < out->numel(); ++i) g[i] += seed ? seed[i] : T(1);
    for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) {
      node_boundary(true);
      it->run(it->fn);
      if (Var<T> o = it->out; o && o->grad && o != out) {
        pool_.put_n<T>(o->grad, o->numel());
        o->grad = nullptr;
      }
    }
    nodes_.clear();  // a record is replayed once
  }

  // Start a new step: forget the record and every activation, keep the memory.
  void reset() {
    nodes_.clear();
    acts_.reset();
    meta_.reset();
    pool_.reset();
  }

  // Inference only: keep `keep` (the last thing allocated) and free everything allocated since `mark`.
  size_t mark() const { return acts_.mark(); }
  Var<T> collapse(size_t mark, Var<T> keep) {
    if (grad_enabled_) fail("Tape::collapse is for inference (grad mode off)");
    const T* src = keep->data;  // allocated after mark: released, still readable until overwritten
    acts_.release(mark);
    T* dst = acts_.alloc_n<T>(keep->numel());  // at or below src (the same place, or an earlier chunk's)
    std::memmove(dst, src, sizeof(T) * size_t(keep->numel()));
    keep->data = dst;
    return keep;
  }

  // Under an address-space limit, reserve a footprint at once (Arena::reserve): a step's, measured, so that no
  // chunk's end is left unused. Nothing without a limit.
  void reserve(const TapeFootprint& f) {
    acts_.reserve(f.activations);
    meta_.reserve(f.records);
    pool_.reserve(f.temporaries);
  }
  // Under an address-space limit, give back the address space a step has not reached (Arena::fit_to_use): after
  // the first step of a run, so that what later steps reserve beside it (an evaluation's tape) has room.
  void fit_to_use() {
    acts_.fit_to_use();
    meta_.fit_to_use();
    pool_.fit_to_use();
  }

  size_t num_nodes() const { return nodes_.size(); }
  size_t activation_bytes() const { return acts_.used(); }
  size_t activation_high_water() const { return acts_.high_water(); }
  size_t temp_high_water() const { return pool_.high_water(); }
  // The most this tape has held, by arena: what a step like the ones it recorded needs.
  TapeFootprint high_water() const { return {acts_.high_water(), meta_.high_water(), pool_.high_water()}; }

 private:
  void node_boundary(bool backward) {
    if (at_node) at_node(backward);
    if (stop && stop->load(std::memory_order_relaxed) != 0) throw StepInterrupted{};
  }
  struct Node {
    void (*run)(void*);
    void* fn;
    Var<T> out;  // its gradient is released after run
  };
  Arena acts_;
  Arena meta_;
  BufferPool pool_;
  std::vector<Node> nodes_;
  bool grad_enabled_ = true;
};

}  // namespace tapevit
