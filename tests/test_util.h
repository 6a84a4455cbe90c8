// tests/test_util.h: small helpers the suites share.
#pragma once
#include <doctest/doctest.h>

#include <initializer_list>
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

// fn() must throw an Error whose message contains every needle.
template <class F>
void expect_error(F&& fn, std::initializer_list<const char*> needles) {
  try {
    fn();
    FAIL("no error thrown; expected one naming " << *needles.begin());
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const char* n : needles) CHECK_MESSAGE(msg.find(n) != std::string::npos, "'" << msg << "' does not contain '" << n << "'");
  }
}

inline bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace tapevit::test
