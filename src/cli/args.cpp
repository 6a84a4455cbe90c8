// src/cli/args.cpp: see args.h.
#include "args.h"

#include <algorithm>

namespace tapevit::cli {

void add_config_keys(po::options_description& desc, const std::vector<std::string>& sections) {
  TrainConfig defaults;
  apply_preset(defaults.model, defaults.vit);
  for (const auto& k : config_keys()) {
    if (std::find(sections.begin(), sections.end(), k.section) == sections.end()) continue;
    std::string def = config_get(defaults, k.name);
    auto* v = po::value<std::string>()->value_name(def.empty() ? "\"\"" : def);
    if (def == "true" || def == "false") v->implicit_value("true")->value_name(def);  // --no_aug alone means true
    desc.add_options()(k.name.c_str(), v, ("[" + k.section + "] " + k.help).c_str());
  }
}

ConfigValues parse_args(const std::vector<std::string>& args, const po::options_description& desc, po::variables_map& vm,
                        const po::positional_options_description* pos) {
  po::parsed_options parsed(&desc);
  try {
    po::command_line_parser p(args);
    p.options(desc).style(po::command_line_style::default_style & ~po::command_line_style::allow_guessing);
    if (pos) p.positional(*pos);
    parsed = p.run();
    po::store(parsed, vm);
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    std::string name = e.get_option_name();
    while (!name.empty() && name[0] == '-') name.erase(0, 1);
    const std::string hint = suggest_config_key(name);
    throw UsageError("unknown option '" + e.get_option_name() + "'" + (hint.empty() ? "" : "; " + hint));
  } catch (const po::error& e) {
    throw UsageError(e.what());
  }
  ConfigValues values;
  for (const auto& o : parsed.options)
    if (find_config_key(o.string_key))  // from vm, which holds the implicit value of a bare boolean flag
      values[o.string_key] = {vm[o.string_key].as<std::string>(), "command line"};
  return values;
}

void overlay(ConfigValues& base, const ConfigValues& top) {
  for (const auto& [k, v] : top) base[k] = v;
}

void overlay_config_files(ConfigValues& values, const po::variables_map& vm) {
  if (vm.count("config"))
    for (const auto& file : vm["config"].as<std::vector<std::string>>()) overlay(values, read_config_file(file));
}

}  // namespace tapevit::cli
