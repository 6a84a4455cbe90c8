// tests/test_tape.cpp: the tape itself: fan-out, accumulation, grad mode, memory reuse, shape checks; its arenas: huge
// pages, and chunks reserved as needed under an address-space limit.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <new>
#include <string>

#include "gradcheck.h"
#include "tapevit/arena.h"
#include "tapevit/layers/linear.h"
#include "tapevit/layers/loss.h"
#include "tapevit/layers/residual.h"
#include "tapevit/layers/vit.h"

using namespace tapevit;
using namespace tapevit::test;

// Count global operator new calls, to prove a warm step allocates nothing through the C++ heap.
static std::atomic<int64_t> g_news{0};
void* operator new(size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// Every form that pairs with these (the nothrow ones too: std::stable_sort's buffer takes new(nothrow) and returns it
// through delete, and the pair must agree, as AddressSanitizer checks).
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  g_news.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
void* operator new[](size_t n) { return operator new(n); }
void* operator new[](size_t n, const std::nothrow_t& t) noexcept { return operator new(n, t); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

TEST_CASE("Tape: fan-out (one tensor feeding two layers and a residual) accumulates both paths") {
  Params<double> p;
  Linear<double> a(p, "a", 4, 4), b(p, "b", 4, 4);
  p.allocate();
  for (size_t i = 0; i < p.size(); ++i) fill_param(p.value(i), 100 + i);
  Leaf x({2, 3, 4}, 99);
  // y = a(x) + b(x) + x  : x used three times
  auto f = [&](Tape<double>& t) {
    Var<double> s = residual_add(t, a(t, x.var()), b(t, x.var()), nullptr, 0.0);
    return residual_add(t, s, x.var(), nullptr, 0.0);
  };
  std::vector<Wrt> wrt{{"x", x.var()}};
  for (size_t i = 0; i < p.size(); ++i) wrt.push_back({p.info(i).name, p.value(i), true});
  expect_grads_ok("fan-out a(x) + b(x) + x", gradcheck(f, wrt, &p));
}

TEST_CASE("Tape: parameter gradients accumulate across backward passes until zero_grad") {
  Params<double> p;
  Linear<double> lin(p, "fc", 3, 2);
  p.allocate();
  fill_param(lin.weight, 1);
  Leaf x({4, 3}, 2);
  Tape<double> t(1 << 24);
  auto step = [&] {
    t.reset();
    Var<double> y = lin(t, x.var());
    std::vector<double> ones(size_t(y->numel()), 1.0);
    t.backward(y, ones.data());
  };
  step();
  std::vector<double> once(p.grad(), p.grad() + p.flat_size());
  step();
  for (int64_t i = 0; i < p.flat_size(); ++i) REQUIRE(p.grad()[i] == doctest::Approx(2 * once[size_t(i)]));
  p.zero_grad();
  step();
  for (int64_t i = 0; i < p.flat_size(); ++i) REQUIRE(p.grad()[i] == doctest::Approx(once[size_t(i)]));
}

TEST_CASE("Tape: frozen parameters and inputs without requires_grad get no gradient") {
  Params<double> p;
  Linear<double> lin(p, "head", 3, 2);
  p.allocate();
  fill_param(lin.weight, 1);
  p.set_trainable("head.weight", false);
  Leaf x({4, 3}, 2, 1.0, /*requires_grad=*/false);
  Tape<double> t(1 << 24);
  Var<double> y = lin(t, x.var());
  std::vector<double> ones(8, 1.0);
  t.backward(y, ones.data());
  for (int i = 0; i < 6; ++i) CHECK(lin.weight->grad[i] == 0.0);
  CHECK(lin.bias->grad[0] == 4.0);
  CHECK(x.value.grad == nullptr);
}

namespace {
// The hook of the stop-flag test: counts node boundaries and sets the flag at boundary number set_at.
struct At {
  static inline std::atomic<int>* flag = nullptr;
  static inline int nodes = 0, set_at = 0, backward_nodes = 0;
};
}  // namespace

TEST_CASE("Tape: a stop flag set in the forward or backward pass throws StepInterrupted at the next node") {
  Params<double> p;
  Linear<double> a(p, "a", 3, 3), b(p, "b", 3, 2);
  p.allocate();
  fill_param(a.weight, 1);
  fill_param(b.weight, 2);
  const std::vector<double> weights(p.data(), p.data() + p.flat_size());
  Leaf x({4, 3}, 2);
  Tape<double> t(1 << 24);
  std::atomic<int> stop{0};
  t.stop = &stop;
  // forward: the flag is set while the first layer runs (by the hook at its node); the node is recorded, then thrown
  At::flag = &stop;
  t.at_node = [](bool backward) {
    ++At::nodes;
    At::backward_nodes += backward;
    if (At::nodes == At::set_at) At::flag->store(1);
  };
  At::set_at = 1;
  CHECK_THROWS_AS(b(t, a(t, x.var())), StepInterrupted);
  CHECK(At::nodes == 1);  // the second layer never ran
  CHECK(t.num_nodes() == 1);
  // backward: 2 forward nodes, then the flag set at the first backward node: no backward closure runs
  stop.store(0);
  t.reset();
  p.zero_grad();
  At::nodes = 0, At::set_at = 3;
  Var<double> y = b(t, a(t, x.var()));
  std::vector<double> ones(size_t(y->numel()), 1.0);
  CHECK_THROWS_AS(t.backward(y, ones.data()), StepInterrupted);
  CHECK(At::backward_nodes == 1);
  for (int64_t i = 0; i < p.flat_size(); ++i) REQUIRE(p.grad()[i] == 0.0);
  // the weights are untouched, and after reset() the tape runs a whole step again
  for (int64_t i = 0; i < p.flat_size(); ++i) REQUIRE(p.data()[i] == weights[size_t(i)]);
  stop.store(0);
  t.reset();
  y = b(t, a(t, x.var()));
  t.backward(y, ones.data());
  CHECK(std::any_of(p.grad(), p.grad() + p.flat_size(), [](double g) { return g != 0.0; }));
}

namespace {
// A small ViT (img 16, patch 4, 3 channels, 5 classes, C 32, 4 heads) and 8 images for it.
VitConfig small_vit(int64_t depth) {
  VitConfig cfg;
  cfg.img_size = 16; cfg.patch_size = 4; cfg.in_chans = 3; cfg.num_classes = 5;
  cfg.embed_dim = 32; cfg.depth = depth; cfg.num_heads = 4;
  return cfg;
}
std::vector<float> small_vit_images(double freq) {
  std::vector<float> img(size_t(8 * 3 * 16 * 16));
  for (size_t i = 0; i < img.size(); ++i) img[i] = float(std::sin(freq * double(i)));
  return img;
}
}  // namespace

TEST_CASE("Tape: inference mode records nothing, keeps one block's activations, same logits") {
  VisionTransformer<float> model(small_vit(6), 1);
  std::vector<float> img = small_vit_images(0.37);
  Tape<float> t(size_t(1) << 28);
  Var<float> y = model(t, t.wrap(img.data(), {8, 3, 16, 16}));
  const size_t train_bytes = t.activation_bytes();
  CHECK(t.num_nodes() > 0);
  std::vector<float> train_logits(y->data, y->data + y->numel());
  t.reset();
  t.set_grad_enabled(false);
  Var<float> z = model(t, t.wrap(img.data(), {8, 3, 16, 16}));
  CHECK(t.num_nodes() == 0);
  CHECK(t.activation_high_water() == train_bytes);  // the training step set the high-water mark
  const size_t infer_bytes = t.activation_bytes();
  MESSAGE("activation bytes: training " << train_bytes << ", inference " << infer_bytes);
  CHECK(infer_bytes * 4 < train_bytes);  // depth 6: a small fraction of the training footprint
  for (int64_t i = 0; i < z->numel(); ++i) REQUIRE(z->data[i] == train_logits[size_t(i)]);
}

TEST_CASE("Tape: activation gradients are given back once their producer's backward has run") {
  VisionTransformer<float> model(small_vit(8), 1);
  std::vector<float> img = small_vit_images(0.21);
  int32_t labels[] = {0, 1, 2, 3, 4, 0, 1, 2};
  Tape<float> t(size_t(1) << 28);
  Var<float> loss = cross_entropy(t, model(t, t.wrap(img.data(), {8, 3, 16, 16})), labels, 0.0);
  const size_t kept = t.activation_bytes();
  t.backward(loss);
  // Every block's gradients would need about as much as its kept activations; given back as the backward
  // pass moves down the network, the pool holds about one block's worth at any time.
  MESSAGE("kept activations " << kept << " bytes, temporaries and gradients at most " << t.temp_high_water());
  CHECK(t.temp_high_water() * 3 < kept);
}

TEST_CASE("Tape: a warm training step performs no heap allocation through operator new") {
  VitConfig cfg;
  cfg.img_size = 8; cfg.patch_size = 4; cfg.in_chans = 1; cfg.num_classes = 3;
  cfg.embed_dim = 16; cfg.depth = 2; cfg.num_heads = 2;
  cfg.drop_path_rate = 0.1; cfg.proj_drop_rate = 0.1; cfg.attn_drop_rate = 0.1;
  VisionTransformer<float> model(cfg, 1);
  std::vector<float> img(4 * 64, 0.5f);
  int32_t labels[] = {0, 1, 2, 1};
  Tape<float> t(size_t(1) << 26);
  t.training = true;
  auto step = [&] {
    t.reset();
    Var<float> loss = cross_entropy(t, model(t, t.wrap(img.data(), {4, 1, 8, 8})), labels, 0.1);
    t.backward(loss);
  };
  step();
  step();
  const int64_t before = g_news.load();
  step();
  CHECK(g_news.load() - before == 0);
}

TEST_CASE("Tape: gradient shape is checked where it is accumulated, and backward needs an output that has a gradient") {
  Tape<double> t(1 << 24);
  std::vector<double> d(6);
  Var<double> v = t.wrap(d.data(), {2, 3}, true);
  CHECK_THROWS_WITH_AS(t.grad(v, Shape{3, 2}), "gradient shape mismatch: tensor is [2, 3], backward accumulates [3, 2]",
                       Error);
  Var<double> c = t.wrap(d.data(), {2, 3}, false);
  CHECK_THROWS_WITH_AS(t.backward(c), "backward: the output does not depend on anything that requires a gradient", Error);
}

TEST_CASE("Arena: its reservation asks for transparent huge pages (VmFlags hg) where the kernel has them") {
  std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string modes;
  std::getline(thp, modes);
  if (modes.find("[never]") != std::string::npos || modes.empty()) {
    MESSAGE("transparent huge pages are off or absent here: nothing to check");
    return;
  }
  Arena a(size_t(64) << 20);
  const auto base = reinterpret_cast<uintptr_t>(a.alloc(1));  // the first allocation: the first chunk's start
  // /proc/self/smaps: a header line "start-end perms ..." per mapping, then its fields, VmFlags last
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool in_arena = false, found = false;
  while (std::getline(smaps, line)) {
    const size_t dash = line.find('-');
    if (dash != std::string::npos && dash > 0 && line.find(' ') > dash && std::isxdigit(uint8_t(line[0])))
      in_arena = std::stoull(line.substr(0, dash), nullptr, 16) == base;
    else if (in_arena && line.rfind("VmFlags:", 0) == 0) {
      found = true;
      CHECK_MESSAGE(line.find(" hg") != std::string::npos, "arena mapping flags: " << line);
    }
  }
  CHECK(found);
}

namespace {
// For the scope: an address-space limit (the soft RLIMIT_AS, as ulimit -v sets it) of what the process maps now and
// `extra` bytes more.
struct AddressSpaceLimit {
  rlimit before{};
  explicit AddressSpaceLimit(size_t extra) {
    REQUIRE(getrlimit(RLIMIT_AS, &before) == 0);
    std::ifstream statm("/proc/self/statm");
    size_t pages = 0;
    statm >> pages;
    rlimit r = before;
    r.rlim_cur = pages * size_t(sysconf(_SC_PAGESIZE)) + extra;
    REQUIRE(setrlimit(RLIMIT_AS, &r) == 0);
  }
  ~AddressSpaceLimit() { setrlimit(RLIMIT_AS, &before); }
};
constexpr size_t kMiB = size_t(1) << 20;
}  // namespace

TEST_CASE("Arena: under an address-space limit, chunks are reserved as allocations need them, nothing moves, and "
          "what cannot fit is an OutOfMemory naming the limit") {
  const AddressSpaceLimit limit(size_t(1) << 30);
  Arena a;  // capacity: the machine's memory, over the limit
  CHECK(a.reserved() == 0);
  auto* x = static_cast<uint8_t*>(a.alloc(kMiB));
  CHECK(a.reserved() == 16 * kMiB);  // the first chunk
  std::fill(x, x + kMiB, uint8_t(7));
  const size_t after_x = a.mark();
  auto* y = static_cast<uint8_t*>(a.alloc(20 * kMiB));  // over the first chunk's end: a second chunk
  CHECK(a.reserved() == 36 * kMiB);
  std::fill(y, y + 20 * kMiB, uint8_t(9));
  auto* z = static_cast<uint8_t*>(a.alloc(kMiB));  // a third, as large as the arena so far
  CHECK(a.reserved() == 72 * kMiB);
  CHECK(x[kMiB - 1] == 7);
  CHECK(a.used() == 22 * kMiB);  // what was handed out, not the chunks' unused ends
  // a step that allocates what the previous one did lands where it did, and reserves nothing more
  a.reset();
  CHECK(a.alloc(kMiB) == x);
  CHECK(a.alloc(20 * kMiB) == y);
  CHECK(a.alloc(kMiB) == z);
  CHECK(a.reserved() == 72 * kMiB);
  // release(mark) frees across chunks: the next allocation is in the first one again
  a.release(after_x);
  CHECK(a.used() == kMiB);
  CHECK(a.alloc(kMiB) == x + kMiB);
  CHECK_THROWS_WITH_AS(a.alloc(size_t(2) << 30), doctest::Contains("over what the address-space limit (ulimit -v) of"),
                       OutOfMemory);
  // the address space allocations never reached goes back (the third chunk's end)
  a.fit_to_use();
  CHECK(a.reserved() == 37 * kMiB);
  a.reset();
  CHECK(a.alloc(kMiB) == x);
  CHECK(a.alloc(20 * kMiB) == y);
  CHECK(a.alloc(kMiB) == z);
}

TEST_CASE("Arena: without an address-space limit its capacity is reserved at the first allocation, at once") {
  Arena a(64 * kMiB);
  CHECK(a.reserved() == 0);
  a.alloc(1);
  CHECK(a.reserved() == 64 * kMiB);
  a.fit_to_use();  // (nothing to give back: a reservation costs nothing without a limit)
  CHECK(a.reserved() == 64 * kMiB);
  CHECK_THROWS_WITH_AS(a.alloc(64 * kMiB), doctest::Contains("over the buffer arena's capacity of 64 MiB"), OutOfMemory);
}

TEST_CASE("Tape: under an address-space limit activations span chunks, and inference (freeing each block's) gives the "
          "same logits") {
  const AddressSpaceLimit limit(size_t(1) << 30);
  VisionTransformer<float> model(small_vit(6), 1);
  const int64_t B = 256;
  std::vector<float> img(size_t(B * 3 * 16 * 16));
  for (size_t i = 0; i < img.size(); ++i) img[i] = float(std::sin(0.37 * double(i)));
  Tape<float> t;
  Var<float> y = model(t, t.wrap(img.data(), {B, 3, 16, 16}));
  CHECK(t.activation_high_water() > 32 * kMiB);  // over the first two chunks
  const std::vector<float> train_logits(y->data, y->data + y->numel());
  t.reset();
  t.set_grad_enabled(false);
  Var<float> z = model(t, t.wrap(img.data(), {B, 3, 16, 16}));
  for (int64_t i = 0; i < z->numel(); ++i) REQUIRE(z->data[i] == train_logits[size_t(i)]);
}
