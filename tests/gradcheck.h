// tests/gradcheck.h: the public gradient check (tapevit/gradcheck.h) under doctest: every layer test uses it.
#pragma once
#include <doctest/doctest.h>

#include <cstdio>
#include <sstream>

#include "tapevit/gradcheck.h"

namespace tapevit::test {

using tapevit::fill_param;
using tapevit::grads_ok;
using tapevit::gradcheck;
using tapevit::GradReport;
using tapevit::Leaf;
using tapevit::random_vector;
using tapevit::Wrt;

// Prints each report with the layer's arguments and checks max_rel <= tol.
inline void expect_grads_ok(const std::string& label, const std::vector<GradReport>& reps, double tol = 1e-6) {
  std::ostringstream lines;
  grads_ok(label, reps, tol, &lines);
  std::fputs(lines.str().c_str(), stdout);
  for (const auto& r : reps)
    CHECK_MESSAGE(r.max_rel <= tol, label << " d/d" << r.name << ": max relative error " << r.max_rel << " (tolerance " << tol << ")");
}

}  // namespace tapevit::test
