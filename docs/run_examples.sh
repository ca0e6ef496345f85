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
#
# Extras: each example states the extras of pyproject.toml it needs in one docstring line,
# "Extras: none." or e.g. "Extras: ``[scale]``." (today all need the core install only:
# pip install -e .). One whose extra is not installed is skipped with the command that
# installs it; under SKCLIP_STRICT=1 (CI) that is a failure. A missing line is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${1:-${PYTHON:-python}}"
TIMEOUT="${EXAMPLE_TIMEOUT:-120}"
export MPLBACKEND="${MPLBACKEND:-Agg}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
STRICT=1; [ "${SKCLIP_STRICT:-0}" = 0 ] && STRICT=0

shopt -s nullglob
examples=(examples/plot_*.py)
if [ "${#examples[@]}" -eq 0 ]; then
  echo "run_examples: no examples/plot_*.py found" >&2
  exit 1
fi

# Prints why EXAMPLE cannot run here (exit 3), nothing when it can, exit 2 without "Extras:".
missing_extras() {
  "$PY" - "$1" <<'PYEOF'
import re
import sys
from importlib import metadata

text = open(sys.argv[1], encoding="utf-8").read()
line = re.search(r"^Extras: (.+)$", text, re.M)
if line is None:
    print(f"{sys.argv[1]} states no extras (a docstring line 'Extras: none.' or "
          "'Extras: ``[scale]``.')")
    sys.exit(2)
for extra in re.findall(r"\[(\w+)\]", line.group(1)):
    for req in metadata.requires("skclip") or []:
        name, _, marker = req.partition(";")
        if re.search(rf"extra\s*==\s*['\"]{extra}['\"]", marker):
            dist = re.match(r"[A-Za-z0-9._-]+", name.strip()).group(0)
            try:
                metadata.distribution(dist)
            except metadata.PackageNotFoundError:
                print(f"needs skclip[{extra}] ({dist} is not installed): "
                      f"pip install -e '.[{extra}]'")
                sys.exit(3)
PYEOF
}

total_start=$(date +%s.%N)
skipped=0
for ex in "${examples[@]}"; do
  echo "=== $ex"
  need_status=0
  reason=$(missing_extras "$ex") || need_status=$?
  if [ "$need_status" -eq 3 ] && [ "$STRICT" = 0 ]; then
    echo "run_examples: SKIPPED $ex: $reason"
    skipped=$((skipped + 1))
    continue
  elif [ "$need_status" -ne 0 ]; then
    [ "$need_status" -eq 3 ] && reason="$reason (SKCLIP_STRICT=1: CI must not skip this)"
    echo "run_examples: FAILED $ex: ${reason:-cannot read its Extras line}" >&2
    exit 1
  fi
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
echo "run_examples: $(( ${#examples[@]} - skipped )) examples passed, ${skipped} skipped, in ${total} s"
