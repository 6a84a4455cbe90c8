// tests/fuzz/targets.h: what each libFuzzer target feeds to tapevit, shared by the fuzzers (tests/fuzz/fuzz_main.cpp,
// built by tests/fuzz/run.sh) and the suite, which replays every seed and every committed regression through the
// same functions (tests/test_fuzz.cpp). A target must return or throw tapevit::Error; anything else (a crash, a
// sanitizer report, another exception, a hang, an allocation beyond the fuzzer's limit) is a finding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tapevit/layers/vit.h"

namespace tapevit::fuzz {

// The model every weights/checkpoint input is loaded into, and the one the seeds are written from
// (tests/fuzz/make_seeds.cpp): tiny, so that what is fuzzed is the reading.
inline VitConfig tiny_vit() {
  VitConfig c;
  c.img_size = 8, c.patch_size = 4, c.in_chans = 1, c.num_classes = 3;
  c.embed_dim = 8, c.depth = 1, c.num_heads = 2;
  return c;
}

// What became of an input: accepted (the target's main reader took it; seeds must be), and the first Error any of
// its steps threw ("" if none).
struct Outcome {
  bool accepted;
  std::string error;
};

struct Target {
  const char* name;  // also the folder of its seeds (tests/fuzz/corpus/NAME) and regressions (tests/fuzz/regressions/NAME)
  Outcome (*run)(const uint8_t* data, size_t size);
  const char* what;  // the reader(s) it reaches
};

const std::vector<Target>& targets();
const Target& target(const std::string& name);  // throws std::invalid_argument for an unknown name

// The inputs' files are written under this folder (default: a folder of this process in /dev/shm, else the
// system's temporary folder); removed by remove_scratch().
const std::string& scratch_dir();
void remove_scratch();

}  // namespace tapevit::fuzz
