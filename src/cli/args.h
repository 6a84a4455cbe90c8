// src/cli/args.h: what every `tapevit` subcommand shares: usage errors (exit code 2), timm's spellings of flags,
// config keys as --KEY VALUE options with a readable help, and the layering of config sources
// (checkpoint < --config files in order < command line).
#pragma once
#include <ostream>
#include <string>
#include <vector>

#include <boost/program_options.hpp>

#include "tapevit/error.h"
#include "tapevit/train/config.h"

namespace tapevit::cli {

namespace po = boost::program_options;

struct UsageError : Error {
  using Error::Error;
};

// Register these config keys as --key VALUE options (a bare boolean flag means true).
void add_config_keys(po::options_description& desc, const std::vector<std::string>& keys);
// The help of these keys, by section, with their defaults ("default: <default_label>" when the defaults come from
// elsewhere, e.g. the checkpoint).
void print_keys_help(std::ostream& os, const std::vector<std::string>& keys, const std::string& default_label = "");

// Parse args into fixed options (vm) and config key values (priority kCommandLine). timm's spellings are read as
// tapevit's (--batch-size, -b, --gp); timm flags that only tune PyTorch are dropped with a note (printed to
// stdout); timm flags tapevit lacks are a UsageError saying what to do instead.
ConfigValues parse_args(const std::vector<std::string>& args, const po::options_description& desc, po::variables_map& vm,
                        const po::positional_options_description* pos = nullptr);
// A subcommand's parse: its fixed options plus these config keys; returns the keys' command-line values.
ConfigValues parse_command(const std::vector<std::string>& args, const po::options_description& fixed,
                           const std::vector<std::string>& keys, po::variables_map& vm);
// base[k] = top[k] for every key of top.
void overlay(ConfigValues& base, const ConfigValues& top);
// Every --config FILE in order, each over what came before (priorities 1, 2, ...).
void overlay_config_files(ConfigValues& values, const po::variables_map& vm);
// With init set: what the weights file says about the model (its shapes, DIR/config.json, a checkpoint's config)
// under every other source (tapevit/train/hub_config.h: layer_init_config); says so on `os`.
void layer_init(ConfigValues& values, std::ostream& os);
// "tapevit train --config a.ini ..." as typed (for config.ini and checkpoints).
std::string command_line(const std::string& command, const std::vector<std::string>& args);
// The notes resolve_config left (a preset overriding file keys, ...), one "note: ..." line each.
void print_notes(std::ostream& os, const TrainConfig& cfg);

// "note: PATH has no digest ..." on os when an HDF5 file to be read has none (an older checkpoint, or one not
// written by tapevit): it loads, without the integrity check. Nothing for a path that is not a file.
void note_if_undigested(std::ostream& os, const std::string& path);

// The subcommands (src/cli/cmd_*.cpp); each returns the exit code.
int cmd_train(const std::vector<std::string>& args);
int cmd_eval(const std::vector<std::string>& args);
int cmd_export(const std::vector<std::string>& args);
int cmd_predict(const std::vector<std::string>& args);
int cmd_info(const std::vector<std::string>& args);
int cmd_plot(const std::vector<std::string>& args);

}  // namespace tapevit::cli
