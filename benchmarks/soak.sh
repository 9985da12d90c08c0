#!/usr/bin/env bash
# The whole test suite, N times in a row, with every core kept busy: the no-flakes check.
#
#   benchmarks/soak.sh [RUNS] [LOG] [PYTEST ARGS...]   (defaults: 10 runs, soak.log, the whole suite)
#
# Extra arguments go to pytest, to soak just the tests a change touches, e.g.
#   benchmarks/soak.sh 3 soak.log tests/test_corpus.py tests/test_hostile.py tests/test_worker.py
#
# Every core runs a CPU hog (stress-ng --cpu 0 when it is installed, a Python busy loop per
# core otherwise) for the whole soak, and the README's test command runs RUNS times. Each
# run's pytest summary line goes to LOG; the script stops at the first failing run (its
# full output is kept as LOG.failed) and exits non-zero.
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-10}"
LOG="${2:-soak.log}"
shift $(( $# < 2 ? $# : 2 ))
ARGS=("$@")
PY=.venv/bin/python
hogs=()
if command -v stress-ng >/dev/null 2>&1; then
    stress-ng --cpu 0 --quiet &
    hogs+=($!)
    load="stress-ng --cpu 0 (every core)"
else
    for _ in $(seq "$(nproc)"); do
        "$PY" -c 'while True: pass' &
        hogs+=($!)
    done
    load="a Python busy loop on each of $(nproc) cores"
fi
trap 'kill "${hogs[@]}" 2>/dev/null' EXIT
echo "soak: $RUNS runs of '$PY -m pytest${ARGS[*]:+ ${ARGS[*]}}' on $(nproc) cores under $load, $(git rev-parse --short HEAD)" | tee "$LOG"
for run in $(seq "$RUNS"); do
    started=$(date +%s)
    out=$("$PY" -m pytest -q -p no:cacheprovider "${ARGS[@]}" 2>&1)
    status=$?
    summary=$(printf '%s\n' "$out" | tail -1)
    echo "run $run/$RUNS: exit $status, $(( $(date +%s) - started )) s, load $(cut -d' ' -f1-3 /proc/loadavg): $summary" | tee -a "$LOG"
    if [ "$status" -ne 0 ]; then
        printf '%s\n' "$out" > "$LOG.failed"
        echo "soak: run $run failed; its output is in $LOG.failed" | tee -a "$LOG"
        exit 1
    fi
done
echo "soak: $RUNS of $RUNS runs passed" | tee -a "$LOG"
