// tests/fuzz/fuzz_safetensors.cpp: libFuzzer target for the .safetensors reader (tests/fuzz/run.sh builds and runs
// it). Every input must either load (and then convert every float tensor) or fail with tapevit::Error; anything
// else (a crash, a sanitizer report, another exception, a hang) is a bug.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "tapevit/io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/dev/shm/tapevit_fuzz_" + std::to_string(::getpid()) + ".safetensors";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  try {
    tapevit::SafetensorsFile st(path);
    for (const auto& t : st.tensors())
      if (t.dtype == "F32" || t.dtype == "F16" || t.dtype == "BF16") (void)st.read_f32(t);
  } catch (const tapevit::Error&) {
  }
  return 0;
}
