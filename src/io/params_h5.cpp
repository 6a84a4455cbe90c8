// src/io/params_h5.cpp: see tapevit/io/params_h5.h.
#include "tapevit/io/params_h5.h"

#include <set>
#include <sstream>

namespace tapevit {

namespace {
std::string join(const std::string& group, const std::string& name) { return group.empty() ? name : group + "/" + name; }
}  // namespace

template <class T>
void write_params(H5File& f, const std::string& group, const Params<T>& params, Which which) {
  for (const auto& info : params.infos()) {
    const T* base = which == Which::Data ? params.data() : const_cast<Params<T>&>(params).grad();
    f.write(join(group, info.name), base + info.offset, info.shape);
  }
}

template <class T>
void read_params(const H5File& f, const std::string& group, Params<T>& params, Which which) {
  if (!group.empty() && !f.exists(group)) fail(f.path(), ": no group '", group, "' of parameters");
  std::ostringstream problems;
  int n = 0;
  std::set<std::string> expected;
  for (const auto& info : params.infos()) {
    expected.insert(info.name);
    const std::string path = join(group, info.name);
    if (!f.exists(path)) {
      problems << "\n  missing:    " << info.name << " " << info.shape;
      ++n;
    } else if (Shape s = f.shape(path); !(s == info.shape)) {
      problems << "\n  mismatched: " << info.name << " file " << s << ", model " << info.shape;
      ++n;
    }
  }
  // Unexpected names: walk the group (names with dots are flat datasets; timm keys contain no '/').
  for (const auto& name : f.list(group.empty() ? "/" : group))
    if (!expected.count(name)) {
      problems << "\n  unexpected: " << name;
      ++n;
    }
  if (n) fail(f.path(), ": ", n, " parameter problem", n > 1 ? "s" : "", " in '", group.empty() ? "/" : group, "':", problems.str());
  for (size_t i = 0; i < params.size(); ++i) {
    const auto& info = params.info(i);
    T* base = which == Which::Data ? params.data() : params.grad();
    f.read_into(join(group, info.name), base + info.offset, info.shape);
  }
}

template void write_params<float>(H5File&, const std::string&, const Params<float>&, Which);
template void write_params<double>(H5File&, const std::string&, const Params<double>&, Which);
template void read_params<float>(const H5File&, const std::string&, Params<float>&, Which);
template void read_params<double>(const H5File&, const std::string&, Params<double>&, Which);

}  // namespace tapevit
