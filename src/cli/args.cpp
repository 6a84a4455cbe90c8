// src/cli/args.cpp: see args.h.
#include "args.h"

#include <algorithm>
#include <cstdlib>
#include <cctype>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <map>

#include "tapevit/io/h5.h"
#include "tapevit/train/hub_config.h"
#include "tapevit/train/timm_flags.h"

namespace tapevit::cli {

namespace {

TrainConfig defaults() {
  TrainConfig d;
  apply_preset(d.model, d.vit);
  return d;
}

bool is_bool_key(const std::string& key) {
  const std::string v = config_get(defaults(), key);
  return v == "true" || v == "false";
}

bool is_number(const std::string& s) {
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return !s.empty() && end == s.c_str() + s.size();
}

// timm's spellings -> tapevit's: "--batch-size=64" -> "--batch_size=64", "-b" -> "--batch_size"; ignored timm
// flags (and their value) are dropped with a note; unsupported ones throw.
std::vector<std::string> normalise(const std::vector<std::string>& args, std::vector<std::string>& notes) {
  std::vector<std::string> out;
  bool value_next = false;  // the previous token was an option that may take this one as its value
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {  // the end of the options: the rest goes through as it is
      out.insert(out.end(), args.begin() + long(i), args.end());
      break;
    }
    std::string name, rest;
    if (a.rfind("--", 0) == 0 && a.size() > 2) {
      const size_t eq = a.find('=');
      name = a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
      rest = eq == std::string::npos ? "" : a.substr(eq);
    } else if (!value_next && (a.rfind("-b", 0) == 0 || a.rfind("-j", 0) == 0 || a.rfind("-vb", 0) == 0) &&
               a.size() > 1 && !std::isdigit(static_cast<unsigned char>(a[1]))) {
      name = a.substr(1, a.rfind("-vb", 0) == 0 ? 2 : 1);  // -b, -b64, -b=64
      rest = a.substr(1 + name.size());
      if (!rest.empty() && rest[0] != '=') rest = "=" + rest;
    } else {
      out.push_back(a);
      value_next = false;
      continue;
    }
    if (const TimmFlag* f = find_timm_flag(name); f && f->kind != TimmFlag::Alias) {
      if (f->kind == TimmFlag::Unsupported) throw UsageError(unknown_key_message(name));
      notes.push_back("--" + name + " (timm's) has no effect: " + f->note);
      value_next = false;
      continue;
    }
    const std::string key = canonical_key(name);
    // timm's nargs='+' flags: "--scale 0.08 1.0" -> "--scale=0.08,1.0"
    static const char* kLists[] = {"mean", "std", "scale", "ratio", "opt_betas", "classes"};
    if (rest.empty() && std::find(std::begin(kLists), std::end(kLists), key) != std::end(kLists)) {
      std::string joined;
      for (; i + 1 < args.size() && is_number(args[i + 1]); ++i) joined += (joined.empty() ? "" : ",") + args[i + 1];
      if (!joined.empty()) {
        out.push_back("--" + key + "=" + joined);
        value_next = false;
        continue;
      }
    }
    out.push_back("--" + key + rest);
    value_next = rest.empty() && !(find_config_key(key) && is_bool_key(key));
  }
  return out;
}

// A flag that takes one value, given more than once: the last occurrence is kept, as timm's argparse does, and
// a note names the flag, its values and the one used. Flags that gather values (--config) keep every occurrence.
void keep_last_occurrences(po::parsed_options& parsed, const po::options_description& desc,
                           std::vector<std::string>& notes) {
  std::map<std::string, std::vector<std::string>> given;  // flag -> its values, in order
  std::vector<std::string> order;                          // the flags, as first given
  for (const auto& o : parsed.options) {
    if (o.string_key.empty() || o.position_key >= 0) continue;
    const po::option_description* d = desc.find_nothrow(o.string_key, false);
    if (!d || dynamic_cast<const po::typed_value<std::vector<std::string>>*>(d->semantic().get())) continue;
    if (!given.count(o.string_key)) order.push_back(o.string_key);
    given[o.string_key].push_back(o.value.empty() ? "" : o.value.front());
  }
  std::map<std::string, size_t> seen;
  std::vector<po::option> kept;
  for (auto& o : parsed.options) {
    const auto it = given.find(o.string_key);
    if (o.position_key < 0 && it != given.end() && ++seen[o.string_key] < it->second.size()) continue;
    kept.push_back(std::move(o));
  }
  parsed.options = std::move(kept);
  for (const auto& flag : order) {  // (the same value repeated leaves nothing to choose: no note)
    const std::vector<std::string>& values = given[flag];
    if (std::all_of(values.begin(), values.end(), [&](const std::string& v) { return v == values.front(); })) continue;
    std::string list;
    for (const auto& v : values) list += (list.empty() ? "" : ", ") + (v.empty() ? "(alone)" : v);
    notes.push_back("--" + flag + " is given " + std::to_string(values.size()) + " times (" + list + "): the last is used, " +
                    (values.back().empty() ? "(alone)" : values.back()) + " (as timm's argparse takes the last)");
  }
}

}  // namespace

void add_config_keys(po::options_description& desc, const std::vector<std::string>& keys) {
  for (const auto& name : keys) {
    auto* v = po::value<std::string>();
    if (is_bool_key(name)) v->implicit_value("true");  // --no_aug alone means true
    desc.add_options()(name.c_str(), v, find_config_key(name)->help.c_str());
  }
}

void print_keys_help(std::ostream& os, const std::vector<std::string>& keys, const std::string& default_label) {
  const TrainConfig d = defaults();
  std::string section;
  for (const auto& k : config_keys()) {
    if (std::find(keys.begin(), keys.end(), k.name) == keys.end()) continue;
    if (k.section != section) os << "  [" << (section = k.section) << "]\n";
    const std::string arg = "--" + k.name + (is_bool_key(k.name) ? " [true|false]" : " VALUE");
    std::string def = default_label.empty() ? config_get(d, k.name) : default_label;
    os << "    " << std::left << std::setw(34) << arg << " " << k.help << " (default: " << (def.empty() ? "\"\"" : def)
       << ")\n";
  }
  os << "  A [true|false] key takes " << bool_spellings() << ", in any case; given alone (--no_aug), true.\n";
}

ConfigValues parse_args(const std::vector<std::string>& raw, const po::options_description& desc, po::variables_map& vm,
                        const po::positional_options_description* pos) {
  std::vector<std::string> notes;
  std::vector<std::string> args = normalise(raw, notes);
  for (auto& a : args) a = hide_percent(a);
  po::parsed_options parsed(&desc);
  try {
    po::command_line_parser p(args);
    p.options(desc).style(po::command_line_style::default_style & ~po::command_line_style::allow_guessing);
    if (pos) p.positional(*pos);
    parsed = p.run();
    for (auto& o : parsed.options) {
      for (auto& v : o.value) v = show_percent(v);
      for (auto& t : o.original_tokens) t = show_percent(t);
    }
    keep_last_occurrences(parsed, desc, notes);
    po::store(parsed, vm);
    po::notify(vm);
  } catch (const po::unknown_option& e) {
    std::string name = show_percent(e.get_option_name());
    while (!name.empty() && name[0] == '-') name.erase(0, 1);
    if (find_config_key(name)) throw UsageError("--" + name + " is not used by this command (see its --help)");
    std::vector<std::string> taken;  // the options of this command: a suggestion must be one of them
    for (const auto& o : desc.options()) taken.push_back(o->long_name());
    const std::string hint = suggest_config_key(name, taken);
    throw UsageError("unknown option '--" + name + "'" + (hint.empty() ? "" : "; " + hint));
  } catch (const po::error& e) {
    throw UsageError(show_percent(e.what()));
  }
  for (const auto& o : parsed.options)
    if (o.string_key.empty() && !o.original_tokens.empty())  // a positional argument no option takes
      throw UsageError("unexpected argument '" + o.original_tokens.front() + "'" +
                       (o.original_tokens.front().find(".ini") != std::string::npos ? " (did you mean --config " +
                                                                                          o.original_tokens.front() + "?)"
                                                                                    : ""));
  for (const auto& n : notes) std::cerr << "note: " << n << "\n";  // stdout may be a pipe of results (predict --out -)
  ConfigValues values;
  for (const auto& o : parsed.options)
    if (find_config_key(o.string_key))  // from vm, which holds the implicit value of a bare boolean flag
      values[o.string_key] = {vm[o.string_key].as<std::string>(), "command line", kCommandLine};
  return values;
}

ConfigValues parse_command(const std::vector<std::string>& args, const po::options_description& fixed,
                           const std::vector<std::string>& keys, po::variables_map& vm) {
  po::options_description key_options;
  add_config_keys(key_options, keys);
  po::options_description all;
  all.add(fixed).add(key_options);
  return parse_args(args, all, vm);
}

void overlay(ConfigValues& base, const ConfigValues& top) {
  for (const auto& [k, v] : top) base[k] = v;
}

void overlay_config_files(ConfigValues& values, const po::variables_map& vm) {
  if (!vm.count("config")) return;
  int priority = 1;
  for (const auto& file : vm["config"].as<std::vector<std::string>>()) overlay(values, read_config_file(file, priority++));
}

void layer_init(ConfigValues& values, std::ostream& os) {
  for (const auto& line : layer_init_config(values)) os << "note: " << line << "\n";
}

std::string command_line(const std::string& command, const std::vector<std::string>& args) {
  std::string s = "tapevit " + command;
  for (const auto& a : args) {
    const bool plain = !a.empty() && a.find_first_of(" \t\"'$\\;&|<>*?()") == std::string::npos;
    s += " " + (plain ? a : "'" + a + "'");
  }
  return s;
}

void print_notes(std::ostream& os, const TrainConfig& cfg) {
  for (const auto& n : cfg.notes) os << "note: " << n << "\n";
}

void note_if_undigested(std::ostream& os, const std::string& path) {
  if (std::filesystem::is_regular_file(path) && !h5_has_digest(path))  // a missing file: the reader's error says so
    os << "note: " << path << " has no digest (written before tapevit kept one, or not by tapevit): it is read "
          "without an integrity check\n";
}

}  // namespace tapevit::cli
