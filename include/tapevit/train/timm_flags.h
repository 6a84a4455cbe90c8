// tapevit/train/timm_flags.h: timm train.py's flags, as a timm user types them. Each is an alias of a tapevit key
// (`--batch-size` -> batch_size, `--gp` -> global_pool), accepted and ignored because it only tunes PyTorch
// (`--workers`, `--pin-mem`), or not supported, with the nearest tapevit way (`--experiment NAME` -> `--output
// runs/NAME`). Command line and config files both read them; README has the table (timm_flag_table()).
#pragma once
#include <string>
#include <vector>

namespace tapevit {

struct TimmFlag {
  enum Kind { Alias, Ignored, Unsupported } kind;
  std::string flag;  // timm's spelling without the dashes in front: "batch-size", "gp", "amp"
  std::string key;   // Alias: the tapevit key
  std::string note;  // Ignored: why it makes no difference; Unsupported: what to do instead
};

const std::vector<TimmFlag>& timm_flags();
// The timm flag spelt `name` ("batch-size", "batch_size", "b"), or nullptr.
const TimmFlag* find_timm_flag(const std::string& name);
// The canonical tapevit key for a key or flag as given: dashes read as underscores, aliases resolved
// ("batch-size" -> "batch_size", "gp" -> "global_pool", "b" -> "batch_size"). Unknown names come back with
// dashes replaced, for the caller's error.
std::string canonical_key(const std::string& name);
// The README table: timm flag | tapevit | note.
std::string timm_flag_table();

}  // namespace tapevit
