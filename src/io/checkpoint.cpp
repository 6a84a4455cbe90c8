// src/io/checkpoint.cpp: see tapevit/io/checkpoint.h.
#include "tapevit/io/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <type_traits>

#include "tapevit/io/h5.h"
#include "tapevit/io/params_h5.h"

namespace tapevit {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "tapevit-checkpoint";
constexpr int64_t kVersion = 1;

// the first kRequiredCols metric columns are in every checkpoint; the ema ones only in newer ones
constexpr int kRequiredCols = 7;

std::string join_lines(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : "\n") + x;
  return s;
}

}  // namespace

template <class T>
void save_checkpoint(const std::string& path, const CheckpointMeta& meta, const Params<T>& params, Optimizer<T>* opt,
                     const TrainState& st, const Params<T>* ema) {
  // Built in memory, then written with tapevit's checked writes: a full disk, a quota, a file-size limit or a
  // read-only directory is an error naming its cause, and libhdf5 never holds a half-written file open.
  std::vector<uint8_t> bytes;
  {
    int64_t datasets = kMetricColumnCount + params.size() * (1 + (ema ? 1 : 0) + (opt ? int64_t(opt->state().size()) : 0));
    int64_t longest = 0;
    for (const auto& info : params.infos()) longest = std::max<int64_t>(longest, int64_t(info.name.size()) + 24);
    H5File f(path, H5File::Memory, digest_userblock(datasets, longest));
    f.set_attr("format", std::string(kFormat));
    f.set_attr("version", kVersion);
    f.set_attr("config", meta.config_ini);
    f.set_attr("model_config", meta.model_config_json);
    f.set_attr("optimizer", meta.optimizer);
    f.set_attr("run_id", meta.run_id);
    f.set_attr("tapevit_version", meta.tapevit_version);
    f.set_attr("tapevit_commit", meta.tapevit_commit);
    f.set_attr("created", meta.created);
    f.set_attr("command_line", meta.command_line);
    if (!meta.class_names.empty()) f.set_attr("class_names", join_lines(meta.class_names));
    if (!meta.parent_run_id.empty()) f.set_attr("parent_run_id", meta.parent_run_id);
    f.set_attr("optimizer_steps", opt ? opt->steps() : int64_t(0));
    visit_fields(st, [&](const char* name, const auto& field, auto) {
      if constexpr (std::is_floating_point_v<std::decay_t<decltype(field)>>) f.set_attr(name, double(field));
      else f.set_attr(name, int64_t(field));
    });
    write_params(f, "params", params);
    if (ema) write_params(f, "ema", *ema);
    if (opt)
      for (auto& [name, buf] : opt->state())
        for (const auto& info : params.infos())
          f.write("optimizer/" + name + "/" + info.name, buf + info.offset, info.shape);
    const int64_t n = int64_t(st.metrics.size());
    for (const MetricColumn& c : kMetricColumns) {
      std::vector<double> col;
      for (const EpochMetrics& m : st.metrics) col.push_back(m.*c.field);
      f.write("metrics/" + std::string(c.name), col.data(), Shape{n});
    }
    bytes = f.image_with_digest();
  }
  write_file_atomic(path, bytes.data(), bytes.size());
}

namespace {

// f is a tapevit checkpoint of a version this build reads.
void check_format(const H5File& f, const std::string& path) {
  if (!f.has_attr("format") || f.attr_string("format") != kFormat)
    fail(path, ": not a tapevit checkpoint (no format = '", kFormat, "' attribute)");
  if (f.attr_int("version") != kVersion)
    fail(path, ": checkpoint version ", f.attr_int("version"), ", this tapevit reads version ", kVersion);
}

void require_ema(const H5File& f, const std::string& path) {
  if (!f.exists("ema")) fail(path, ": no EMA weights (/ema): the run was trained without model_ema");
}

std::string attr_or_empty(const H5File& f, const char* name) { return f.has_attr(name) ? f.attr_string(name) : ""; }

TrainState read_state(const H5File& f, const std::string& path) {
  TrainState st;
  visit_fields(st, [&](const char* name, auto& field, auto least) {
    using T = std::decay_t<decltype(field)>;
    if constexpr (std::is_floating_point_v<T>) field = f.attr_double(name);
    else field = T(f.attr_int(name));
    if constexpr (std::is_signed_v<T>)  // (the counters a resume starts from; NaN passes, as it always did)
      if (field < least) fail(path, ": attribute '", name, "' = ", field, ", expected at least ", least);
  });
  std::vector<std::vector<double>> cols;
  for (int c = 0; c < kMetricColumnCount; ++c) {
    const std::string name = "metrics/" + std::string(kMetricColumns[c].name);
    cols.push_back(c < kRequiredCols || f.exists(name) ? f.read<double>(name) : std::vector<double>{});
  }
  for (size_t i = 0; i < cols[0].size(); ++i) {
    EpochMetrics m;
    for (int c = 0; c < kMetricColumnCount; ++c) {
      if (c >= kRequiredCols && cols[size_t(c)].empty()) continue;  // an older checkpoint: NaN
      if (cols[size_t(c)].size() != cols[0].size()) fail(path, ": metrics columns differ in length");
      m.*kMetricColumns[c].field = cols[size_t(c)][i];
    }
    if (!(m.epoch >= 1 && m.epoch < 0x1p31 && m.epoch == std::floor(m.epoch)))
      fail(path, ": metrics/epoch[", i, "] = ", m.epoch, ", expected an epoch number (1, 2, ...)");
    st.metrics.push_back(m);
  }
  return st;
}

}  // namespace

CheckpointMeta read_checkpoint_meta(const std::string& path) {
  H5File f(path, H5File::Read);
  check_format(f, path);
  CheckpointMeta m{f.attr_string("config"),        f.attr_string("model_config"),      f.attr_string("optimizer"),
                   attr_or_empty(f, "run_id"),     attr_or_empty(f, "tapevit_version"), attr_or_empty(f, "tapevit_commit"),
                   attr_or_empty(f, "created"),    attr_or_empty(f, "command_line")};
  m.parent_run_id = attr_or_empty(f, "parent_run_id");
  const std::string names = attr_or_empty(f, "class_names");
  for (size_t a = 0; !names.empty() && a <= names.size();) {
    const size_t b = std::min(names.find('\n', a), names.size());
    m.class_names.push_back(names.substr(a, b - a));
    a = b + 1;
  }
  return m;
}

bool checkpoint_has_ema(const std::string& path) {
  H5File f(path, H5File::Read);
  check_format(f, path);
  return f.exists("ema");
}

TrainState read_checkpoint_state(const std::string& path) {
  H5File f(path, H5File::Read);
  check_format(f, path);
  return read_state(f, path);
}

template <class T>
TrainState load_checkpoint(const std::string& path, Params<T>& params, Optimizer<T>* opt, Params<T>* ema) {
  H5File f(path, H5File::Read);
  check_format(f, path);
  TrainState st = read_state(f, path);
  // A failure half-way (a corrupt dataset) must not leave the model half-loaded: keep a copy to restore.
  std::vector<T> data(params.data(), params.data() + params.flat_size());
  try {
    read_params(f, "params", params);
    if (ema) {
      require_ema(f, path);
      read_params(f, "ema", *ema);
    }
    if (opt) {
      for (auto& [name, buf] : opt->state())
        for (const auto& info : params.infos()) {
          const std::string p = "optimizer/" + name + "/" + info.name;
          if (!f.exists(p)) fail(path, ": no optimizer state '", p, "' (a checkpoint of another optimizer?)");
          f.read_into(p, buf + info.offset, info.shape);
        }
      opt->set_steps(f.attr_int("optimizer_steps"));
    }
  } catch (...) {
    std::copy(data.begin(), data.end(), params.data());
    throw;
  }
  return st;
}

template <class T>
TrainState load_checkpoint_weights(const std::string& path, Params<T>& params, bool ema) {
  if (!ema) return load_checkpoint<T>(path, params, nullptr);
  H5File f(path, H5File::Read);
  check_format(f, path);
  require_ema(f, path);
  TrainState st = read_state(f, path);
  std::vector<T> data(params.data(), params.data() + params.flat_size());  // restored if a tensor fails
  try {
    read_params(f, "ema", params);
  } catch (...) {
    std::copy(data.begin(), data.end(), params.data());
    throw;
  }
  return st;
}

template void save_checkpoint<float>(const std::string&, const CheckpointMeta&, const Params<float>&, Optimizer<float>*,
                                     const TrainState&, const Params<float>*);
template TrainState load_checkpoint<float>(const std::string&, Params<float>&, Optimizer<float>*, Params<float>*);
template TrainState load_checkpoint_weights<float>(const std::string&, Params<float>&, bool);

}  // namespace tapevit
