// tests/test_parity.cpp: tapevit against PyTorch on the fixtures written by tests/make_parity_fixtures.py
// (plain PyTorch with timm's names and semantics). Same weights and input; compared: logits, loss,
// d(loss)/d(input) and every parameter gradient, in float32 (<= 1e-5) and float64 (<= 1e-12).
// Error per tensor: ||tapevit - torch||_2 / ||torch||_2; the max abs difference is printed too.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <map>

#include "tapevit/layers/loss.h"
#include "tapevit/layers/vit.h"
#include "tapevit/io/params_h5.h"
#include "tapevit/io/vit_json.h"

using namespace tapevit;

namespace {

struct Err {
  double rel = 0, max_abs = 0;
};

template <class T>
Err compare(const T* a, const std::vector<double>& ref) {
  double num = 0, den = 0, mx = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double d = double(a[i]) - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
    mx = std::max(mx, std::abs(d));
  }
  return {std::sqrt(num / std::max(den, 1e-300)), mx};
}

// "blocks.1.attn.qkv.weight" -> "blocks.*.attn", "patch_embed.proj.bias" -> "patch_embed"
std::string group_of(const std::string& name) {
  if (name.rfind("blocks.", 0) == 0) {
    const std::string rest = name.substr(name.find('.', 7) + 1);
    return "blocks.*." + rest.substr(0, rest.find('.'));
  }
  return name.substr(0, name.find('.'));
}

template <class T>
void run_parity(const H5File& f, const std::string& cs, const char* tag, double tol) {
  const VitConfig cfg = vit_config_from_json(nlohmann::json::parse(f.attr_string("config", cs)));
  const double smoothing = f.attr_double("smoothing", cs);
  const bool soft = f.attr_int("soft_targets", cs) != 0;
  VisionTransformer<T> m(cfg, 0);
  read_params(f, cs + "/params", m.params());  // strict: names and shapes must be timm's
  Shape xs;
  std::vector<T> x = f.read<T>(cs + "/input", &xs);
  std::vector<int32_t> labels = f.read<int32_t>(cs + "/labels");
  std::vector<T> targets = f.read<T>(cs + "/targets");

  Tape<T> t(size_t(1) << 28);
  Var<T> input = t.wrap(x.data(), xs, true);
  Var<T> logits = m(t, input);
  Var<T> loss = soft ? soft_target_cross_entropy(t, logits, targets.data())
                     : cross_entropy(t, logits, labels.data(), smoothing);
  m.params().zero_grad();
  t.backward(loss);

  const std::string p = cs + "/" + tag + "/";
  auto report = [&](const std::string& what, Err e) {
    std::printf("parity %-15s %-4s %-26s rel %.3e  max_abs %.3e\n", cs.c_str(), tag, what.c_str(), e.rel, e.max_abs);
  };
  auto check = [&](const std::string& what, Err e) {
    CHECK_MESSAGE(e.rel <= tol, cs << " " << std::string(tag) << " " << what << ": relative error " << e.rel << " > " << tol);
  };
  const std::pair<const char*, Err> heads[] = {
      {"logits", compare(logits->data, f.read<double>(p + "logits"))},
      {"loss", compare(loss->data, f.read<double>(p + "loss"))},
      {"d input", compare(input->grad, f.read<double>(p + "input_grad"))},
  };
  for (auto& [what, e] : heads) report(what, e), check(what, e);
  std::map<std::string, Err> groups;  // worst tensor of each group, for the report
  for (size_t i = 0; i < m.params().size(); ++i) {
    const std::string& name = m.params().info(i).name;
    const Err e = compare(m.params().value(i)->grad, f.read<double>(p + "grads/" + name));
    check("d " + name, e);
    Err& g = groups[group_of(name)];
    g.rel = std::max(g.rel, e.rel);
    g.max_abs = std::max(g.max_abs, e.max_abs);
  }
  for (auto& [g, e] : groups) report("d " + g, e);
}

}  // namespace

TEST_CASE("Parity with PyTorch: logits, loss and every gradient (float32 <= 1e-5, float64 <= 1e-12)") {
  H5File f(std::string(TAPEVIT_FIXTURES) + "/parity_vit.h5", H5File::Read);
  for (const char* cs : {"token", "avg_ls", "deit3", "dinov2_reg", "clip_quickgelu", "siglip_gap", "betwixt_reg_gap",
                         "floor_grid", "siglip_map", "map_cls_reg", "deit_distilled", "single_head", "gqa",
                         "mqa_reg_map"}) {
    SUBCASE(cs) {
      run_parity<float>(f, cs, "f32", 1e-5);
      run_parity<double>(f, cs, "f64", 1e-12);
    }
  }
}
