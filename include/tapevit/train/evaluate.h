// tapevit/train/evaluate.h: a model on data without training it, as timm's validate(): evaluation on a labelled
// split (loss, top-1, top-5) and raw logits for images (predict).
#pragma once
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "tapevit/data/dataset.h"
#include "tapevit/layers/vit.h"
#include "tapevit/train/config.h"

namespace tapevit {

struct EvalResult {
  double loss = 0, top1 = 0, top5 = 0;  // top1/top5 in percent; loss is plain cross-entropy
  int64_t n = 0;
  double seconds = 0;
  std::vector<int64_t> confusion;  // (K, K): row = true label, column = top-1 prediction (the first maximum)
};

// Called after each evaluation batch with (batches done, batches in all).
using EvalProgress = std::function<void(int64_t done, int64_t total)>;

// The rows of an evaluation batch: validation_batch_size, or batch_size when that is 0.
int64_t validation_batch(const TrainConfig& cfg);

// Every sample of `data`, in order, in inference mode, validation_batch(cfg) at a time. Running out of memory is an
// Error naming validation_batch_size. reserve: under an address-space limit, what its tape reserves at once (a
// measured footprint, Tape::reserve).
EvalResult evaluate(const VisionTransformer<float>& model, const Dataset& data, const TrainConfig& cfg,
                    const EvalProgress& progress = {}, const TapeFootprint& reserve = {});

// A rate per second as the progress lines and summaries print it ("... img/s"): whole from 10 up ("1234", "12"), two
// significant digits below ("3.4", "0.34", "0.043"): a 518-px ViT-S/14 step at batch 8 runs at 0.34 img/s.
std::string per_second(double rate);

// A live "label [####....] 12/79" line on a terminal `columns` wide, cleared when the evaluation ends.
EvalProgress terminal_eval_progress(std::ostream& out, int columns, const std::string& label);

// Logits (n, num_classes) of n normalised images (n, in_chans, img_size, img_size), in inference mode, `batch`
// images at a time.
void predict(const VisionTransformer<float>& model, const float* images, int64_t n, int64_t batch, float* logits);

}  // namespace tapevit
