// src/cli/cmd_info.cpp: looking at what a run left: `tapevit info` (a checkpoint or any HDF5 file) and
// `tapevit plot` (curves.svg from summary.csv files).
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "args.h"
#include "tapevit/io/atomic_file.h"
#include "tapevit/io/h5.h"
#include "tapevit/train/curves.h"

namespace tapevit::cli {

namespace {

void list_datasets(const H5File& f, const std::string& group, std::ostream& os) {
  for (const auto& name : f.list(group)) {
    const std::string path = group == "/" ? name : group + "/" + name;
    try {
      Shape s = f.shape(path);
      os << "  " << std::left << std::setw(52) << path << " " << std::setw(18) << s.str() << " " << f.dtype(path) << "\n";
    } catch (const Error&) {
      list_datasets(f, path, os);  // a group
    }
  }
}

}  // namespace

int cmd_info(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    std::cout << "usage: tapevit info FILE\n  FILE: a tapevit checkpoint (.h5) or any HDF5 file\n";
    return args.empty() ? 2 : 0;
  }
  if (args.size() != 1) throw UsageError("info takes one file");
  const std::string& path = args[0];
  H5File f(path, H5File::Read);
  if (f.has_attr("format") && f.attr_string("format") == "tapevit-checkpoint") {
    std::cout << path << ": tapevit checkpoint v" << f.attr_int("version") << "\n"
              << "  epoch " << f.attr_int("epoch") << " (+" << f.attr_int("step_in_epoch") << " batches), step "
              << f.attr_int("global_step") << ", optimizer " << f.attr_string("optimizer") << " ("
              << f.attr_int("optimizer_steps") << " steps), lr " << f.attr_double("lr") << ", best top1 "
              << f.attr_double("best_top1") << "% (epoch " << f.attr_int("best_epoch") << ")\n"
              << "  model: " << f.attr_string("model_config") << "\n";
    auto ep = f.read<double>("metrics/epoch");
    if (!ep.empty()) {
      auto tl = f.read<double>("metrics/train_loss"), el = f.read<double>("metrics/eval_loss"),
           t1 = f.read<double>("metrics/eval_top1"), t5 = f.read<double>("metrics/eval_top5"),
           sec = f.read<double>("metrics/seconds");
      std::cout << "  metrics:\n    epoch  train_loss  eval_loss   top1    top5   seconds\n";
      for (size_t i = 0; i < ep.size(); ++i)
        std::cout << std::fixed << "    " << std::setw(5) << int64_t(ep[i]) << std::setprecision(4) << std::setw(12)
                  << tl[i] << std::setw(11) << el[i] << std::setprecision(2) << std::setw(8) << t1[i] << std::setw(8)
                  << t5[i] << std::setprecision(1) << std::setw(10) << sec[i] << "\n"
                  << std::defaultfloat;
    }
    std::cout << "  config:\n";
    std::istringstream cfg(f.attr_string("config"));
    for (std::string line; std::getline(cfg, line);) std::cout << "    " << line << "\n";
  } else {
    std::cout << path << ": HDF5 file\n";
  }
  std::cout << "  tensors:\n";
  list_datasets(f, "/", std::cout);
  return 0;
}

int cmd_plot(const std::vector<std::string>& args) {
  po::options_description desc("plot options");
  desc.add_options()("help,h", "show this help")("csv", po::value<std::vector<std::string>>()->value_name("CSV"),
                                                   "summary.csv of a run (or its run directory); several are overlaid")(
      "out", po::value<std::string>()->value_name("FILE"),
      "the SVG to write (default: curves.svg beside the only CSV; required for several)");
  po::positional_options_description pos;
  pos.add("csv", -1);
  po::variables_map vm;
  parse_args(args, desc, vm, &pos);
  if (vm.count("help")) {
    std::cout << "usage: tapevit plot RUN/summary.csv [MORE.csv ...] [--out FILE]\n"
                 "  draws train/eval loss, top-1/top-5 and lr per epoch as a self-contained SVG\n\n"
              << desc << "\n";
    return 0;
  }
  if (!vm.count("csv")) throw UsageError("plot needs at least one summary.csv (or run directory)");
  namespace fs = std::filesystem;
  std::vector<RunCurves> runs;
  std::vector<fs::path> csvs;
  for (const auto& arg : vm["csv"].as<std::vector<std::string>>()) {
    const fs::path p = fs::is_directory(arg) ? fs::path(arg) / "summary.csv" : fs::path(arg);
    const std::string dir = p.parent_path().filename().string();  // the run directory's name labels the run
    runs.push_back({dir.empty() ? p.filename().string() : dir + "/" + p.filename().string(), read_summary_csv(p)});
    csvs.push_back(p);
  }
  if (runs.size() > 1 && !vm.count("out")) throw UsageError("plot of several runs needs --out FILE");
  const std::string out = vm.count("out") ? vm["out"].as<std::string>() : (csvs[0].parent_path() / "curves.svg").string();
  write_file_atomic(out, curves_svg(runs));
  std::cout << "wrote " << out << " (" << runs.size() << (runs.size() == 1 ? " run)\n" : " runs)\n");
  return 0;
}

}  // namespace tapevit::cli
