// experiments/bench/bench_pipeline.cpp: what the image-folder pipeline costs.
//
//   bench_pipeline loader DIR IMG_SIZE IN_CHANS WORKERS BATCH STEPS [aa]
//       images/s the folder pipeline delivers alone (decode + timm's train transforms + normalise + mixing off),
//       WORKERS threads ahead of a consumer that only takes batches
//   bench_pipeline train DIR MODEL IMG_SIZE IN_CHANS WORKERS BATCH STEPS
//       training steps (forward, loss, backward, AdamW) on the preset MODEL at IMG_SIZE, twice in one process:
//       "memory": every step on one batch already in memory (the step alone), "folder": every step on the next
//       batch of the folder pipeline (WORKERS threads, decoding and transforming while the step runs), 3 rounds of
//       STEPS steps each, interleaved, after 2 warm-up steps of each. Prints one JSON line per measurement.
// Run it alone on the machine: the two sides share the cores, which is the cost being measured.
#include <omp.h>

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "tapevit/data/loader.h"
#include "tapevit/layers/loss.h"
#include "tapevit/layers/vit.h"
#include "tapevit/optim/optimizer.h"
#include "tapevit/train/presets.h"

using namespace tapevit;
using Clock = std::chrono::steady_clock;

namespace {

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

Dataset folder(const std::string& dir, int64_t img_size, int64_t chans) {
  FolderOptions fo;
  fo.img_size = img_size, fo.channels = chans;
  return load_folder(dir, fo, true);
}

AugmentConfig augment(const std::string& aa) {
  AugmentConfig a;
  a.mean = {0.5}, a.std = {0.5};
  a.image.crop_pct = 0.875;
  a.image.aa = aa;
  return a;
}

int loader_bench(int argc, char** argv) {
  const Dataset d = folder(argv[2], std::atoll(argv[3]), std::atoll(argv[4]));
  const int workers = std::atoi(argv[5]);
  const int64_t B = std::atoll(argv[6]), steps = std::atoll(argv[7]);
  const std::string aa = argc > 8 ? argv[8] : "";
  BatchLoader loader(d, B, 1, augment(aa), true);
  Prefetcher p(loader, 0, 0, workers);
  const int64_t spe = loader.steps_per_epoch();
  p.get(0, 0);  // warm-up: threads started, first batch made
  const auto t0 = Clock::now();
  for (int64_t s = 1; s <= steps; ++s) p.get(s / spe, s % spe);
  const double sec = since(t0);
  std::cout << nlohmann::json{{"bench", "loader"}, {"dir", argv[2]}, {"img_size", d.height}, {"workers", workers},
                              {"batch", B}, {"steps", steps}, {"aa", aa}, {"seconds", sec},
                              {"images_per_second", double(steps * B) / sec}}
                   .dump()
            << std::endl;
  return 0;
}

int train_bench(char** argv) {
  const int64_t img = std::atoll(argv[4]), chans = std::atoll(argv[5]);
  const Dataset d = folder(argv[2], img, chans);
  const int workers = std::atoi(argv[6]);
  const int64_t B = std::atoll(argv[7]), steps = std::atoll(argv[8]);
  VitConfig cfg;
  if (!apply_preset(argv[3], cfg)) fail("no preset ", argv[3]);
  cfg.img_size = img, cfg.in_chans = chans, cfg.num_classes = d.num_classes;
  VisionTransformer<float> model(cfg, 1);
  OptimConfig oc;
  auto opt = make_optimizer(oc, model.params());
  BatchLoader loader(d, B, 1, augment(""), true);
  const int64_t spe = loader.steps_per_epoch();
  Tape<float> tape;
  tape.training = true;
  auto step = [&](const Prefetcher::Batch& b) {
    tape.reset();
    Var<float> x = tape.wrap(const_cast<float*>(b.images.data()), {B, chans, img, img});
    Var<float> loss = soft_target_cross_entropy(tape, model(tape, x), b.targets.data());
    model.params().zero_grad();
    tape.backward(loss);
    opt->step(model.params(), 1e-4);
  };
  // memory: one batch made up front, then only steps. folder: the pipeline's batches, made ahead while the steps
  // run. Three rounds of each, interleaved, so that a drift of the machine's speed does not favour either side.
  Prefetcher first(loader, 0, 0, 0);
  const Prefetcher::Batch fixed = first.get(0, 0);
  Prefetcher p(loader, 0, 0, workers);
  for (int w = 0; w < 2; ++w) step(fixed), step(p.get(0, w));
  int64_t next = 2;
  double mem = 0, fol = 0;
  for (int round = 0; round < 3; ++round) {
    auto t0 = Clock::now();
    for (int64_t s = 0; s < steps; ++s) step(fixed);
    mem += since(t0);
    t0 = Clock::now();
    for (int64_t s = 0; s < steps; ++s, ++next) step(p.get(next / spe, next % spe));
    fol += since(t0);
  }
  std::cout << nlohmann::json{{"bench", "train"}, {"model", argv[3]}, {"img_size", img}, {"workers", workers},
                              {"omp_threads", omp_get_max_threads()}, {"batch", B}, {"steps", 3 * steps},
                              {"memory_images_per_second", double(3 * steps * B) / mem},
                              {"folder_images_per_second", double(3 * steps * B) / fol},
                              {"folder_cost_percent", 100.0 * (1.0 - mem / fol)}}
                   .dump()
            << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "loader" && argc >= 8) return loader_bench(argc, argv);
    if (mode == "train" && argc == 9) return train_bench(argv);
    std::cerr << "usage: bench_pipeline loader DIR IMG_SIZE IN_CHANS WORKERS BATCH STEPS [aa]\n"
                 "       bench_pipeline train DIR MODEL IMG_SIZE IN_CHANS WORKERS BATCH STEPS\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "bench_pipeline: error: " << e.what() << "\n";
    return 1;
  }
}
