// tests/test_config.cpp: config files, presets, command-line overrides and the errors a user can make.
#include <doctest/doctest.h>

#include "test_util.h"

#include <filesystem>
#include <fstream>
#include <functional>

#include "tapevit/train/config.h"

using namespace tapevit;
using namespace tapevit::test;
namespace fs = std::filesystem;

namespace {
std::string write_tmp(const std::string& name, const std::string& text) {
  const std::string p = (fs::temp_directory_path() / ("tapevit_cfg_" + name)).string();
  std::ofstream(p) << text;
  return p;
}
}  // namespace

TEST_CASE("Config: a file with sections, a preset, and the command line winning") {
  const std::string path = write_tmp("ok.ini",
                                     "# a commented diff from the defaults\n"
                                     "[model]\nmodel = vit_tiny_patch16_224\nnum_classes = 10\ndrop_path = 0.1\n"
                                     "[data]\nmean = 0.5, 0.4, 0.3\nstd = 0.2 0.2 0.2\n"
                                     "[optim]\nlr = 5e-4\nopt_betas = 0.9, 0.95\n");
  ConfigValues v = read_config_file(path);
  v["lr"] = {"0.002", "command line"};
  v["depth"] = {"4", "command line"};
  TrainConfig c = resolve_config(v);
  CHECK(c.vit.embed_dim == 192);   // from the preset
  CHECK(c.vit.img_size == 224);
  CHECK(c.vit.num_classes == 10);  // a file key over the preset
  CHECK(c.vit.depth == 4);         // a command-line key over the preset
  CHECK(c.lr == 0.002);            // the command line over the file
  CHECK(c.vit.drop_path_rate == 0.1);
  CHECK(c.optim.beta2 == 0.95);
  CHECK(c.aug.mean == std::vector<double>{0.5, 0.4, 0.3});
  CHECK(c.aug.std == std::vector<double>{0.2, 0.2, 0.2});
}

TEST_CASE("Config: the resolved INI reads back to the same config") {
  ConfigValues v;
  v["model"] = {"vit_cifar", "x"};
  v["dataset"] = {"cifar10", "x"};
  v["data_dir"] = {"/tmp/c10", "x"};
  v["lr"] = {"0.00123", "x"};
  v["mixup"] = {"0.8", "x"};
  v["no_aug"] = {"yes", "x"};
  v["opt"] = {"sgd", "x"};
  TrainConfig a = resolve_config(v);
  const std::string ini = config_to_ini(a);
  TrainConfig b = resolve_config(parse_ini_text(ini, "resolved"));
  CHECK(config_to_ini(b) == ini);
  CHECK(b.lr == 0.00123);
  CHECK(b.no_aug);
  CHECK(b.vit.in_chans == 3);
  CHECK(b.data_dir == "/tmp/c10");
}

TEST_CASE("Config: unknown keys, wrong sections and malformed values name the key and the file") {
  const std::string typo = write_tmp("typo.ini", "[model]\nembed_dmi = 64\n");
  CHECK(error_of([&] { read_config_file(typo); }) == typo + ": unknown key 'embed_dmi'; did you mean 'embed_dim'?");
  const std::string section = write_tmp("section.ini", "[model]\nlr = 0.1\n");
  CHECK(error_of([&] { read_config_file(section); }) == section + ": key 'lr' belongs in section [optim], not [model]");
  const std::string badsec = write_tmp("badsec.ini", "[optimizer]\nlr = 0.1\n");
  CHECK(error_of([&] { read_config_file(badsec); }).find("unknown section [optimizer]") != std::string::npos);
  const std::string badval = write_tmp("badval.ini", "[optim]\nlr = fast\n");
  CHECK(error_of([&] { resolve_config(read_config_file(badval)); }) ==
        badval + ": key 'lr': expected a number, got 'fast'");
  const std::string badint = write_tmp("badint.ini", "[model]\ndepth = 6.5\n");
  CHECK(error_of([&] { resolve_config(read_config_file(badint)); }) ==
        badint + ": key 'depth': expected an integer, got '6.5'");
  const std::string twice = write_tmp("twice.ini", "[optim]\nlr = 1\nlr = 2\n");
  CHECK(error_of([&] { read_config_file(twice); }) == twice + ": key 'lr' is given twice");
  CHECK(error_of([&] { read_config_file("/nonexistent/cfg.ini"); }) == "/nonexistent/cfg.ini: cannot open config file");
  CHECK(suggest_config_key("drop-path") == "did you mean 'drop_path'?");
  CHECK(suggest_config_key("zzzzzzzzzz") == "");
  // a command's suggestion is one of its own keys: eval does not take num_classes (the model is the checkpoint's)
  CHECK(suggest_config_key("num_clases") == "did you mean 'num_classes'?");
  CHECK(suggest_config_key("num_clases", config_keys_for(kEvalCommand)) == "");
  CHECK(suggest_config_key("val_fractoin", config_keys_for(kEvalCommand)) == "did you mean 'val_fraction'?");
  CHECK(suggest_config_key("val_fractoin", config_keys_for(kPredictCommand)) == "");
}

TEST_CASE("Config: inconsistent or out-of-range values are errors naming the keys and the sources") {
  auto err = [](std::map<std::string, std::string> kv) {
    ConfigValues v;
    for (auto& [k, x] : kv) v[k] = {x, "my.ini"};
    return error_of([&] { resolve_config(v); });
  };
  CHECK(err({{"embed_dim", "100"}, {"num_heads", "3"}}) == "my.ini: embed_dim 100 is not divisible by num_heads 3");
  CHECK(err({{"img_size", "3"}}) == "my.ini: img_size 3 is smaller than patch_size 4");
  CHECK(err({{"lr", "-0.1"}}) == "my.ini: key 'lr' must be positive, got -0.1");
  CHECK(err({{"drop_path", "1.5"}}) == "my.ini: key 'drop_path' must be in [0, 1), got 1.5");
  CHECK(err({{"sched", "step"}}) == "my.ini: key 'sched' must be cosine or constant, got 'step'");
  CHECK(err({{"dataset", "imagenet"}}) == "my.ini: key 'dataset' must be fashion-mnist, mnist, cifar10 or folder, got 'imagenet'");
  CHECK(err({{"model", "vit_huge"}}).find("my.ini: key 'model': unknown preset 'vit_huge' (presets: vit_tiny_patch16_224") == 0);
  CHECK(err({{"epochs", "0"}}) == "my.ini: key 'epochs' must be positive, got 0");
  CHECK(err({{"opt_betas", "0.9"}}) == "my.ini: key 'opt_betas': expected two numbers, got '0.9'");
  CHECK(err({{"qkv_bias", "maybe"}}) ==
        "my.ini: key 'qkv_bias': expected true or false (or 1/0, yes/no, on/off), got 'maybe'");
  CHECK(err({{"amp", "true"}, {"amp_dtype", "float16"}}) ==
        "my.ini: key 'amp_dtype' must be bfloat16, got 'float16' (float16 autocast is for GPUs; on the CPU, as in "
        "PyTorch, mixed precision is bfloat16)");
}

TEST_CASE("Config: digits default to no horizontal flip unless asked") {
  ConfigValues v;
  v["dataset"] = {"mnist", "x"};
  CHECK(resolve_config(v).aug.hflip == 0.0);
  v["hflip"] = {"0.3", "x"};
  CHECK(resolve_config(v).aug.hflip == 0.3);
  ConfigValues f;
  CHECK(resolve_config(f).aug.hflip == 0.5);  // fashion-mnist: flips are fine
}

TEST_CASE("Config: a '%' in a config file is kept, and one spelling a Boost placeholder does not hang its error") {
  CHECK(parse_ini_text("[train]\noutput = runs/100%_%value%\n", "p.ini").at("output").value == "runs/100%_%value%");
  // Boost.Program_options' error text for this line holds %invalid_line%: it used to loop forever substituting it
  CHECK(contains(error_of([] { parse_ini_text("%invalid_line%\n", "p.ini"); }),
                 "p.ini: the options configuration file contains an invalid line '%invalid_line%'"));
}

TEST_CASE("Config: the default run's 2-pixel shifts apply to fashion-mnist only, unless crop_pad is given") {
  auto resolve = [](std::vector<std::pair<std::string, std::string>> kv) {
    ConfigValues v;
    for (auto& [k, x] : kv) v[k] = {x, "test"};
    return resolve_config(v);
  };
  CHECK(resolve({}).aug.crop_padding == 2);
  CHECK(resolve({}).epochs == 26);
  CHECK(resolve({{"dataset", "mnist"}}).aug.crop_padding == 0);
  CHECK(resolve({{"dataset", "cifar10"}}).aug.crop_padding == 0);
  CHECK(resolve({{"dataset", "folder"}, {"data_dir", "/nonexistent"}}).aug.crop_padding == 0);  // valid: not refused
  CHECK(resolve({{"dataset", "mnist"}, {"crop_pad", "3"}}).aug.crop_padding == 3);
  CHECK(resolve({{"crop_pad", "0"}}).aug.crop_padding == 0);
  // the file that spells the defaults out gives the same run
  const TrainConfig file = resolve_config(read_config_file(std::string(TAPEVIT_FIXTURES) + "/../../configs/fmnist.ini"));
  CHECK(file.aug.crop_padding == 2);
  CHECK(file.epochs == 26);
}

TEST_CASE("Config: every boolean key takes exactly the spellings its error message names, in any case") {
  // the words the message offers, read off the message itself: each must be taken, with the meaning of its side
  std::string msg;
  try {
    ConfigValues v;
    v["qkv_bias"] = {"maybe", "my.ini"};
    resolve_config(v);
  } catch (const Error& e) {
    msg = e.what();
  }
  REQUIRE(contains(msg, "expected true or false (or 1/0, yes/no, on/off), got 'maybe'"));
  const std::vector<std::pair<std::string, bool>> words = {{"true", true}, {"false", false}, {"1", true}, {"0", false},
                                                           {"yes", true}, {"no", false},   {"on", true}, {"off", false}};
  const TrainConfig defaults = resolve_config({});
  int bool_keys = 0;
  for (const ConfigKey& k : config_keys()) {
    const std::string d = config_get(defaults, k.name);
    if (d != "true" && d != "false") continue;
    if (k.name == "amp") continue;  // true needs AVX512_BF16 (its own check)
    ++bool_keys;
    for (const auto& [word, meaning] : words)
      for (const std::string& spelt : {word, std::string(word == "yes" ? "YES" : word == "on" ? "On" : word)}) {
        ConfigValues v;
        if (k.name == "distilled") v["global_pool"] = {"token", "my.ini"};  // (DeiT's distillation token needs it)
        v[k.name] = {spelt, "my.ini"};
        CHECK_MESSAGE(config_get(resolve_config(v), k.name) == (meaning ? "true" : "false"), k.name, " = ", spelt);
      }
    for (const char* bad : {"maybe", "y", "2", ""}) {
      ConfigValues v;
      v[k.name] = {bad, "my.ini"};
      CHECK(error_of([&] { resolve_config(v); }) ==
            "my.ini: key '" + k.name + "': expected true or false (or 1/0, yes/no, on/off), got '" + bad + "'");
    }
  }
  CHECK(bool_keys >= 10);
}
