# tests/cli_lib.sh: what the command-line test scripts share (sourced): fail, expect and expect_no_new_paths.
failures=0

# cli_start NAME TAPEVIT MAKE_FAKE_DATA: TV and MAKE_DATA (absolute paths), WORK (a fresh temporary directory,
# removed at exit with any background job still running)
cli_start() {
  TV=$(realpath "$2")
  MAKE_DATA=$(realpath "$3")
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/tapevit_$1.XXXXXX")
  trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$WORK"' EXIT
}
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# expect CODE PATTERN -- CMD...: CMD exits with CODE and its stdout+stderr matches the grep -E PATTERN. Commands run
# under a timeout: a bad-input check that trains instead of failing must not hang the suite.
expect() {
  local code=$1 pattern=$2
  shift 3
  local out rc
  out=$(timeout 300 "$@" 2>&1)
  rc=$?
  if [ "$rc" != "$code" ] || ! grep -qE -- "$pattern" <<<"$out"; then
    fail "$* -> exit $rc (want $code), output:"
    sed 's/^/    /' <<<"$out"
    echo "    (wanted /$pattern/)"
  else
    echo "ok:   $* ~ /$pattern/"
  fi
}

# tree_listing: every path under $WORK, and a checksum of every file's bytes, sorted; paths under $BUSY (a directory a
# background run writes into while a command is checked) left out
tree_listing() {
  find "$WORK" -path "${BUSY:-/nonexistent}" -prune -o -print | sort
  find "$WORK" -path "${BUSY:-/nonexistent}" -prune -o -type f -print0 | xargs -0r md5sum | sort -k2
}

# expect_no_new_paths CODE PATTERN -- CMD...: as expect, and CMD leaves $WORK as it found it: no new path (a run
# directory, its parents, a lock file), none gone, every file's bytes the same. For a command that fails at start.
expect_no_new_paths() {
  local before after
  before=$(tree_listing)
  expect "$@"
  after=$(tree_listing)
  if [ "$before" != "$after" ]; then
    shift 3
    fail "$* changed what is on disk (< before, > after):"
    diff <(echo "$before") <(echo "$after") | grep '^[<>]' | sed 's/^/    /'
  fi
}

# folder_config DATA_DIR CLASSES: the [model] of a tiny 24-px RGB model and the [data] of an image folder, as INI
# on stdout; a caller adds its own keys after it ([data] ones first, then other sections)
folder_config() {
  cat <<INI
[model]
img_size = 24
in_chans = 3
num_classes = $2
patch_size = 8
embed_dim = 32
depth = 2
num_heads = 2
[data]
dataset = folder
data_dir = $1
INI
}

# tiny_config DATA_DIR EPOCHS: a tiny model on the stripes task in DATA_DIR (make_fake_data), as an INI on stdout
tiny_config() {
  cat <<INI
# a tiny model on the stripes task
[model]
patch_size = 7
embed_dim = 32
depth = 2
num_heads = 2
mlp_ratio = 2
[data]
dataset = mnist
data_dir = $1
[train]
epochs = $2
batch_size = 64
threads = 2
[optim]
lr = 3e-3
warmup_epochs = 0.5
INI
}
