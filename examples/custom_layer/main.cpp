// main.cpp: a model written outside tapevit's tree, built against the installed package (find_package(tapevit)).
//
// A sequence classifier: Linear token embedding -> class token + position embedding -> 2 timm Blocks (LayerNorm,
// Attention, Mlp) -> RMSNorm (this example's own layer, rmsnorm.h) -> class token -> Linear head. The program
//   1. checks RMSNorm's hand-written backward, alone and inside the whole model, with tapevit's gradient check;
//   2. trains the model with AdamW on the tape for a few hundred steps on a synthetic task;
//   3. saves an HDF5 checkpoint, loads it into a fresh model and checks that weights, optimizer state and logits
//      come back bit for bit.
// Exit code 0 when all three hold, 1 otherwise.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <random>
#include <vector>

#include "rmsnorm.h"
#include "tapevit/gradcheck.h"
#include "tapevit/io/checkpoint.h"
#include "tapevit/layers/linear.h"
#include "tapevit/layers/loss.h"
#include "tapevit/layers/tokens.h"
#include "tapevit/layers/transformer_block.h"
#include "tapevit/optim/optimizer.h"

using namespace tapevit;

constexpr int64_t kTokens = 6, kIn = 8, kDim = 32, kHeads = 4, kClasses = 4;

template <class T>
struct SequenceClassifier {
  Params<T> params;  // every tensor by name: "embed.weight", "blocks.0.attn.qkv.weight", "norm.weight", ...
  Linear<T> embed, head;
  Var<T> cls_token = nullptr, pos_embed = nullptr;
  std::vector<TransformerBlock<T>> blocks;
  example::RMSNorm<T> norm;

  explicit SequenceClassifier(uint64_t seed) {
    embed = Linear<T>(params, "embed", kIn, kDim);
    cls_token = params.add("cls_token", {1, 1, kDim}, InitSpec::normal(1e-6));
    pos_embed = params.add("pos_embed", {1, 1 + kTokens, kDim}, InitSpec::trunc_normal(0.02));
    BlockConfig bc;
    bc.dim = kDim, bc.num_heads = kHeads, bc.mlp_hidden = 4 * kDim;
    for (int i = 0; i < 2; ++i) blocks.emplace_back(params, "blocks." + std::to_string(i), bc);
    norm = example::RMSNorm<T>(params, "norm", kDim);
    head = Linear<T>(params, "head", kDim, kClasses);
    params.allocate();
    params.init(seed);
  }
  SequenceClassifier(const SequenceClassifier&) = delete;  // layers hold handles into params

  // x: (B, kTokens, kIn) -> logits (B, kClasses)
  Var<T> operator()(Tape<T>& t, Var<T> x) const {
    x = embed(t, x);
    x = embed_tokens(t, x, cls_token, pos_embed);
    for (const auto& b : blocks) x = b(t, x);
    x = norm(t, x);
    return head(t, pool_tokens(t, x, Pool::Token));
  }
};

// The task: one of the tokens (any position) carries its class's pattern, the others are noise; the model
// has to find it (attention) and name the class.
struct Batch {
  std::vector<float> x;
  std::vector<int32_t> y;
};
Batch make_batch(int64_t B, std::mt19937& rng) {
  static const std::vector<float> patterns = [] {
    std::mt19937 g(7);
    std::normal_distribution<float> n;
    std::vector<float> p(kClasses * kIn);
    for (auto& v : p) v = 2 * n(g);
    return p;
  }();
  std::normal_distribution<float> noise(0, 1);
  std::uniform_int_distribution<int> cls(0, kClasses - 1), pos(0, kTokens - 1);
  Batch b{std::vector<float>(size_t(B * kTokens * kIn)), std::vector<int32_t>(size_t(B))};
  for (int64_t i = 0; i < B; ++i) {
    const int k = cls(rng), at = pos(rng);
    b.y[size_t(i)] = k;
    for (int64_t n = 0; n < kTokens; ++n)
      for (int64_t c = 0; c < kIn; ++c)
        b.x[size_t((i * kTokens + n) * kIn + c)] = 0.5f * noise(rng) + (n == at ? patterns[size_t(k * kIn + c)] : 0.f);
  }
  return b;
}

bool check_gradients() {
  bool ok = true;
  {  // RMSNorm alone: input and weight
    Params<double> p;
    example::RMSNorm<double> layer(p, "norm", 5);
    p.allocate();
    fill_param(layer.weight, 3, 0.5, 1.0);  // not all ones, so a wrong dw cannot hide
    Leaf x({3, 4, 5}, 11);
    auto reps = gradcheck([&](Tape<double>& t) { return layer(t, x.var()); },
                          {{"x", x.var()}, {"norm.weight", layer.weight, true}}, &p);
    ok = grads_ok("RMSNorm(5), x [3, 4, 5]", reps, 1e-6, &std::cout) && ok;
  }
  {  // inside the model: the input, RMSNorm's weight and the layers on either side of it
    SequenceClassifier<double> m(5);
    fill_param(m.norm.weight, 4, 0.5, 1.0);
    Leaf x({2, kTokens, kIn}, 12);
    std::vector<Wrt> wrt = {{"x", x.var()}, {"norm.weight", m.norm.weight, true},
                            {"blocks.1.mlp.fc2.weight", m.params.at("blocks.1.mlp.fc2.weight"), true},
                            {"head.weight", m.head.weight, true}, {"embed.weight", m.embed.weight, true}};
    auto reps = gradcheck([&](Tape<double>& t) { return m(t, x.var()); }, wrt, &m.params, false, 64);
    ok = grads_ok("SequenceClassifier, x [2, 6, 8]", reps, 1e-6, &std::cout) && ok;
  }
  return ok;
}

int main() try {
  std::cout << "1. gradient check (double, central differences)\n";
  const bool grads = check_gradients();

  std::cout << "2. training with AdamW\n";
  SequenceClassifier<float> model(42);
  OptimConfig oc;
  oc.weight_decay = 0.01;
  auto opt = make_optimizer(oc, model.params);
  Tape<float> tape;
  tape.training = true;
  std::mt19937 rng(1);
  const int64_t B = 32, steps = 300;
  double first = 0, last = 0;
  for (int64_t s = 0; s < steps; ++s) {
    Batch b = make_batch(B, rng);
    tape.reset();
    Var<float> logits = model(tape, tape.wrap(b.x.data(), {B, kTokens, kIn}));
    Var<float> loss = cross_entropy(tape, logits, b.y.data());
    model.params.zero_grad();
    tape.backward(loss);
    opt->step(model.params, 2e-3);
    if (s < 20) first += loss->data[0] / 20;
    if (s >= steps - 20) last += loss->data[0] / 20;
    if (s % 50 == 0 || s == steps - 1) std::printf("  step %3lld  loss %.4f\n", (long long)s, loss->data[0]);
  }
  const bool learned = last < 0.5 * first;
  std::printf("  mean loss, first 20 steps %.4f -> last 20 steps %.4f (%s)\n", first, last,
              learned ? "falls" : "DID NOT FALL by half");

  std::cout << "3. HDF5 checkpoint round trip\n";
  const std::string path = (std::filesystem::temp_directory_path() / "custom_layer_example.h5").string();
  TrainState st;
  st.global_step = steps;
  save_checkpoint<float>(path, {"[example]\n", "{}", "adamw"}, model.params, opt.get(), st);
  SequenceClassifier<float> loaded(7);  // other initial weights, overwritten by the load
  auto opt2 = make_optimizer(oc, loaded.params);
  const TrainState back = load_checkpoint<float>(path, loaded.params, opt2.get());
  bool same = back.global_step == steps && opt2->steps() == opt->steps();
  for (size_t i = 0; i < model.params.size(); ++i) {
    const int64_t off = model.params.info(i).offset, n = model.params.info(i).shape.numel();
    for (int64_t j = 0; j < n; ++j) same = same && model.params.data()[off + j] == loaded.params.data()[off + j];
  }
  for (size_t k = 0; k < opt->state().size(); ++k)
    for (int64_t j = 0; j < model.params.flat_size(); ++j)
      same = same && opt->state()[k].second[j] == opt2->state()[k].second[j];
  Batch probe = make_batch(8, rng);
  Tape<float> ta, tb;
  ta.set_grad_enabled(false), tb.set_grad_enabled(false);
  Var<float> la = model(ta, ta.wrap(probe.x.data(), {8, kTokens, kIn}));
  Var<float> lb = loaded(tb, tb.wrap(probe.x.data(), {8, kTokens, kIn}));
  for (int64_t j = 0; j < la->numel(); ++j) same = same && la->data[j] == lb->data[j];
  std::printf("  %s: %zu tensors, %lld parameters, optimizer state and logits %s\n", path.c_str(),
              model.params.size(), (long long)model.params.numel(), same ? "identical" : "DIFFER");
  std::filesystem::remove(path);

  const bool ok = grads && learned && same;
  std::cout << (ok ? "custom_layer: all checks passed\n" : "custom_layer: FAILED\n");
  return ok ? 0 : 1;
} catch (const std::exception& e) {  // tapevit::Error names the layer, tensor or file
  std::cerr << "custom_layer: error: " << e.what() << "\n";
  return 1;
}
