// tapevit/error.h: the one exception type library code throws. Only main() prints and exits.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace tapevit {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// fail("LayerNorm '", name, "' input: got ", a, ", expected ", b): formats and throws Error.
template <class... Args>
[[noreturn]] void fail(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  throw Error(os.str());
}

}  // namespace tapevit
