// tests/test_lr_schedule.cpp: LrSchedule against an independent Python implementation of timm's
// CosineLRScheduler formula (tests/make_optim_fixtures.py, /lr_schedule in tests/fixtures/optim.h5), points
// checked by hand, and the configuration errors.
#include <doctest/doctest.h>

#include "test_util.h"

#include <cmath>
#include <cstdio>
#include <functional>
#include <initializer_list>
#include <numbers>
#include <string>
#include <vector>

#include "tapevit/optim/lr_schedule.h"
#include "tapevit/io/h5.h"

using namespace tapevit;
using namespace tapevit::test;

namespace {

LrSchedule make(const std::string& sched, double lr, double min_lr, double warmup_lr, int64_t warmup, int64_t total) {
  LrSchedule s;
  s.sched = sched;
  s.lr = lr, s.min_lr = min_lr, s.warmup_lr = warmup_lr;
  s.warmup_steps = warmup, s.total_steps = total;
  s.validate();
  return s;
}

}  // namespace

TEST_CASE("LR schedule: matches timm's CosineLRScheduler formula at every fixture step (rel <= 1e-14)") {
  H5File f(std::string(TAPEVIT_FIXTURES) + "/optim.h5", H5File::Read);
  const std::vector<std::string> cases = f.list("lr_schedule");
  CHECK(cases.size() >= 4);
  for (const std::string& cs : cases) {
    const std::string g = "lr_schedule/" + cs;
    const LrSchedule s = make(f.attr_string("sched", g), f.attr_double("lr", g), f.attr_double("min_lr", g),
                              f.attr_double("warmup_lr", g), f.attr_int("warmup_steps", g), f.attr_int("total_steps", g));
    const std::vector<int64_t> steps = f.read<int64_t>(g + "/steps");
    const std::vector<double> ref = f.read<double>(g + "/lr");
    REQUIRE(steps.size() == ref.size());
    double worst = 0;
    for (size_t i = 0; i < steps.size(); ++i) {
      const double got = s.at(steps[i]);
      const double err = std::abs(got - ref[i]) / std::max(std::abs(ref[i]), 1e-300);
      worst = std::max(worst, ref[i] == 0 ? std::abs(got) : err);
      CHECK_MESSAGE((ref[i] == 0 ? got == 0 : err <= 1e-14),
                    cs << " step " << steps[i] << ": " << got << " vs timm formula " << ref[i]);
    }
    std::printf("lr_schedule %-18s %-8s warmup %lld total %lld, steps 0..%lld: max rel err %.3e\n", cs.c_str(),
                s.sched.c_str(), (long long)s.warmup_steps, (long long)s.total_steps, (long long)steps.back(), worst);
  }
}

TEST_CASE("LR schedule: hand-checked points (warmup start and middle, cosine middle, the end, past the end, constant)") {
  const double lr = 1e-3, min_lr = 1e-5, warmup_lr = 1e-6;
  const LrSchedule s = make("cosine", lr, min_lr, warmup_lr, 10, 100);
  CHECK(s.at(0) == warmup_lr);                                                     // warmup starts at warmup_lr
  CHECK(s.at(5) == doctest::Approx((warmup_lr + lr) / 2).epsilon(1e-14));          // linear: halfway at 5 of 10
  // warmup_prefix=False: the cosine is not shifted, at step 10 it is already 10% into its half period
  CHECK(s.at(10) == doctest::Approx(min_lr + 0.5 * (lr - min_lr) * (1 + std::cos(std::numbers::pi / 10))).epsilon(1e-14));
  CHECK(s.at(50) == doctest::Approx((lr + min_lr) / 2).epsilon(1e-14));            // cos(pi/2) = 0
  const double tail = 0.5 * (lr - min_lr) * (1 - std::cos(std::numbers::pi / 100));  // last step above min_lr
  CHECK(s.at(99) > min_lr);
  CHECK(s.at(99) == doctest::Approx(min_lr + tail).epsilon(1e-12));
  CHECK(s.at(100) == min_lr);  // timm: the cycle is over, lr_min
  CHECK(s.at(1000000) == min_lr);
  for (int64_t t = 10; t < 100; ++t) CHECK_MESSAGE(s.at(t + 1) < s.at(t), "not decreasing at step " << t);
  for (int64_t t = 0; t < 10; ++t) CHECK_MESSAGE(s.at(t + 1) > s.at(t), "warmup not increasing at step " << t);

  const LrSchedule no_warmup = make("cosine", 0.5, 0.0, 1e-6, 0, 8);
  CHECK(no_warmup.at(0) == doctest::Approx(0.5).epsilon(1e-15));  // warmup 0: starts at lr
  CHECK(no_warmup.at(4) == doctest::Approx(0.25).epsilon(1e-14));
  CHECK(no_warmup.at(8) == 0.0);

  const LrSchedule one = make("cosine", 0.1, 1e-4, 1e-6, 0, 1);  // total_steps 1: lr, then min_lr
  CHECK(one.at(0) == doctest::Approx(0.1).epsilon(1e-15));
  CHECK(one.at(1) == 1e-4);
  CHECK(one.at(7) == 1e-4);

  const LrSchedule constant = make("constant", 0.1, 1e-5, 0.0, 4, 10);
  CHECK(constant.at(0) == 0.0);
  CHECK(constant.at(1) == doctest::Approx(0.025).epsilon(1e-15));
  CHECK(constant.at(3) == doctest::Approx(0.075).epsilon(1e-15));
  for (int64_t t : {4, 5, 9, 10, 11, 100000}) CHECK_MESSAGE(constant.at(t) == 0.1, "constant at step " << t);
  std::printf("lr_schedule by hand: cosine at(0) %.3g at(5) %.6g at(50) %.6g at(99) %.9g at(100) %.3g; constant at(1) %.4g at(4) %.3g\n",
              s.at(0), s.at(5), s.at(50), s.at(99), s.at(100), constant.at(1), constant.at(4));
}

TEST_CASE("LR schedule: validate() names the bad key") {
  auto with = [](const std::function<void(LrSchedule&)>& edit) {
    LrSchedule s;
    edit(s);
    return s;
  };
  LrSchedule{}.validate();  // the defaults are valid
  expect_error([&] { with([](auto& s) { s.sched = "step"; }).validate(); }, {"sched:", "'step'", "cosine", "constant"});
  expect_error([&] { with([](auto& s) { s.lr = 0; }).validate(); }, {"lr:"});
  expect_error([&] { with([](auto& s) { s.lr = NAN; }).validate(); }, {"lr:"});
  expect_error([&] { with([](auto& s) { s.min_lr = -1e-5; }).validate(); }, {"min_lr:"});
  expect_error([&] { with([](auto& s) { s.warmup_lr = -1e-6; }).validate(); }, {"warmup_lr:"});
  expect_error([&] { with([](auto& s) { s.warmup_steps = -1; }).validate(); }, {"warmup_steps:"});
  expect_error([&] { with([](auto& s) { s.total_steps = 0; }).validate(); }, {"total_steps:"});
  expect_error([&] { LrSchedule{}.at(-1); }, {"negative step"});
}
