// tests/test_util.h: small helpers the suites share.
#pragma once
#include <doctest/doctest.h>

#include <string>

#include "tapevit/error.h"

namespace tapevit::test {

// The message of the Error f() throws ("" and a failed check if it throws nothing).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  FAIL_CHECK("no Error thrown");
  return "";
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace tapevit::test
