# tests/cli_lib.sh: what the command-line test scripts share (sourced): fail, and expect.
failures=0
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
