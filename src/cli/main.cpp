// src/cli/main.cpp: the `tapevit` command. Dispatches to the subcommands (src/cli/cmd_*.cpp) and is the only
// place that prints errors and exits. Exit codes: 0 success, 1 a run-time error (bad data, checkpoint,
// non-finite loss, ...), 2 bad usage. Under an MPI launcher (`mpirun -np N tapevit train`) an error on any rank is
// printed as "rank r/N (host): ..." and ends every rank with that code (MPI_Abort).
#include <signal.h>

#include <iostream>
#include <new>

#include "args.h"
#include "tapevit/train/dist.h"
#include "tapevit/version.h"

using namespace tapevit;
using namespace tapevit::cli;

namespace {

struct Command {
  const char* name;
  int (*run)(const std::vector<std::string>&);
  const char* help;
};
const Command kCommands[] = {  // help: one line each, or lines separated by \n
    {"train", cmd_train, "train a ViT from a config file and/or command-line keys, or resume a run"},
    {"eval", cmd_eval, "evaluate a checkpoint on the test split (image folders: the val split): loss, top-1,\n"
                       "top-5; writes per-class accuracy and the confusion matrix (CSV, SVG)"},
    {"info", cmd_info, "show what a run directory, checkpoint, .safetensors or HDF5 file holds (config,\n"
                       "progress, metrics, tensors); --verify checks a checkpoint against its digest"},
    {"plot", cmd_plot, "draw a run's curves (loss, top-1/top-5, lr) as SVG from summary.csv files"},
    {"export", cmd_export, "write a checkpoint's weights as timm-loadable .safetensors (+ Hub config.json)"},
    {"predict", cmd_predict, "classify a JPEG/PNG file, a folder of them or a .npy of images with a checkpoint or\n"
                             "imported timm weights: top-5 classes per image (.csv) or logits (.npy)"},
};

void usage(std::ostream& os) {
  os << "usage: tapevit <command> [options]      (tapevit <command> --help for its options)\n\ncommands:\n";
  for (const auto& c : kCommands) {
    std::string help = c.help;  // continuation lines indented under the first
    for (size_t i = help.find('\n'); i != std::string::npos; i = help.find('\n', i + 1)) help.insert(i + 1, 11, ' ');
    os << "  " << c.name << std::string(9 - std::string(c.name).size(), ' ') << help << "\n";
  }
  os << "\n  --help     this list\n  --version  the version and the build options\n";
}

// Prints an error as the command's (and, with several ranks, the rank's) and ends with code: every rank at once
// when there are several (no rank is left waiting for the one that failed).
int failed(const std::string& cmd, const std::string& message, int code, bool show_help = false) {
  const bool ranks = dist::size() > 1;
  // one write: stderr is unbuffered, and a launcher interleaves the pieces of several writes with its own output
  // (mpirun's MPI_Abort banner split "tapevit" from the rest of the line)
  std::string text = "tapevit " + cmd + (ranks ? " " + dist::where() : std::string()) + ": " + message + "\n";
  if (show_help) text += "see 'tapevit " + cmd + " --help'\n";
  std::cerr << text << std::flush;
  if (ranks) dist::abort(code);
  dist::finalize();
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  // Over the file-size limit (ulimit -f) a write should fail with EFBIG, named in the error, instead of the signal
  // killing the process and leaving a temporary file behind.
  signal(SIGXFSZ, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    usage(std::cout);
    return args.empty() ? 2 : 0;
  }
  if (args[0] == "--version" || args[0] == "version") {
    std::cout << "tapevit " << version() << "\n" << build_info();
    return 0;
  }
  const std::string cmd = args[0];
  args.erase(args.begin());
  const Command* found = nullptr;
  for (const auto& c : kCommands)
    if (cmd == c.name) found = &c;
  try {
    if (!found) throw UsageError("unknown command '" + cmd + "'");
    if (cmd == "train") {
      dist::init();  // joins the other ranks when an MPI launcher started this process
    } else if (const int n = dist::launched_size(); n > 1) {
      throw UsageError("a launcher started " + std::to_string(n) + " processes, but only 'train' runs on several (" +
                       cmd + " would run " + std::to_string(n) + " times); run it as a single process");
    }
    const int code = found->run(args);
    dist::finalize();
    return code;
  } catch (const UsageError& e) {
    if (!found) {
      std::cerr << "tapevit " << cmd << ": " << e.what() << "\n";
      usage(std::cerr);
      return 2;
    }
    return failed(cmd, e.what(), 2, /*show_help=*/true);
  } catch (const std::bad_alloc&) {
    return failed(cmd, "error: out of memory (a model, batch or file larger than this machine holds?)", 1);
  } catch (const std::exception& e) {  // tapevit::Error and anything the libraries throw
    return failed(cmd, std::string("error: ") + e.what(), 1);
  }
}
