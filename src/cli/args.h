// src/cli/args.h: what every `tapevit` subcommand shares: usage errors (exit code 2), every config key as a
// --KEY VALUE option, and the layering of config sources (checkpoint < --config files < command line).
#pragma once
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

// Every config key of these sections as --key VALUE, with its default in the help text.
void add_config_keys(po::options_description& desc, const std::vector<std::string>& sections);
// Parse args into fixed options (vm) and config key values (marked "command line"). Throws UsageError.
ConfigValues parse_args(const std::vector<std::string>& args, const po::options_description& desc, po::variables_map& vm,
                        const po::positional_options_description* pos = nullptr);
// base[k] = top[k] for every key of top.
void overlay(ConfigValues& base, const ConfigValues& top);
// Every --config FILE in order, each over what came before.
void overlay_config_files(ConfigValues& values, const po::variables_map& vm);

// The subcommands (src/cli/cmd_*.cpp); each returns the exit code.
int cmd_train(const std::vector<std::string>& args);
int cmd_eval(const std::vector<std::string>& args);
int cmd_export(const std::vector<std::string>& args);
int cmd_predict(const std::vector<std::string>& args);
int cmd_info(const std::vector<std::string>& args);
int cmd_plot(const std::vector<std::string>& args);

}  // namespace tapevit::cli
