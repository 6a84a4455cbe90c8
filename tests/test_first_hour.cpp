// tests/test_first_hour.cpp: the library side of a timm user's first hour: timm's spellings and the answers for
// flags tapevit lacks, a command-line preset over a file's architecture keys, timm's Hub config.json, the held-out
// validation split, a status line that fits any terminal width, and throughputs below 1 img/s.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "tapevit/data/dataset.h"
#include "tapevit/io/pretrained.h"
#include "tapevit/train/config.h"
#include "tapevit/train/evaluate.h"
#include "tapevit/train/hub_config.h"
#include "tapevit/train/timm_flags.h"
#include "test_util.h"
#include "train/progress.h"  // internal: status_line

using namespace tapevit;
using namespace tapevit::test;
namespace fs = std::filesystem;

TEST_CASE("timm flags: dashed spellings and timm's names map to tapevit keys") {
  CHECK(canonical_key("batch-size") == "batch_size");
  CHECK(canonical_key("batch_size") == "batch_size");
  CHECK(canonical_key("b") == "batch_size");
  CHECK(canonical_key("gp") == "global_pool");
  CHECK(canonical_key("initial-checkpoint") == "init");
  CHECK(canonical_key("recovery-interval") == "checkpoint_steps");
  CHECK(canonical_key("warmup-epochs") == "warmup_epochs");
  CHECK(canonical_key("no-such-thing") == "no_such_thing");
  // every alias names a real key; every other entry says why or what instead
  std::set<std::string> seen;
  for (const auto& f : timm_flags()) {
    CHECK_MESSAGE(seen.insert(f.flag).second, "listed twice: " << f.flag);
    if (f.kind == TimmFlag::Alias) CHECK_MESSAGE(find_config_key(f.key) != nullptr, f.flag << " -> " << f.key);
    else CHECK_MESSAGE(!f.note.empty(), f.flag);
  }
}

TEST_CASE("timm flags: unsupported ones get a specific answer, and suggestions stay close") {
  CHECK(unknown_key_message("model-ema-warmup") ==
        "'model-ema-warmup' (timm's --model-ema-warmup) is not supported: the EMA decay is constant after its first step (timm's default)");
  CHECK(contains(unknown_key_message("experiment"), "--output runs/NAME"));
  CHECK(suggest_config_key("embed_dmi") == "did you mean 'embed_dim'?");
  CHECK(suggest_config_key("epoch") == "did you mean 'epochs'?");
  CHECK(suggest_config_key("amp-type") == "did you mean 'amp_dtype'?");
  CHECK(suggest_config_key("frobnicate").empty());
  CHECK(suggest_config_key("xyz").empty());
}

TEST_CASE("Config: timm's spellings in a config file are read as tapevit keys") {
  const ConfigValues v = parse_ini_text("[train]\nbatch-size = 32\n[model]\ngp = avg\ndrop-path = 0.1\n", "t.ini");
  CHECK(v.at("batch_size").value == "32");
  CHECK(v.at("global_pool").value == "avg");
  CHECK(v.at("drop_path").value == "0.1");
  expect_error([] { parse_ini_text("[train]\nmodel-ema-warmup = true\n", "t.ini"); },
               {"t.ini: 'model-ema-warmup' (timm's --model-ema-warmup) is not supported"});
  CHECK(parse_ini_text("[train]\ngrad-accum-steps = 2\n", "t.ini").at("grad_accum_steps").value == "2");
  const ConfigValues amp = parse_ini_text("[train]\namp = true\namp-dtype = bfloat16\n", "t.ini");
  CHECK(amp.at("amp").value == "true");
  CHECK(amp.at("amp_dtype").value == "bfloat16");
  TrainConfig c = resolve_config(parse_ini_text("[train]\npin_mem = true\n", "t.ini"));  // accepted, no effect
  REQUIRE(c.notes.size() == 1);
  CHECK(contains(c.notes[0], "pin_mem (timm's --pin-mem) has no effect"));
  c = resolve_config(parse_ini_text("[data]\nworkers = 3\ncrop-pct = 0.95\nreprob = 0.25\n", "t.ini"));
  CHECK(c.workers == 3);
  CHECK(c.aug.image.crop_pct == 0.95);
  CHECK(c.aug.image.reprob == 0.25);
}

TEST_CASE("Config: a preset from a later source replaces the architecture keys of an earlier one, with a note") {
  ConfigValues v = parse_ini_text("[model]\nmodel = vit_fmnist\nembed_dim = 64\ndepth = 4\nnum_heads = 2\n[train]\nepochs = 3\n",
                                  "f.ini", 1);
  {
    TrainConfig same = resolve_config(v);  // the same file: its keys modify its preset
    CHECK(same.vit.embed_dim == 64);
    CHECK(same.notes.empty());
  }
  v["model"] = {"vit_cifar", "command line", kCommandLine};
  TrainConfig c = resolve_config(v);
  CHECK(c.vit.embed_dim == 192);
  CHECK(c.vit.depth == 6);
  CHECK(c.vit.num_heads == 3);
  CHECK(c.vit.in_chans == 3);
  CHECK(c.epochs == 3);  // not an architecture key: the file's value stays
  REQUIRE(c.notes.size() == 1);
  CHECK(c.notes[0] == "model = vit_cifar (command line) replaces embed_dim = 64, depth = 4, num_heads = 2 from f.ini; "
                      "give them after it to keep them");
  ConfigValues backbone;
  backbone["model"] = {"vit_small_patch14_dinov2", "command line", kCommandLine};
  CHECK(resolve_config(backbone).vit.num_classes == 0);  // a preset without a head resolves (predict: features)
  v["depth"] = {"2", "command line", kCommandLine};  // given with the preset: applies
  CHECK(resolve_config(v).vit.depth == 2);
  CHECK(contains(describe_architecture("vit_cifar", resolve_config(v).vit), "(changed from the preset: depth 6 -> 2)"));
}

TEST_CASE("Config: a preset's note lists only the keys whose values it changes, compared as the key reads them") {
  // what an export's config.json says (mlp_ratio written 4.0, qkv_bias as JSON's true) under --model vit_cifar
  ConfigValues v;
  for (const auto& [k, x] : std::vector<std::pair<std::string, std::string>>{
           {"img_size", "24"}, {"in_chans", "3"}, {"embed_dim", "32"}, {"mlp_ratio", "4.0"}, {"qkv_bias", "True"}})
    v[k] = {x, "hub/config.json", 0};
  v["model"] = {"vit_cifar", "command line", kCommandLine};
  const TrainConfig c = resolve_config(v);
  REQUIRE(c.notes.size() == 1);
  // vit_cifar: 32x32x3, embed_dim 192, mlp_ratio 4, qkv_bias: only img_size and embed_dim change
  CHECK(c.notes[0] == "model = vit_cifar (command line) replaces img_size = 24, embed_dim = 32 from hub/config.json; "
                      "give them after it to keep them");
  v.erase("img_size"), v.erase("embed_dim");
  CHECK(resolve_config(v).notes.empty());  // nothing it replaces differs: nothing to say
}

TEST_CASE("Config: mean/std for other channels than in_chans, from an earlier source, are averaged as timm's loader does") {
  ConfigValues v;
  v["mean"] = {"0.485, 0.456, 0.406", "w/config.json", 0};  // an RGB export's pretrained_cfg
  v["std"] = {"0.229, 0.224, 0.225", "w/config.json", 0};
  v["in_chans"] = {"1", "command line", kCommandLine};
  const TrainConfig c = resolve_config(v);
  // timm/data/loader.py adapt_to_chs: (np.mean(x),) * channels when the counts differ
  CHECK(c.aug.mean == std::vector<double>{(0.485 + 0.456 + 0.406) / 3});
  CHECK(c.aug.std == std::vector<double>{(0.229 + 0.224 + 0.225) / 3});
  REQUIRE(c.notes.size() == 2);
  CHECK(contains(c.notes[0], "mean = 0.485, 0.456, 0.406 (w/config.json) is for 3 channels; in_chans = 1 (command "
                             "line): mean = 0.44"));
  CHECK(contains(c.notes[0], "their average, as timm's loader does; set mean to choose another"));
  CHECK(contains(c.notes[1], "std = 0.229, 0.224, 0.225 (w/config.json) is for 3 channels"));
  // the note's advice, followed: the value given wins and nothing is averaged
  ConfigValues given = v;
  given["mean"] = {"0.5", "command line", kCommandLine};
  CHECK(resolve_config(given).aug.mean == std::vector<double>{0.5});
  // more channels: the average once per channel
  v["in_chans"] = {"4", "command line", kCommandLine};
  CHECK(resolve_config(v).aug.std == std::vector<double>(4, (0.229 + 0.224 + 0.225) / 3));
  // a preset of another channel count over a file's statistics
  ConfigValues by_model = v;
  by_model.erase("in_chans");
  by_model["model"] = {"vit_fmnist", "command line", kCommandLine};
  CHECK(contains(resolve_config(by_model).notes.back(), "in_chans = 1 (model = vit_fmnist, command line)"));
  // the same source says both: its mean does not fit, an error that does not repeat itself
  v["in_chans"] = {"1", "command line", kCommandLine};
  v["mean"].priority = kCommandLine;
  expect_error([&] { resolve_config(v); }, {"key 'mean' has 3 values, expected 1 (in_chans is 1)"});
  CHECK(!contains(error_of([&] { resolve_config(v); }), "or 1 (for all)"));
  v["in_chans"] = {"4", "command line", kCommandLine};
  expect_error([&] { resolve_config(v); }, {"key 'mean' has 3 values, expected 4 (one per channel, in_chans 4) or 1 (for all)"});
}

TEST_CASE("Presets: vit_custom_<name> is timm's VisionTransformer defaults under a name, other unknown names are errors") {
  VitConfig a, b;
  CHECK(apply_preset("vit_custom_patch8_24", a));
  CHECK(apply_preset("vit_custom", b));
  CHECK(a.embed_dim == b.embed_dim);
  CHECK(is_custom_model("vit_custom_my-weights.v2"));
  CHECK(!is_custom_model("vit_custom_"));
  CHECK(!is_custom_model("vit_cifar"));
  CHECK(custom_model_name("vit_custom_patch8_24") == "vit_custom_patch8_24");
  CHECK(custom_model_name("photos 2024") == "vit_custom_photos_2024");
  CHECK(custom_model_name("") == "vit_custom");
  ConfigValues v;
  v["model"] = {"vit_custom_patch8_24", "runs/x/config.ini", 1};
  CHECK(resolve_config(v).model == "vit_custom_patch8_24");  // a run's config.ini reads back
  v["model"] = {"vit_tiny_patch16_244", "command line", kCommandLine};
  expect_error([&] { resolve_config(v); }, {"unknown preset 'vit_tiny_patch16_244'"});
}

TEST_CASE("Hub config.json: what tapevit export writes reads back as the same architecture, families included") {
  VitConfig v;
  apply_preset("vit_cifar", v);
  v.depth = 3;
  v.reg_tokens = 2, v.no_embed_class = true, v.pre_norm = true, v.norm_eps = 1e-5, v.act_layer = "quick_gelu";
  const fs::path dir = fs::temp_directory_path() / "tapevit_hub_config";
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << timm_hub_config("vit_custom_patch4_32", v, {{0.5}, {0.25}});
  std::ofstream(dir / "model.safetensors") << "x";
  CHECK(hub_config_beside((dir / "model.safetensors").string()) == (dir / "config.json").string());
  CHECK(hub_config_beside((dir / "model.h5").string()).empty());
  const ConfigValues values = read_hub_config((dir / "config.json").string());
  // not a preset name: timm's VisionTransformer defaults under the export's name, not tapevit's default preset
  CHECK(values.at("model").value == "vit_custom_patch4_32");
  TrainConfig c = resolve_config(values);
  CHECK(c.model == "vit_custom_patch4_32");
  CHECK(describe_architecture(c.model, c.vit).rfind("vit_custom_patch4_32: embed_dim 192, depth 3,", 0) == 0);
  CHECK(c.vit.embed_dim == 192);
  CHECK(c.vit.depth == 3);
  CHECK(c.vit.in_chans == 3);
  CHECK(c.vit.img_size == 32);
  CHECK(c.aug.mean == std::vector<double>{0.5, 0.5, 0.5});
  CHECK(c.vit.reg_tokens == 2);
  CHECK(c.vit.no_embed_class);
  CHECK(c.vit.pre_norm);
  CHECK(c.vit.norm_eps == 1e-5);
  CHECK(c.vit.act_layer == "quick_gelu");
  std::ofstream(dir / "reg.json") << R"({"architecture": "vit_base_patch14_reg4_dinov2", "model_args": {"reg_tokens": 4,
      "no_embed_class": true, "fc_norm": null, "pre_norm": false, "act_layer": "gelu_tanh"}})";
  const TrainConfig reg = resolve_config(read_hub_config((dir / "reg.json").string()));
  CHECK(reg.model == "vit_custom_vit_base_patch14_reg4_dinov2");  // a timm model tapevit has no preset of
  CHECK(reg.vit.reg_tokens == 4);
  CHECK(reg.vit.no_embed_class);
  CHECK(reg.vit.fc_norm == "auto");
  CHECK(reg.vit.act_layer == "gelu_tanh");
  std::ofstream(dir / "clip.json") << R"({"architecture": "vit_large_patch14_clip_224", "model_args": {"pre_norm": true}})";
  CHECK(resolve_config(read_hub_config((dir / "clip.json").string())).vit.norm_eps == 1e-5);  // timm's CLIP towers
  std::ofstream(dir / "pad.json") << R"({"architecture": "vit_base_patch16_224", "model_args": {"dynamic_img_pad": true}})";
  expect_error([&] { read_hub_config((dir / "pad.json").string()); }, {"pad.json: model_args 'dynamic_img_pad' = true"});
  std::ofstream(dir / "bad.json") << "{not json";
  expect_error([&] { read_hub_config((dir / "bad.json").string()); }, {"bad.json: not valid JSON"});
}

TEST_CASE("Data: hold_out moves a seeded fraction of each class, disjoint and reproducible") {
  Dataset d;
  d.name = "t", d.n = 300, d.channels = 1, d.height = 1, d.width = 1, d.num_classes = 3;
  for (int i = 0; i < 300; ++i) d.images.push_back(uint8_t(i % 251)), d.labels.push_back(i < 150 ? 0 : i < 250 ? 1 : 2);
  Dataset a = d, b = d, c = d;
  const Dataset ha = hold_out(a, 0.2, 1), hb = hold_out(b, 0.2, 1), hc = hold_out(c, 0.2, 2);
  CHECK(ha.n == 30 + 20 + 10);  // per class: 150, 100, 50
  CHECK(a.n == 240);
  CHECK(ha.labels == hb.labels);
  CHECK(ha.images == hb.images);
  CHECK(hc.images != ha.images);  // another seed, another split
  std::vector<int> per(3, 0);
  for (int32_t y : ha.labels) ++per[size_t(y)];
  CHECK(per == std::vector<int>{30, 20, 10});
  // disjoint: every original sample is in exactly one part (pixel values i % 251 with labels identify samples)
  std::multiset<std::pair<int, int>> all, parts;
  for (int i = 0; i < 300; ++i) all.insert({d.images[size_t(i)], d.labels[size_t(i)]});
  for (int i = 0; i < ha.n; ++i) parts.insert({ha.images[size_t(i)], ha.labels[size_t(i)]});
  for (int i = 0; i < a.n; ++i) parts.insert({a.images[size_t(i)], a.labels[size_t(i)]});
  CHECK(all == parts);
  Dataset e = d;
  expect_error([&] { hold_out(e, 1.5, 1); }, {"val_fraction", "(0, 1)"});
  expect_error([&] { hold_out(e, 0.001, 1); }, {"val_fraction", "holds out no image"});
}

TEST_CASE("Display: a status line fits every terminal width and keeps what matters") {
  const std::vector<StatusField> fields = {{"123/938", 0}, {"loss 0.1234", 1}, {"lr 2.00e-03", 4}, {"1900 img/s", 3},
                                           {"eta 5m03s", 2}};
  for (int cols = 20; cols <= 200; ++cols) {
    const std::string line = status_line(cols, "epoch 3/13", 0.5, fields);
    CHECK_MESSAGE(line.size() <= size_t(cols - 1), cols << " columns: '" << line << "'");
    CHECK(line.rfind("epoch 3/13", 0) == 0);
    if (cols >= 24) CHECK_MESSAGE(contains(line, "123/938"), cols << ": " << line);
  }
  const std::string wide = status_line(160, "epoch 3/13", 0.5, fields);
  CHECK(contains(wide, "[############............]"));
  for (const auto& f : fields) CHECK(contains(wide, f.text));
  const std::string narrow = status_line(50, "epoch 3/13", 0.5, fields);
  CHECK(contains(narrow, "loss 0.1234"));  // before lr and throughput
  CHECK(!contains(narrow, "lr 2.00e-03"));
}

TEST_CASE("Display: a throughput below 1 img/s keeps two significant digits (not '0 img/s')") {
  CHECK(per_second(1234.9) == "1234");
  CHECK(per_second(12.7) == "12");
  CHECK(per_second(10) == "10");
  CHECK(per_second(3.456) == "3.5");
  CHECK(per_second(0.3449) == "0.34");  // a 518-px ViT-S/14 step at batch 8 in 23 s: 8 / 23 img/s
  CHECK(per_second(8.0 / 23) == "0.35");
  CHECK(per_second(0.04321) == "0.043");
  CHECK(per_second(0) == "0");
  CHECK(per_second(NAN) == "?");
}
