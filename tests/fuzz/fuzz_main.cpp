// tests/fuzz/fuzz_main.cpp: one libFuzzer binary per target of targets.cpp (TAPEVIT_FUZZ_TARGET names it; built by
// tests/fuzz/run.sh with clang, AddressSanitizer and UBSan).
#include <cstdint>
#include <cstdlib>

#include "targets.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)tapevit::fuzz::scratch_dir();  // made before the exit handler is registered, so destroyed after it ran
  std::atexit(tapevit::fuzz::remove_scratch);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const tapevit::fuzz::Target& t = tapevit::fuzz::target(TAPEVIT_FUZZ_TARGET);
  t.run(data, size);
  return 0;
}
