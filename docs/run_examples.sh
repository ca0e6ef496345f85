#!/usr/bin/env bash
# Run every examples/plot_*.py as a plain script (offline, CPU), stop at the first
# failure, and print each one's wall time. Called by .ci/run; the Sphinx build only
# renders the examples (plot_gallery=False), it never executes them.
#
#   docs/run_examples.sh [PYTHON]      (default: $PYTHON, else python)
#
# SKCLIP_ASSETS (the shared assets folder) gives the image examples CIFAR-10 JPEGs;
# without it they use generated images. Each example must finish in under
# EXAMPLE_TIMEOUT seconds (default 120; they take well under a minute on an idle CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-${PYTHON:-python}}"
TIMEOUT="${EXAMPLE_TIMEOUT:-120}"
export MPLBACKEND="${MPLBACKEND:-Agg}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

shopt -s nullglob
examples=(examples/plot_*.py)
if [ "${#examples[@]}" -eq 0 ]; then
  echo "run_examples: no examples/plot_*.py found" >&2
  exit 1
fi

total_start=$(date +%s.%N)
for ex in "${examples[@]}"; do
  echo "=== $ex"
  start=$(date +%s.%N)
  status=0
  timeout "$TIMEOUT" "$PY" "$ex" || status=$?
  elapsed=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  if [ "$status" -ne 0 ]; then
    [ "$status" -eq 124 ] && echo "run_examples: $ex timed out after ${TIMEOUT} s" >&2
    echo "run_examples: FAILED $ex (exit $status, ${elapsed} s)" >&2
    exit "$status"
  fi
  echo "--- $ex: ${elapsed} s"
done
total=$(awk -v a="$total_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
echo "run_examples: ${#examples[@]} examples passed in ${total} s"
