// src/train/evaluate.cpp: see tapevit/train/evaluate.h.
#include "tapevit/train/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <vector>

#include "tapevit/data/loader.h"
#include "tapevit/gemm.h"
#include "tapevit/train/dist.h"

namespace tapevit {

void predict(const VisionTransformer<float>& model, const float* images, int64_t n, int64_t batch, float* logits) {
  const VitConfig& v = model.config();
  const int64_t img = v.in_chans * v.img_size * v.img_size, K = v.num_classes > 0 ? v.num_classes : v.embed_dim;
  Tape<float> tape;
  tape.set_grad_enabled(false);
  for (int64_t i = 0; i < n; i += batch) {
    const int64_t b = std::min(batch, n - i);
    tape.reset();
    Var<float> out = model(tape, tape.wrap(const_cast<float*>(images + i * img), {b, v.in_chans, v.img_size, v.img_size}));
    std::copy(out->data, out->data + b * K, logits + i * K);
  }
}

int64_t validation_batch(const TrainConfig& cfg) {
  return cfg.validation_batch_size > 0 ? cfg.validation_batch_size : cfg.batch_size;
}

EvalResult evaluate(const VisionTransformer<float>& model, const Dataset& data, const TrainConfig& cfg,
                    const EvalProgress& progress, const TapeFootprint& reserve) {
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t B = validation_batch(cfg);
  const VitConfig& v = model.config();
  BatchLoader loader(data, B, cfg.seed, cfg.aug, /*train=*/false);
  // several ranks: rank r evaluates its block of whole batches (a batch is computed as in one process, so the
  // counts below, summed over the ranks, are exactly one process's)
  const int64_t S = loader.steps_per_epoch(), R = dist::size(), me = dist::rank();
  const int64_t s0 = S * me / R, s1 = S * (me + 1) / R;
  Prefetcher batches(loader, 0, std::min(s0, std::max<int64_t>(S - 1, 0)), cfg.workers >= 0 ? int(cfg.workers) : default_workers(data));
  const int64_t K = v.num_classes;
  auto out_of_memory = [&](const OutOfMemory& e) {
    fail("evaluating batches of ", B, " images: ", e.what(), ". Lower validation_batch_size (",
         cfg.validation_batch_size > 0 ? "now " + std::to_string(B) : "0: batch_size, " + std::to_string(B), ")");
  };
  Tape<float> tape;
  tape.set_grad_enabled(false);
  try {
    tape.reserve(reserve);
  } catch (const OutOfMemory& e) {
    out_of_memory(e);
  }
  const Bf16Scope amp(cfg.amp);
  EvalResult r;
  double loss_sum = 0;
  int64_t top1 = 0, top5 = 0;
  const int64_t k5 = std::min<int64_t>(5, K);
  r.confusion.assign(size_t(K * K), 0);
  for (int64_t s = s0; s < s1; ++s) {
    const Prefetcher::Batch& batch = batches.get(0, s);
    const int64_t n = batch.n;
    const int32_t* labels = batch.labels.data();
    tape.reset();
    Var<float> logits;
    try {
      logits = model(tape, tape.wrap(const_cast<float*>(batch.images.data()), {n, v.in_chans, v.img_size, v.img_size}));
    } catch (const OutOfMemory& e) {
      out_of_memory(e);
    }
    for (int64_t b = 0; b < n; ++b) {
      const float* z = logits->data + b * K;
      const float* top = std::max_element(z, z + K);  // the top-1 prediction (the first maximum)
      const float mx = *top;
      double se = 0;
      for (int64_t k = 0; k < K; ++k) se += std::exp(double(z[k] - mx));
      loss_sum += double(mx) + std::log(se) - double(z[labels[b]]);
      int64_t rank = 0;  // classes scoring strictly higher than the true one
      for (int64_t k = 0; k < K; ++k) rank += z[k] > z[labels[b]];
      top1 += rank < 1;
      ++r.confusion[size_t(labels[b] * K + (top - z))];
      top5 += rank < k5;
    }
    r.n += n;
    if (progress) progress((s - s0 + 1) * R, S);
  }
  if (R > 1) {
    int64_t counts[3] = {r.n, top1, top5};
    dist::allreduce_sum(counts, 3, "the evaluation's counts");
    r.n = counts[0], top1 = counts[1], top5 = counts[2];
    dist::allreduce_sum(r.confusion.data(), int64_t(r.confusion.size()), "the evaluation's confusion matrix");
    dist::allreduce_sum(&loss_sum, 1, "the evaluation's loss");
  }
  r.loss = loss_sum / double(r.n);
  r.top1 = 100.0 * double(top1) / double(r.n);
  r.top5 = 100.0 * double(top5) / double(r.n);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace tapevit
