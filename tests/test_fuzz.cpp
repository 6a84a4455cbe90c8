// tests/test_fuzz.cpp: every fuzz target's seeds (tests/fuzz/corpus/<target>) and committed regressions
// (tests/fuzz/regressions/<target>: inputs that once crashed, hung or misbehaved) through the same code the fuzzers
// run (tests/fuzz/targets.cpp). Each must load or fail with a tapevit::Error; a regression with a NAME.expect beside
// it must fail with an Error containing that text. Under the sanitizer build (CI's second stage) any memory or
// undefined-behaviour error in them fails the suite too.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "fuzz/targets.h"

namespace fs = std::filesystem;

namespace {

std::vector<uint8_t> bytes_of(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

// The files in tests/fuzz/<kind>/<target>, in name order.
std::vector<fs::path> inputs(const char* kind, const std::string& target) {
  const fs::path dir = fs::path(TAPEVIT_FIXTURES) / ".." / "fuzz" / kind / target;
  std::vector<fs::path> out;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_regular_file() && e.path().filename().string()[0] != '.') out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

TEST_CASE("fuzz: every target's seeds and committed regressions load or fail with an Error (tests/fuzz/)") {
  for (const auto& t : tapevit::fuzz::targets()) {
    const std::string name = t.name;
    CAPTURE(name);
    const auto seeds = inputs("corpus", t.name), regressions = inputs("regressions", t.name);
    CHECK_MESSAGE(seeds.size() >= 1, "no seeds for target " << t.name << " (tests/fuzz/make_seeds.cpp writes them)");
    for (const auto& p : seeds) {  // valid files: each must be accepted
      CAPTURE(p.string());
      const auto b = bytes_of(p);
      const tapevit::fuzz::Outcome o = t.run(b.data(), b.size());  // another exception than an Error fails the case
      CHECK_MESSAGE(o.accepted, o.error);
    }
    int replayed = 0, expected = 0;
    for (const auto& p : regressions) {
      if (p.extension() == ".expect") continue;
      ++replayed;
      CAPTURE(p.string());
      const auto b = bytes_of(p);
      const tapevit::fuzz::Outcome o = t.run(b.data(), b.size());
      MESSAGE(p.filename().string() << ": " << (o.error.empty() ? "accepted" : o.error));
      fs::path expect = p;
      expect += ".expect";
      if (!fs::exists(expect)) continue;
      ++expected;
      const auto text = bytes_of(expect);
      std::string want(text.begin(), text.end());
      while (!want.empty() && want.back() == '\n') want.pop_back();
      CHECK_MESSAGE(o.error.find(want) != std::string::npos, "error '" << o.error << "' does not contain '" << want << "'");
    }
    MESSAGE(name << ": " << seeds.size() << " seeds, " << replayed << " regressions replayed (" << expected
                 << " with their expected error)");
  }
  tapevit::fuzz::remove_scratch();
}
