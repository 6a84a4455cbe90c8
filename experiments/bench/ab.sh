#!/usr/bin/env bash
# experiments/bench/ab.sh: A/B of tapevit builds on one bench case, alternating, `rounds` times, to measure what
# one change (a lever) buys. Prints each run's first-batch loss, median and best img/s and peak RSS.
#   experiments/bench/ab.sh CASE.h5 ROUNDS BINARY_A BINARY_B ...   (THREADS=2 by default)
# A case file comes from bench.py's write_case, e.g.
#   /usr/bin/python3 -c "import sys; sys.path.insert(0, 'experiments/bench'); import bench; \
#       bench.write_case('/tmp/vit-fmnist.h5', bench.MODELS['vit-fmnist'])"
# and older builds from a worktree: git worktree add /tmp/base <commit> && cmake -S /tmp/base -B /tmp/base/build ...
set -euo pipefail
case_file=$1; rounds=$2; shift 2
for r in $(seq "$rounds"); do
  for b in "$@"; do
    "$b" train "$case_file" --steps 10 --threads "${THREADS:-2}" | /usr/bin/python3 -c "
import json, statistics, sys
d = json.loads(sys.stdin.read()); t = d['step_seconds']; B = d['batch']
print('%-50s loss %.6f  median %.1f  best %.1f img/s  RSS %.0f MB' % (sys.argv[1], d['first_loss'], B / statistics.median(t), B / min(t), d['peak_rss_mb']))" "$b"
  done
done
