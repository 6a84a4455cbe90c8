// tests/compare_checkpoints.cpp: how far two checkpoints' weights and optimizer state are apart (the MPI tests).
//   compare_checkpoints A.h5 B.h5 [REL [LOSS]]
// Compares every float tensor below params/, ema/ and optimizer/ (grouped: params, ema, optimizer/<state>) and the
// optimizer's step count and the evaluation columns metrics/eval_top1, metrics/eval_top5 (exactly). Prints each
// group's relative L2 distance |A - B| / |A| and whether it is bitwise equal. Exit 0 when every group is bitwise
// equal (no REL) or within REL, and (with LOSS) every epoch's mean training loss (metrics/train_loss) within LOSS;
// 1 otherwise.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <string>

#include "tapevit/io/h5.h"

using namespace tapevit;

namespace {

struct Distance {
  double diff = 0, norm = 0;
  bool bitwise = true;
  int64_t n = 0;
};

void walk(const H5File& a, const H5File& b, const std::string& path, const std::string& group,
          std::map<std::string, Distance>& out) {
  for (const std::string& name : a.list(path)) {
    const std::string full = path + "/" + name;
    if (a.is_group(full)) {
      walk(a, b, full, group.empty() ? full.substr(1) : group, out);
      continue;
    }
    if (!b.exists(full)) throw std::runtime_error(b.path() + " has no " + full);
    const std::vector<double> x = a.read<double>(full), y = b.read<double>(full);
    if (x.size() != y.size()) throw std::runtime_error(full + ": sizes differ");
    Distance& d = out[group.empty() ? path.substr(1) : group];
    for (size_t i = 0; i < x.size(); ++i) {
      d.diff += (x[i] - y[i]) * (x[i] - y[i]);
      d.norm += x[i] * x[i];
      d.bitwise = d.bitwise && x[i] == y[i];
    }
    d.n += int64_t(x.size());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3 || argc > 5) {
    std::fprintf(stderr, "usage: compare_checkpoints A.h5 B.h5 [REL [LOSS]]\n");
    return 2;
  }
  const double rel = argc >= 4 ? std::atof(argv[3]) : 0;
  const double loss_tol = argc >= 5 ? std::atof(argv[4]) : -1;
  try {
    const H5File a(argv[1], H5File::Read), b(argv[2], H5File::Read);
    std::map<std::string, Distance> groups;
    for (const char* top : {"params", "ema"})
      if (a.exists(top)) walk(a, b, std::string("/") + top, top, groups);
    if (a.exists("optimizer"))
      for (const std::string& state : a.list("/optimizer")) walk(a, b, "/optimizer/" + state, "optimizer/" + state, groups);
    bool ok = true;
    for (const auto& [name, d] : groups) {
      const double r = std::sqrt(d.diff / (d.norm > 0 ? d.norm : 1));
      const bool pass = rel > 0 ? r <= rel : d.bitwise;
      ok = ok && pass;
      std::printf("%-24s %9lld values  rel L2 %.3e  %s%s\n", name.c_str(), (long long)d.n, r,
                  d.bitwise ? "bitwise equal" : "differ", pass ? "" : "  <-- FAIL");
    }
    const int64_t sa = a.attr_int("optimizer_steps"), sb = b.attr_int("optimizer_steps");
    std::printf("optimizer_steps          %lld and %lld\n", (long long)sa, (long long)sb);
    ok = ok && sa == sb;
    for (const char* col : {"metrics/eval_top1", "metrics/eval_top5"}) {
      if (!a.exists(col)) continue;
      const bool same = a.read<double>(col) == b.read<double>(col);
      std::printf("%-24s %s\n", col, same ? "equal" : "differ  <-- FAIL");
      ok = ok && same;
    }
    const std::vector<double> la = a.read<double>("metrics/train_loss"), lb = b.read<double>("metrics/train_loss");
    double worst = la.size() == lb.size() ? 0 : INFINITY;
    for (size_t i = 0; i < la.size() && i < lb.size(); ++i) worst = std::max(worst, std::abs(la[i] - lb[i]));
    const bool loss_ok = loss_tol < 0 || worst <= loss_tol;
    std::printf("metrics/train_loss       %zu and %zu epochs, max |difference| %.3e%s\n", la.size(), lb.size(), worst,
                loss_ok ? "" : "  <-- FAIL");
    ok = ok && loss_ok;
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "compare_checkpoints: %s\n", e.what());
    return 2;
  }
}
