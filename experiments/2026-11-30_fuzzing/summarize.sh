#!/usr/bin/env bash
# experiments/2026-11-30_fuzzing/summarize.sh: one row per fuzz target from the logs tests/fuzz/run.sh left in
# build-fuzz/logs/ (executions, seconds, executions per second, coverage, corpus, findings).
#   experiments/2026-11-30_fuzzing/summarize.sh [LOG_DIR]
set -uo pipefail  # (a log still being written lacks the final figures)
cd "$(dirname "$0")/../.."
LOGS=${1:-build-fuzz/logs}
printf '| target | executions | seconds | exec/s | coverage (edges) | corpus | finding |\n|---|---:|---:|---:|---:|---:|---|\n'
for log in "$LOGS"/*.log; do
  t=$(basename "$log" .log)
  runs=$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  rate=$(grep -oE '^stat::average_exec_per_sec: *[0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  corp=$(grep -oE 'corp: [0-9]+' "$log" | tail -1 | grep -oE '[0-9]+')
  secs=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | grep -oE 'in [0-9]+' | grep -oE '[0-9]+' | tail -1)
  # a run stopped by a finding has no "Done" line: its seconds from the executions and the rate
  [ -n "$secs" ] || secs="~$(awk -v r="${runs:-0}" -v e="${rate:-1}" 'BEGIN { printf "%d", (e > 0 ? r / e : 0) }')"
  finding=$(grep -m1 -oE '(ERROR: [A-Za-z]+Sanitizer: [a-z-]+|SUMMARY: UndefinedBehaviorSanitizer: [^ ]+ [^ ]+|ERROR: libFuzzer: [a-z-]+)' "$log" || true)
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$t" "${runs:-?}" "$secs" "${rate:-?}" "${cov:-?}" "${corp:-?}" "${finding:-none}"
done
