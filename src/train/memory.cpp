// src/train/memory.cpp: see memory.h.
#include "memory.h"

#include <algorithm>
#include <vector>

#include "tapevit/arena.h"
#include "tapevit/gemm.h"
#include "tapevit/train/dist.h"
#include "tapevit/train/evaluate.h"

namespace tapevit {

namespace {

int64_t mib(double bytes) { return int64_t((bytes + double(1 << 20) - 1) / double(1 << 20)); }

// What a tape holds at most for a batch of `rows` rows, by arena: fixed + per_row x rows each. Measured on 1 and 2
// rows: what grows with the rows (activations, their gradients, attention's scores) grows linearly, the rest is
// fixed (kernels' scratch, capped by their block sizes, is over-counted: the estimate errs on the large side).
struct Need {
  TapeFootprint one, two;  // measured
  TapeFootprint at(int64_t rows) const {
    auto f = [&](size_t a, size_t b) {  // a + (b - a)(rows - 1), with 2% and 1 MiB to spare
      const double x = double(a) + (double(b) - double(a)) * double(rows - 1);
      return size_t(std::max(x, 0.0) * 1.02) + (size_t(1) << 20);
    };
    return {f(one.activations, two.activations), f(one.records, two.records), f(one.temporaries, two.temporaries)};
  }
  double bytes(int64_t rows) const { return double(at(rows).total()); }
};

template <class Measure>  // Measure(rows) -> the footprint of its tape
Need linear_need(Measure&& measure) {
  Need n;
  n.one = measure(1);
  n.two = measure(2);
  return n;
}

// A training step's micro-batch: forward and backward on a tape of its own (zero images, uniform targets).
Need training_need(Run& run) {
  const VitConfig& v = run.cfg.vit;
  const int64_t img = v.in_chans * v.img_size * v.img_size, K = v.num_classes;
  const Need need = linear_need([&](int64_t rows) {
    Tape<float> tape;
    tape.training = true;
    const std::vector<float> images(size_t(rows * img), 0.0f), targets(size_t(rows * K), 1.0f / float(K));
    forward_backward(run, tape, images.data(), targets.data(), rows, 1.0f);
    return tape.high_water();
  });
  run.params().zero_grad();  // nothing of the measurement stays
  return need;
}

// An evaluation batch, as evaluate() runs it.
Need evaluation_need(const Run& run) {
  const VitConfig& v = run.cfg.vit;
  return linear_need([&](int64_t rows) {
    Tape<float> tape;
    tape.set_grad_enabled(false);
    const Bf16Scope amp(run.cfg.amp);
    std::vector<float> images(size_t(rows * v.in_chans * v.img_size * v.img_size), 0.0f);
    (*run.model)(tape, tape.wrap(images.data(), {rows, v.in_chans, v.img_size, v.img_size}));
    return tape.high_water();
  });
}

// "micro-batches of 32 rows: batch_size 64 / grad_accum_steps 2", "... / (2 ranks x grad_accum_steps 1)"
std::string micro_batch_text(const TrainConfig& cfg) {
  const int64_t R = dist::size(), A = cfg.grad_accum_steps;
  return "micro-batches of " + std::to_string(cfg.batch_size / (R * A)) + " rows: batch_size " +
         std::to_string(cfg.batch_size) + " / " + (R > 1 ? "(" + std::to_string(R) + " ranks x " : "") +
         "grad_accum_steps " + std::to_string(A) + (R > 1 ? ")" : "");
}

// The smallest grad_accum_steps from the run's on whose micro-batches have at most `rows` rows (batch_size divisible
// by ranks x it); 0 when there is none.
int64_t accum_steps_for(const TrainConfig& cfg, int64_t rows) {
  const int64_t R = dist::size();
  for (int64_t a = cfg.grad_accum_steps; R * a <= cfg.batch_size; ++a)
    if (cfg.batch_size % (R * a) == 0 && cfg.batch_size / (R * a) <= rows) return a;
  return 0;
}

}  // namespace

std::string memory_advice(const Run& run) {
  return "A step's memory grows with the rows of its micro-batches (" + micro_batch_text(run.cfg) +
         "): lower batch_size, or raise grad_accum_steps (the same batch in smaller micro-batches)";
}

void plan_memory(Run& run) {
  const AddressSpace space = address_space();
  if (!space.limited()) return;
  const TrainConfig& cfg = run.cfg;
  const int64_t m = cfg.batch_size / (dist::size() * cfg.grad_accum_steps), V = validation_batch(cfg);
  Need train, eval;
  try {
    train = training_need(run);
    eval = evaluation_need(run);
  } catch (const OutOfMemory& e) {
    fail("measuring what a step needs on 1 and 2 images: ", e.what(), ". Choose a smaller model, or raise the limit");
  }
  // The training step's tape keeps its memory while an evaluation's tape takes its own.
  const double room = double(space.room()), need = train.bytes(m) + eval.bytes(V);
  if (need <= room) {
    try {
      run.tape.reserve(train.at(m));
    } catch (const OutOfMemory& e) {
      fail(e.what(), ". ", memory_advice(run));
    }
    run.eval_footprint = eval.at(V);
    return;
  }
  const double per_row = train.bytes(2) - train.bytes(1), left = room - eval.bytes(V) - (train.bytes(1) - per_row);
  const int64_t fits = per_row > 0 && left >= per_row ? int64_t(left / per_row) : 0;  // rows of a micro-batch
  std::string advice;
  if (fits == 0) {
    advice = "Not even a micro-batch of 1 row fits beside evaluating batches of " + std::to_string(V) +
             " rows: lower validation_batch_size, choose a smaller model, or raise the limit";
  } else {
    advice = "Micro-batches of at most " + std::to_string(fits) + " rows fit: ";
    if (const int64_t a = accum_steps_for(cfg, fits); a > 0)
      advice += "set grad_accum_steps = " + std::to_string(a) + " (the same batch in micro-batches of " +
                std::to_string(cfg.batch_size / (dist::size() * a)) + " rows), or ";
    advice += "lower batch_size to " + std::to_string(fits * dist::size() * cfg.grad_accum_steps) + " or less";
  }
  fail("the run needs about ", mib(need), " MiB of memory: ", mib(train.bytes(m)), " MiB for a training step (",
       micro_batch_text(cfg), ") and ", mib(eval.bytes(V)), " MiB to evaluate batches of ", V,
       " rows (validation_batch_size), but the address-space limit (ulimit -v) of ", space.limit >> 20,
       " MiB leaves ", mib(room), " MiB for them (the rest of the process takes ", mib(double(space.rest)),
       " MiB: threads' stacks and heaps, data). ", advice);
}

}  // namespace tapevit
