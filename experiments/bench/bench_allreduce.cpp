// experiments/bench/bench_allreduce.cpp: the time of one gradient allreduce (tapevit's dist::allreduce_sum, the call
// a training step makes) for the flat gradient buffers of ViT-Ti/S/B, between the ranks mpirun started.
//   mpirun -np 2 build/experiments/bench/bench_allreduce [REPS]
// Prints one JSON line per size (rank 0): floats, bytes, the median and best seconds over REPS (default 20) after
// 3 warm-up calls, and the bus bandwidth 2 (N-1)/N bytes / time (what a ring allreduce moves per rank).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <vector>

#include "tapevit/train/dist.h"

using namespace tapevit;

int main(int argc, char** argv) {
  try {
    dist::init();
    const int N = dist::size();
    if (N < 2) {
      std::fprintf(stderr, "bench_allreduce: run it under mpirun with 2 or more ranks\n");
      return 2;
    }
    const int reps = argc > 1 ? std::atoi(argv[1]) : 20;
    struct Size { const char* model; int64_t floats; };
    // the parameter counts of timm's vit_tiny/small/base_patch16_224 (the flat gradient buffers hold as many)
    const Size sizes[] = {{"vit_tiny_patch16_224", 5717416}, {"vit_small_patch16_224", 22050664}, {"vit_base_patch16_224", 86567656}};
    for (const Size& s : sizes) {
      std::vector<float> g(size_t(s.floats), 1.0f / float(N));
      std::vector<double> t;
      for (int i = 0; i < reps + 3; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        dist::allreduce_sum(g.data(), s.floats, "the benchmark's buffer");
        const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (i >= 3) t.push_back(sec);
      }
      std::sort(t.begin(), t.end());
      const double bytes = double(s.floats) * 4, median = t[t.size() / 2];
      if (dist::is_root())
        std::printf("{\"model\": \"%s\", \"ranks\": %d, \"floats\": %lld, \"bytes\": %.0f, \"median_s\": %.6f, \"best_s\": %.6f, "
                    "\"busbw_GBps\": %.3f}\n",
                    s.model, N, (long long)s.floats, bytes, median, t.front(), 2.0 * (N - 1) / N * bytes / median / 1e9);
    }
    dist::finalize();
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_allreduce %s: %s\n", dist::where().c_str(), e.what());
    dist::abort(1);
  }
}
