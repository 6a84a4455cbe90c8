// tests/test_optim.cpp: AdamW, SGD (Nesterov) and momentum SGD against torch.optim, and clip_grad_norm against
// torch.nn.utils.clip_grad_norm_, on the fixtures written by tests/make_optim_fixtures.py (six timm-named
// tensors, five gradient sets, a new lr every step, weight decay only where timm's rule puts it). Error per
// tensor: ||tapevit - torch||_2 / ||torch||_2, as in test_parity.cpp. Also: hand-checked weight decay,
// frozen parameters, checkpoint-style restore, thread-count independence and the config errors.
#include <doctest/doctest.h>

#include "test_util.h"
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

#include "tapevit/optim/optimizer.h"
#include "tapevit/io/h5.h"
#include "tapevit/rng.h"

using namespace tapevit;
using namespace tapevit::test;

namespace {

const std::string kFixture = std::string(TAPEVIT_FIXTURES) + "/optim.h5";

struct Err {
  double rel = 0, max_abs = 0;
  void merge(const Err& o) {
    rel = std::max(rel, o.rel);
    max_abs = std::max(max_abs, o.max_abs);
  }
};

template <class T, class R>
Err compare(const T* a, const R* ref, int64_t n) {
  double num = 0, den = 0, mx = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = double(a[i]) - double(ref[i]);
    num += d * d;
    den += double(ref[i]) * double(ref[i]);
    mx = std::max(mx, std::abs(d));
  }
  return {std::sqrt(num / std::max(den, 1e-300)), mx};
}

// Params registered in the fixture's order with its shapes, values from /init.
template <class T>
void load_params(Params<T>& p, const H5File& f) {
  for (const std::string& name : f.list("init")) p.add(name, f.shape("init/" + name), InitSpec::zeros());
  p.allocate();
  for (size_t i = 0; i < p.size(); ++i) {
    const std::vector<double> v = f.read<double>("init/" + p.info(i).name);
    std::copy(v.begin(), v.end(), p.value(i)->data);
  }
}

// Row k of a stacked [S, *shape] dataset.
template <class R>
std::vector<R> row(const H5File& f, const std::string& path, int64_t k, int64_t numel) {
  const std::vector<R> all = f.read<R>(path);
  REQUIRE(int64_t(all.size()) >= (k + 1) * numel);
  return std::vector<R>(all.begin() + k * numel, all.begin() + (k + 1) * numel);
}

template <class T>
void set_grads(Params<T>& p, const H5File& f, int64_t k) {
  for (size_t i = 0; i < p.size(); ++i) {
    const std::vector<double> g = row<double>(f, "grads/" + p.info(i).name, k, p.info(i).shape.numel());
    std::copy(g.begin(), g.end(), p.value(i)->grad);
  }
}

OptimConfig config_of(const H5File& f, const std::string& cs) {
  OptimConfig c;
  c.opt = f.attr_string("opt", cs);
  c.weight_decay = f.attr_double("weight_decay", cs);
  c.momentum = f.attr_double("momentum", cs);
  c.beta1 = f.attr_double("beta1", cs);
  c.beta2 = f.attr_double("beta2", cs);
  c.eps = f.attr_double("eps", cs);
  return c;
}

const char* const kCases[] = {"adamw", "sgd", "momentum"};

// Runs every fixture step; after each, compares the parameters and every state buffer with torch's.
template <class T>
void run_against_torch(const H5File& f, const std::string& cs, const char* tag, double tol) {
  Params<T> p;
  load_params(p, f);
  auto opt = make_optimizer<T>(config_of(f, cs), p);
  const std::vector<double> lrs = f.read<double>(cs + "/lr");
  std::map<std::string, Err> worst;  // "params", "exp_avg", ..., "params vs torch f32"
  for (int64_t k = 0; k < int64_t(lrs.size()); ++k) {
    set_grads(p, f, k);
    opt->step(p, lrs[size_t(k)]);
    CHECK(opt->steps() == k + 1);
    for (size_t i = 0; i < p.size(); ++i) {
      const ParamInfo& info = p.info(i);
      const int64_t n = info.shape.numel();
      auto check = [&](const std::string& what, const T* got, const std::string& path) {
        const Err e = compare(got, row<double>(f, path, k, n).data(), n);
        worst[what].merge(e);
        CHECK_MESSAGE(e.rel <= tol, cs << " " << std::string(tag) << " step " << k + 1 << " " << what << " '" << info.name
                                       << "': relative error " << e.rel << " > " << tol);
      };
      check("params", p.value(i)->data, cs + "/params/" + info.name);
      for (auto& [state, buf] : opt->state()) check(state, buf + info.offset, cs + "/" + state + "/" + info.name);
      if constexpr (std::is_same_v<T, float>) check("params vs torch f32", p.value(i)->data, cs + "/params_f32/" + info.name);
    }
  }
  for (auto& [what, e] : worst)
    std::printf("optim %-8s %-4s %-22s max over %zu steps and tensors: rel %.3e  max_abs %.3e\n", cs.c_str(), tag,
                what.c_str(), lrs.size(), e.rel, e.max_abs);
}

}  // namespace

TEST_CASE("Optimizer: AdamW, SGD (Nesterov) and momentum SGD match torch.optim after every step (float64 <= 1e-12, float32 <= 1e-6)") {
  H5File f(kFixture, H5File::Read);
  for (const char* cs : kCases) {
    SUBCASE(cs) {
      run_against_torch<double>(f, cs, "f64", 1e-12);
      run_against_torch<float>(f, cs, "f32", 1e-6);
    }
  }
}

TEST_CASE("Optimizer: weight decay skips 1-D tensors, biases, pos_embed and cls_token (hand-checked, zero gradients)") {
  H5File f(kFixture, H5File::Read);
  Params<double> p;
  load_params(p, f);
  for (size_t i = 0; i < p.size(); ++i) {
    const std::string& n = p.info(i).name;
    CHECK_MESSAGE(p.info(i).decay == (n == "blocks.0.attn.qkv.weight" || n == "head.weight"), n);
  }
  std::vector<double> init(p.data(), p.data() + p.flat_size());
  const double lr = 0.1, wd = 0.5, mom = 0.9;
  for (const char* name : kCases) {
    SUBCASE(name) {
      std::copy(init.begin(), init.end(), p.data());
      p.zero_grad();
      OptimConfig c;
      c.opt = name;
      c.weight_decay = wd;
      c.momentum = mom;
      auto opt = make_optimizer(c, p);
      opt->step(p, lr);
      // g = 0: AdamW's m = v = 0, so only p *= 1 - lr wd moves p. SGD: d = wd p, buf = d, Nesterov adds
      // mom * buf, then p -= lr d.
      const double factor = c.opt == "adamw" ? 1 - lr * wd : c.opt == "sgd" ? 1 - lr * wd * (1 + mom) : 1 - lr * wd;
      double worst = 0;
      for (size_t i = 0; i < p.size(); ++i) {
        const ParamInfo& info = p.info(i);
        for (int64_t j = 0; j < info.shape.numel(); ++j) {
          const double before = init[size_t(info.offset + j)], after = p.value(i)->data[j];
          if (info.decay) {
            const double err = std::abs(after - factor * before) / std::abs(before);
            worst = std::max(worst, err);
            CHECK_MESSAGE(err <= 1e-15, name << " '" << info.name << "'[" << j << "]: " << after << " != " << factor * before);
          } else {
            CHECK_MESSAGE(after == before, name << " '" << info.name << "' (no decay) moved: " << before << " -> " << after);
          }
        }
      }
      std::printf("optim %-8s weight decay by hand: factor %.4f on qkv.weight, head.weight; max rel err %.3e; others unchanged\n",
                  name, factor, worst);
    }
  }
}

TEST_CASE("Optimizer: a frozen parameter and its state stay untouched, and the others still match torch") {
  H5File f(kFixture, H5File::Read);
  const std::vector<std::string> frozen = {"head.weight", "blocks.0.norm1.weight"};
  for (const char* cs : kCases) {
    SUBCASE(cs) {
      Params<double> p;
      load_params(p, f);
      for (const auto& n : frozen) p.set_trainable(n, false);
      std::vector<double> init(p.data(), p.data() + p.flat_size());
      auto opt = make_optimizer(config_of(f, cs), p);
      const std::vector<double> lrs = f.read<double>(std::string(cs) + "/lr");
      double worst = 0;
      for (int64_t k = 0; k < int64_t(lrs.size()); ++k) {
        set_grads(p, f, k);  // the frozen ones get gradients too: they must be ignored
        opt->step(p, lrs[size_t(k)]);
        for (size_t i = 0; i < p.size(); ++i) {
          const ParamInfo& info = p.info(i);
          const int64_t n = info.shape.numel();
          if (std::find(frozen.begin(), frozen.end(), info.name) != frozen.end()) {
            CHECK_MESSAGE(std::memcmp(p.value(i)->data, &init[size_t(info.offset)], sizeof(double) * size_t(n)) == 0,
                          cs << " frozen '" << info.name << "' changed at step " << k + 1);
            for (auto& [state, buf] : opt->state())
              for (int64_t j = 0; j < n; ++j)
                CHECK_MESSAGE(buf[info.offset + j] == 0.0, cs << " state " << state << " of frozen '" << info.name << "' written");
          } else {
            const Err e = compare(p.value(i)->data, row<double>(f, std::string(cs) + "/params/" + info.name, k, n).data(), n);
            worst = std::max(worst, e.rel);
            CHECK_MESSAGE(e.rel <= 1e-12, cs << " '" << info.name << "' step " << k + 1 << ": relative error " << e.rel);
          }
        }
      }
      std::printf("optim %-8s frozen head.weight, norm1.weight: unchanged; trainable ones vs torch rel %.3e\n", cs, worst);
    }
  }
}

TEST_CASE("Optimizer: state restored by copying buffers + set_steps continues bit-identically") {
  H5File f(kFixture, H5File::Read);
  for (const char* cs : kCases) {
    SUBCASE(cs) {
      const OptimConfig cfg = config_of(f, cs);
      const std::vector<double> lrs = f.read<double>(std::string(cs) + "/lr");
      const int64_t S = int64_t(lrs.size()), cut = 2;
      // uninterrupted
      Params<float> a;
      load_params(a, f);
      auto oa = make_optimizer(cfg, a);
      for (int64_t k = 0; k < S; ++k) set_grads(a, f, k), oa->step(a, lrs[size_t(k)]);
      // interrupted after `cut` steps: parameters and state copied into a fresh model and optimizer
      Params<float> b;
      load_params(b, f);
      auto ob = make_optimizer(cfg, b);
      for (int64_t k = 0; k < cut; ++k) set_grads(b, f, k), ob->step(b, lrs[size_t(k)]);
      Params<float> c;
      load_params(c, f);
      std::memcpy(c.data(), b.data(), sizeof(float) * size_t(b.flat_size()));
      auto oc = make_optimizer(cfg, c);
      auto from = ob->state(), to = oc->state();
      REQUIRE(from.size() == to.size());
      for (size_t s = 0; s < from.size(); ++s) {
        CHECK(from[s].first == to[s].first);
        std::memcpy(to[s].second, from[s].second, sizeof(float) * size_t(b.flat_size()));
      }
      oc->set_steps(ob->steps());
      for (int64_t k = cut; k < S; ++k) set_grads(c, f, k), oc->step(c, lrs[size_t(k)]);
      CHECK(oc->steps() == S);
      CHECK_MESSAGE(std::memcmp(a.data(), c.data(), sizeof(float) * size_t(a.flat_size())) == 0,
                    cs << ": parameters after restore differ from the uninterrupted run");
      auto sa = oa->state(), sc = oc->state();
      for (size_t s = 0; s < sa.size(); ++s)
        CHECK_MESSAGE(std::memcmp(sa[s].second, sc[s].second, sizeof(float) * size_t(a.flat_size())) == 0,
                      cs << ": state '" << sa[s].first << "' after restore differs");
      // and without set_steps the continuation is different (AdamW bias correction, SGD's first step)
      Params<float> d;
      load_params(d, f);
      std::memcpy(d.data(), b.data(), sizeof(float) * size_t(b.flat_size()));
      auto od = make_optimizer(cfg, d);
      auto td = od->state();
      for (size_t s = 0; s < from.size(); ++s)
        std::memcpy(td[s].second, from[s].second, sizeof(float) * size_t(b.flat_size()));
      for (int64_t k = cut; k < S; ++k) set_grads(d, f, k), od->step(d, lrs[size_t(k)]);
      CHECK_MESSAGE(std::memcmp(a.data(), d.data(), sizeof(float) * size_t(a.flat_size())) != 0,
                    cs << ": the step count has no effect, so this test could not catch a lost count");
      std::printf("optim %-8s restore after %lld of %lld steps: bit-identical to the uninterrupted run\n", cs,
                  (long long)cut, (long long)S);
    }
  }
}

TEST_CASE("Optimizer: results do not depend on the thread count") {
  Params<double> p;
  p.add("blocks.0.mlp.fc1.weight", {301, 333}, InitSpec::normal(1.0));
  p.add("blocks.0.mlp.fc1.bias", {301}, InitSpec::normal(1.0));
  p.allocate();
  p.init(3);
  std::vector<double> init(p.data(), p.data() + p.flat_size());
  const uint64_t key = splitmix64(11);
  for (int64_t j = 0; j < p.flat_size(); ++j) p.grad()[j] = Rng::normal(key, uint64_t(j));
  const int saved = omp_get_max_threads();
  for (const char* name : kCases) {
    std::vector<double> ref;
    for (int threads : {1, 2, 3, 8}) {
      omp_set_num_threads(threads);
      std::copy(init.begin(), init.end(), p.data());
      OptimConfig c;
      c.opt = name;
      auto opt = make_optimizer(c, p);
      for (int k = 0; k < 3; ++k) opt->step(p, 1e-2);
      std::vector<double> got(p.data(), p.data() + p.flat_size());
      if (ref.empty()) ref = got;
      CHECK_MESSAGE(std::memcmp(ref.data(), got.data(), sizeof(double) * ref.size()) == 0, name << " with " << threads << " threads differs");
    }
  }
  omp_set_num_threads(saved);
}

TEST_CASE("Optimizer: bad configs throw naming the key") {
  auto with = [](const std::function<void(OptimConfig&)>& edit) {
    OptimConfig c;
    edit(c);
    return c;
  };
  OptimConfig{}.validate();  // the defaults are valid
  expect_error([&] { with([](auto& c) { c.opt = "lamb"; }).validate(); }, {"opt:", "'lamb'", "adamw", "sgd", "momentum"});
  expect_error([&] { with([](auto& c) { c.weight_decay = -0.1; }).validate(); }, {"weight_decay", "-0.1"});
  expect_error([&] { with([](auto& c) { c.weight_decay = NAN; }).validate(); }, {"weight_decay"});
  expect_error([&] { with([](auto& c) { c.beta1 = 1.0; }).validate(); }, {"opt_betas", "[0, 1)"});
  expect_error([&] { with([](auto& c) { c.beta2 = -0.5; }).validate(); }, {"opt_betas"});
  expect_error([&] { with([](auto& c) { c.beta2 = 1.5; }).validate(); }, {"opt_betas"});
  expect_error([&] { with([](auto& c) { c.eps = -1e-8; }).validate(); }, {"opt_eps"});
  expect_error([&] { with([](auto& c) { c.momentum = 1.0; }).validate(); }, {"momentum:"});
  expect_error([&] { with([](auto& c) { c.momentum = -0.1; }).validate(); }, {"momentum:"});
  expect_error([&] { with([](auto& c) { c.opt = "sgd", c.momentum = 0; }).validate(); }, {"momentum:", "Nesterov"});
  with([](auto& c) { c.opt = "momentum", c.momentum = 0; }).validate();  // plain SGD is fine

  Params<float> p;
  p.add("head.weight", {3, 4}, InitSpec::zeros());
  expect_error([&] { make_optimizer(OptimConfig{}, p); }, {"allocated"});  // before allocate()
  p.allocate();
  expect_error([&] { make_optimizer(with([](auto& c) { c.opt = "lamb"; }), p); }, {"opt:"});  // make_ validates
  auto opt = make_optimizer(OptimConfig{}, p);
  expect_error([&] { opt->step(p, -1e-3); }, {"learning rate"});
  Params<float> other;
  other.add("head.weight", {3, 40}, InitSpec::zeros());
  other.allocate();
  expect_error([&] { opt->step(other, 1e-3); }, {"different parameter set"});
}

TEST_CASE("clip_grad_norm: matches torch.nn.utils.clip_grad_norm_ (float64 <= 1e-12, float32 <= 1e-6)") {
  H5File f(kFixture, H5File::Read);
  const double max_norm = f.attr_double("max_norm", "clip");
  const double torch_norm = f.read<double>("clip/total_norm").at(0);
  auto run = [&]<class T>(T, const char* tag, double tol) {
    Params<T> p;
    load_params(p, f);
    set_grads(p, f, 0);
    const double norm = clip_grad_norm(p, max_norm);
    const double norm_err = std::abs(norm - torch_norm) / torch_norm;
    CHECK_MESSAGE(norm_err <= tol, std::string(tag) << " total norm " << norm << " vs torch " << torch_norm);
    Err worst;
    for (size_t i = 0; i < p.size(); ++i) {
      const ParamInfo& info = p.info(i);
      const Err e = compare(p.value(i)->grad, f.read<double>("clip/grads/" + info.name).data(), info.shape.numel());
      worst.merge(e);
      CHECK_MESSAGE(e.rel <= tol, std::string(tag) << " clipped grad '" << info.name << "': relative error " << e.rel);
    }
    std::printf("clip_grad_norm %s max_norm %.2f: norm %.6f (torch %.6f, rel err %.3e); clipped grads rel %.3e max_abs %.3e\n",
                tag, max_norm, norm, torch_norm, norm_err, worst.rel, worst.max_abs);
  };
  run(double{}, "f64", 1e-12);
  run(float{}, "f32", 1e-6);
}

TEST_CASE("clip_grad_norm: hand-checked norm, no clipping when max_norm >= norm + 1e-6 or max_norm <= 0, frozen gradients ignored") {
  Params<double> p;
  Var<double> a = p.add("blocks.0.attn.proj.weight", {1, 2}, InitSpec::zeros());
  Var<double> b = p.add("blocks.0.attn.proj.bias", {1}, InitSpec::zeros());
  Var<double> c = p.add("head.weight", {2, 1}, InitSpec::zeros());
  p.allocate();
  auto reset = [&] {
    a->grad[0] = 3, a->grad[1] = 4;  // norm 5
    b->grad[0] = 0;
    c->grad[0] = 100, c->grad[1] = -100;  // frozen below: ignored by the norm, never scaled
  };
  p.set_trainable("head.weight", false);
  for (double max_norm : {0.0, -1.0, 10.0, 5.0 + 1e-6}) {
    reset();
    CHECK(clip_grad_norm(p, max_norm) == 5.0);
    CHECK_MESSAGE((a->grad[0] == 3 && a->grad[1] == 4 && c->grad[0] == 100), "max_norm " << max_norm << " scaled the gradients");
  }
  reset();
  CHECK(clip_grad_norm(p, 1.0) == 5.0);
  const double coef = 1.0 / (5.0 + 1e-6);  // torch: max_norm / (norm + 1e-6)
  CHECK(a->grad[0] == doctest::Approx(3 * coef).epsilon(1e-15));
  CHECK(a->grad[1] == doctest::Approx(4 * coef).epsilon(1e-15));
  CHECK(b->grad[0] == 0);
  CHECK(c->grad[0] == 100);
  CHECK(c->grad[1] == -100);
  std::printf("clip_grad_norm by hand: [3, 4] -> norm 5, clipped to [%.12f, %.12f] (expected %.12f, %.12f)\n", a->grad[0],
              a->grad[1], 3 * coef, 4 * coef);
}

TEST_CASE("clip_grad_norm: bit-identical for any thread count") {
  Params<float> p;
  p.add("blocks.0.attn.qkv.weight", {3 * 192, 192}, InitSpec::zeros());  // several summation blocks
  p.add("blocks.0.attn.qkv.bias", {3 * 192}, InitSpec::zeros());
  p.add("head.weight", {1000, 191}, InitSpec::zeros());
  p.allocate();
  const uint64_t key = splitmix64(5);
  std::vector<float> g(size_t(p.flat_size()));
  for (size_t j = 0; j < g.size(); ++j) g[j] = float(Rng::normal(key, j));
  // reference in long double, serial
  long double ss = 0;
  for (size_t i = 0; i < p.size(); ++i)
    for (int64_t j = 0; j < p.info(i).shape.numel(); ++j) ss += (long double)g[size_t(p.info(i).offset + j)] * g[size_t(p.info(i).offset + j)];
  const double exact = double(std::sqrt(ss));
  const int saved = omp_get_max_threads();
  double first = -1;
  std::vector<float> first_grads;
  for (int threads : {1, 2, 3, 8}) {
    omp_set_num_threads(threads);
    std::copy(g.begin(), g.end(), p.grad());
    const double norm = clip_grad_norm(p, 1.0);
    if (first < 0) first = norm, first_grads.assign(p.grad(), p.grad() + p.flat_size());
    CHECK_MESSAGE(norm == first, threads << " threads: norm " << norm << " != " << first);
    CHECK_MESSAGE(std::memcmp(first_grads.data(), p.grad(), sizeof(float) * first_grads.size()) == 0, threads << " threads: clipped grads differ");
    CHECK(std::abs(norm - exact) / exact <= 1e-13);
  }
  omp_set_num_threads(saved);
  std::printf("clip_grad_norm threads 1/2/3/8: identical norm %.15g (long double reference %.15g)\n", first, exact);
}
