// tapevit/gradcheck.h: central-difference gradient checks in double precision, for every layer: tapevit's own
// tests and layers written outside the tree (examples/custom_layer).
//
// For a graph y = f(inputs, params) built by `forward`, the loss is L = sum(y * r) for a fixed random r.
// Analytic: one backward pass seeded with r. Numeric: the five-point stencil
//   dL/dv ~ (-L(v+2h) + 8 L(v+h) - 8 L(v-h) + L(v-2h)) / (12 h),   h = 1e-3,
// whose truncation error is O(h^4) ~ 1e-12, so agreement is limited by round-off, not by the stencil.
// Error measure per entry: |a - n| / max(|a|, |n|, 1e-3 * max_j |n_j|): relative, with a floor at a
// thousandth of the tensor's largest gradient so entries that are zero up to round-off do not divide by ~0.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ostream>
#include <functional>
#include <string>
#include <vector>

#include "tapevit/params.h"
#include "tapevit/tape.h"

namespace tapevit {

struct Wrt {
  std::string name;
  Var<double> v;
  bool is_param = false;  // gradient lives in a Params flat buffer (zeroed by the caller's zero_grad)
};

struct GradReport {
  std::string name;
  int64_t checked = 0;
  double max_abs = 0, max_rel = 0;
};

inline std::vector<double> random_vector(int64_t n, uint64_t seed, double scale = 1.0) {
  std::vector<double> v(static_cast<size_t>(n));
  const uint64_t key = splitmix64(seed);
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = scale * Rng::normal(key, uint64_t(i));
  return v;
}

// A test-owned leaf tensor (an input) of random values.
struct Leaf {
  std::vector<double> data;
  Value<double> value;
  Leaf(const Shape& s, uint64_t seed, double scale = 1.0, bool requires_grad = true) {
    data = random_vector(s.numel(), seed, scale);
    value.shape = s;
    value.data = data.data();
    value.requires_grad = requires_grad;
  }
  Var<double> var() { return &value; }
};

// max_entries: per tensor, check at most this many entries (spread evenly); <= 0 means all.
inline std::vector<GradReport> gradcheck(const std::function<Var<double>(Tape<double>&)>& forward,
                                         std::vector<Wrt> wrt, Params<double>* params = nullptr,
                                         bool training = false, int64_t max_entries = 0, uint64_t seed = 7) {
  Tape<double> tape(size_t(1) << 30);
  tape.training = training;
  const Rng rng0{seed, 0};
  auto run = [&](bool with_grad) {
    tape.reset();
    tape.rng = rng0;  // same dropout / drop-path draws on every evaluation
    tape.set_grad_enabled(with_grad);
    return forward(tape);
  };
  // analytic
  for (auto& w : wrt)
    if (!w.is_param) w.v->grad = nullptr;
  if (params) params->zero_grad();
  Var<double> y = run(true);
  const std::vector<double> r = random_vector(y->numel(), seed + 1);
  tape.backward(y, r.data());
  std::vector<std::vector<double>> analytic;
  for (auto& w : wrt) {
    if (w.v->grad == nullptr) fail("gradcheck: no gradient reached '", w.name, "'");
    analytic.emplace_back(w.v->grad, w.v->grad + w.v->numel());
    if (!w.is_param) w.v->grad = nullptr;
  }
  auto loss = [&]() {
    Var<double> out = run(true);
    long double s = 0;
    for (int64_t i = 0; i < out->numel(); ++i) s += (long double)out->data[i] * r[size_t(i)];
    return double(s);
  };
  const double h = 1e-3;
  std::vector<GradReport> reports;
  for (size_t t = 0; t < wrt.size(); ++t) {
    Var<double> v = wrt[t].v;
    const int64_t n = v->numel();
    const int64_t count = max_entries > 0 ? std::min(n, max_entries) : n;
    std::vector<int64_t> idx;
    for (int64_t j = 0; j < count; ++j) idx.push_back(count == n ? j : (j * n) / count + (j * 7919) % std::max<int64_t>(1, n / count));
    std::vector<double> numeric(idx.size());
    for (size_t j = 0; j < idx.size(); ++j) {
      double& x = v->data[idx[j]];
      const double x0 = x;
      x = x0 + 2 * h; const double f2 = loss();
      x = x0 + h;     const double f1 = loss();
      x = x0 - h;     const double m1 = loss();
      x = x0 - 2 * h; const double m2 = loss();
      x = x0;
      numeric[j] = (-f2 + 8 * f1 - 8 * m1 + m2) / (12 * h);
    }
    double scale = 0;
    for (double g : numeric) scale = std::max(scale, std::abs(g));
    GradReport rep{wrt[t].name, int64_t(idx.size()), 0, 0};
    for (size_t j = 0; j < idx.size(); ++j) {
      const double a = analytic[t][size_t(idx[j])], nm = numeric[j];
      const double err = std::abs(a - nm);
      const double den = std::max({std::abs(a), std::abs(nm), 1e-3 * scale, 1e-300});
      rep.max_abs = std::max(rep.max_abs, err);
      rep.max_rel = std::max(rep.max_rel, err / den);
    }
    reports.push_back(rep);
  }
  return reports;
}

// Prints each report (one line per tensor, with `label`) to `os`; true when every max_rel <= tol.
inline bool grads_ok(const std::string& label, const std::vector<GradReport>& reps, double tol = 1e-6,
                     std::ostream* os = nullptr) {
  bool ok = true;
  for (const auto& r : reps) {
    if (os) {
      char line[256];
      std::snprintf(line, sizeof line, "gradcheck %-40s %-34s entries %5lld  max_abs %.3e  max_rel %.3e%s\n",
                    label.c_str(), r.name.c_str(), (long long)r.checked, r.max_abs, r.max_rel,
                    r.max_rel <= tol ? "" : "  FAILED");
      *os << line;
    }
    ok = ok && r.max_rel <= tol;
  }
  return ok;
}

// Copy test values into a registered parameter (for layers built on a Params store).
inline void fill_param(Var<double> p, uint64_t seed, double scale = 1.0, double offset = 0.0) {
  auto v = random_vector(p->numel(), seed, scale);
  for (int64_t i = 0; i < p->numel(); ++i) p->data[i] = offset + v[size_t(i)];
}

}  // namespace tapevit
