// experiments/bench/bench_tapevit.cpp: tapevit's side of the side-by-side benchmark (bench.py drives it).
//
//   bench_tapevit train|infer|attention CASE.h5 [--steps N] [--warmup W] [--threads T] [--amp]
//   bench_tapevit peak [--threads T]
//   bench_tapevit gemm [--threads T] [--steps N]
//
// CASE.h5 (written by bench.py): attribute `config` (timm argument names, JSON), params/<timm name>, `input`
// (B, C, H, W) float32, `labels` (B) int32. train: the step tapevit's training loop runs (forward in training
// mode, cross-entropy, zero_grad, backward, AdamW), on the same batch every step; infer: the forward pass with
// grad mode off. Prints one JSON line: the first step's loss (train: before any update; infer: of the logits),
// every timed step's seconds, and the peak RSS of this process. peak: the FMA throughput of this machine
// (independent fused multiply-adds in vector registers), GFLOP/s. gemm: tapevit's gemm() on the products of a
// vit-fmnist training step (R = 128 x 50 rows, C = 192), best of N calls each, GFLOP/s (JSON lines), in float32
// and, where AVX512_BF16 is there, on bfloat16 operands. --amp: train/infer with bfloat16 matrix products (amp).
// attention: the part of a training step in the attention core (layers/attention.h) for the case's shapes: depth
// times attention_forward (keeping the probabilities) and attention_backward on a random qkv, seconds per step as
// train's (its share of the step: attention's step_seconds over train's).
#include <immintrin.h>
#include <omp.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tapevit/layers/attention.h"
#include "tapevit/layers/loss.h"
#include "tapevit/layers/vit.h"
#include "tapevit/optim/optimizer.h"
#include "tapevit/gemm.h"
#include "tapevit/gradcheck.h"  // random_vector
#include "tapevit/io/h5.h"
#include "tapevit/io/params_h5.h"
#include "tapevit/io/vit_json.h"

using namespace tapevit;
using Clock = std::chrono::steady_clock;

namespace {

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return double(ru.ru_maxrss) / 1024.0;  // Linux: kilobytes
}

// 2 flops per lane per FMA; 16 independent accumulators hide the FMA latency on every x86 core. Measured with
// 512-bit vectors where the build targets AVX-512 (TAPEVIT_NATIVE on an AVX-512 machine) and with 256-bit ones
// (AVX2 + FMA): some cores (AMD Zen 4) split a 512-bit FMA in two, others (Zen 5, Intel server cores) do not.
struct V256 {
  using T = __m256;
  static constexpr int kLanes = 8;
  static T set(float x) { return _mm256_set1_ps(x); }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static float sum(T a) {
    alignas(32) float t[8];
    _mm256_store_ps(t, a);
    return t[0] + t[1] + t[2] + t[3] + t[4] + t[5] + t[6] + t[7];
  }
};
#if defined(__AVX512F__)
struct V512 {
  using T = __m512;
  static constexpr int kLanes = 16;
  static T set(float x) { return _mm512_set1_ps(x); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static float sum(T a) { return _mm512_reduce_add_ps(a); }
};
#endif

template <class V>
double peak_gflops(int threads) {
  constexpr int kAcc = 16;
  const int64_t iters = 50'000'000;
  float sink = 0;
  const auto t0 = Clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : sink)
  {
    typename V::T acc[kAcc];
    const typename V::T a = V::set(0.999999f), b = V::set(1e-7f);
    for (int i = 0; i < kAcc; ++i) acc[i] = V::set(float(i + omp_get_thread_num()));
    for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 16
      for (int i = 0; i < kAcc; ++i) acc[i] = V::fma(acc[i], a, b);
    }
    for (int i = 0; i < kAcc; ++i) sink += V::sum(acc[i]);
  }
  const double s = seconds_since(t0);
  if (sink == 12345.f) std::puts("");  // keep the result alive
  return 2.0 * V::kLanes * kAcc * double(iters) * threads / s / 1e9;
}

void gemm_shapes(int64_t reps) {
  struct Case {
    const char* what;
    bool ta, tb;
    int64_t M, N, K;
  };
  const int64_t R = 6400, C = 192;
  const Case cases[] = {
      {"qkv forward  y = x W^T", false, true, R, 3 * C, C},   {"fc1 forward  y = x W^T", false, true, R, 4 * C, C},
      {"fc2 forward  y = x W^T", false, true, R, C, 4 * C},   {"qkv dx = dy W", false, false, R, C, 3 * C},
      {"fc1 dx = dy W", false, false, R, C, 4 * C},           {"fc2 dx = dy W", false, false, R, 4 * C, C},
      {"qkv dW = dy^T x", true, false, 3 * C, C, R},          {"fc1 dW = dy^T x", true, false, 4 * C, C, R},
      {"fc2 dW = dy^T x", true, false, C, 4 * C, R},
  };
  for (const Case& c : cases)
    for (bool bf16 : {false, true}) {
      if (bf16 && !bf16_available()) continue;
      const Bf16Scope scope(bf16);
      std::vector<float> A(size_t(c.M * c.K), 0.01f), Bm(size_t(c.K * c.N), 0.02f), Cm(size_t(c.M * c.N), 0.f);
      const int64_t lda = c.ta ? c.M : c.K, ldb = c.tb ? c.K : c.N;
      double best = 1e30;
      for (int64_t i = 0; i < reps + 2; ++i) {
        const auto t0 = Clock::now();
        gemm<float>(c.ta, c.tb, c.M, c.N, c.K, 1.f, A.data(), lda, Bm.data(), ldb, 1.f, Cm.data(), c.N);
        if (i >= 2) best = std::min(best, seconds_since(t0));
      }
      std::cout << nlohmann::json{{"gemm", c.what}, {"operands", bf16 ? "bfloat16" : "float32"}, {"M", c.M},
                                  {"N", c.N}, {"K", c.K}, {"gflops", 2.0 * double(c.M * c.N * c.K) / best / 1e9}}
                       .dump()
                << "\n";
    }
}

int usage() {
  std::cerr << "usage: bench_tapevit train|infer|attention CASE.h5 [--steps N] [--warmup W] [--threads T] [--amp]\n"
               "       bench_tapevit peak [--threads T]\n"
               "       bench_tapevit gemm [--threads T] [--steps N]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string mode = argv[1];
  std::string path;
  int64_t steps = 10, warmup = 3;
  int threads = omp_get_max_threads();
  bool amp = false;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--amp") {
      amp = true;
      continue;
    }
    if (a == "--steps" && i + 1 < argc) steps = std::stoll(argv[++i]);
    else if (a == "--warmup" && i + 1 < argc) warmup = std::stoll(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else if (path.empty() && a[0] != '-') path = a;
    else return usage();
  }
  omp_set_num_threads(threads);
  try {
    if (mode == "peak") {
      peak_gflops<V256>(threads);  // warm up clocks
      const double p256 = peak_gflops<V256>(threads);
#if defined(__AVX512F__)
      const double p512 = peak_gflops<V512>(threads);
#else
      const double p512 = 0;
#endif
      std::cout << nlohmann::json{{"peak_gflops", std::max(p256, p512)}, {"avx2_gflops", p256}, {"avx512_gflops", p512},
                                  {"threads", threads}}
                       .dump()
                << "\n";
      return 0;
    }
    if (mode == "gemm") {
      gemm_shapes(steps);
      return 0;
    }
    if ((mode != "train" && mode != "infer" && mode != "attention") || path.empty()) return usage();
    H5File f(path, H5File::Read);
    const VitConfig cfg = vit_config_from_json(nlohmann::json::parse(f.attr_string("config")));
    if (mode == "attention") {
      Shape xs;
      f.read<float>("input", &xs);
      const int64_t B = xs[0], N = cfg.num_tokens(), H = cfg.num_heads, Hkv = cfg.kv_heads(), D = cfg.embed_dim / H;
      const std::vector<double> r = random_vector(B * N * (H + 2 * Hkv) * D, 1, 1.0), g = random_vector(B * N * H * D, 2);
      const std::vector<float> qkv(r.begin(), r.end()), dout(g.begin(), g.end());
      std::vector<float> out(dout.size()), probs(size_t(B * H * N * N)), dqkv(qkv.size());
      std::vector<float> scratch(size_t(int64_t(threads) * attention_scratch(N, D)));
      const Bf16Scope scope(amp);
      std::vector<double> times;
      for (int64_t s = 0; s < warmup + steps; ++s) {
        const auto t0 = Clock::now();
        for (int64_t blk = 0; blk < cfg.depth; ++blk) {
          attention_forward<float>(out.data(), probs.data(), qkv.data(), B, N, H, Hkv, D, 0.0, 0, scratch.data());
          attention_backward<float>(dqkv.data(), dout.data(), qkv.data(), probs.data(), B, N, H, Hkv, D, 0.0, 0,
                                    scratch.data(), true);
        }
        if (s >= warmup) times.push_back(seconds_since(t0));
      }
      std::cout << nlohmann::json{{"mode", mode}, {"amp", amp}, {"threads", threads}, {"batch", B}, {"tokens", N},
                                  {"num_heads", H}, {"num_kv_heads", Hkv}, {"step_seconds", times}}
                       .dump()
                << "\n";
      return 0;
    }
    VisionTransformer<float> model(cfg, 0);
    read_params(f, "params", model.params());
    Shape xs;
    std::vector<float> x = f.read<float>("input", &xs);
    std::vector<int32_t> labels = f.read<int32_t>("labels");
    const int64_t B = xs[0], K = cfg.num_classes;
    std::vector<float> targets(size_t(B * K));
    smoothed_targets(targets.data(), labels.data(), B, K, 0.0);

    OptimConfig oc;  // AdamW, timm's defaults as bench.py's torch.optim.AdamW
    oc.weight_decay = 0.05;
    auto opt = make_optimizer(oc, model.params());
    const Bf16Scope scope(amp);  // --amp: the steps' matrix products on bfloat16 operands
    Tape<float> tape;
    tape.training = mode == "train";
    tape.set_grad_enabled(mode == "train");
    std::vector<double> times;
    double first_loss = 0;
    for (int64_t s = 0; s < warmup + steps; ++s) {
      const auto t0 = Clock::now();
      tape.reset();
      Var<float> logits = model(tape, tape.wrap(x.data(), xs));
      if (mode == "train") {
        Var<float> loss = soft_target_cross_entropy(tape, logits, targets.data());
        if (s == 0) first_loss = loss->data[0];
        model.params().zero_grad();
        tape.backward(loss);
        opt->step(model.params(), 1e-4);
      } else if (s == 0) {
        std::vector<float> probs(size_t(B * K));
        first_loss = softmax_xent_forward(probs.data(), logits->data, targets.data(), B, K);
      }
      const double dt = seconds_since(t0);
      if (s >= warmup) times.push_back(dt);
    }
    std::cout << nlohmann::json{{"mode", mode}, {"amp", amp}, {"threads", threads}, {"batch", B}, {"first_loss", first_loss},
                                {"step_seconds", times}, {"peak_rss_mb", peak_rss_mb()}}
                     .dump()
              << "\n";
  } catch (const std::exception& e) {
    std::cerr << "bench_tapevit: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
