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
// fail_with<E>(...): the same, throwing E, a kind of Error a caller catches to add what it knows (OutOfMemory).
template <class E, class... Args>
[[noreturn]] void fail_with(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  throw E(os.str());
}
template <class... Args>
[[noreturn]] void fail(const Args&... args) {
  fail_with<Error>(args...);
}

}  // namespace tapevit
