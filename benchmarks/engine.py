"""Figures for the engine: call overhead, and `tcplab check` wall time on the solutions.

    .venv/bin/python benchmarks/engine.py [--runs N]

Prints the median overhead of one call into a worker, and the median wall time of
`tcplab check --path solutions` for stages 01–04 and for all stages (whole process,
pytest start-up included), each over N runs.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graders.engine.subject import Subject  # noqa: E402


def call_overhead(calls: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "m.py"
        path.write_text("def add(a, b):\n    return a + b\n")
        subject = Subject(path, "m")
        try:
            subject.call("add", 1, 2)  # the import and the first call are not overhead
            times = []
            for _ in range(calls):
                started = time.perf_counter()
                subject.call("add", 1, 2)
                times.append(time.perf_counter() - started)
        finally:
            subject.close()
    times.sort()
    return statistics.median(times) * 1000, times[int(len(times) * 0.99)] * 1000


def check_wall(stages: list[str], runs: int) -> tuple[float, float, int]:
    times, status = [], 0
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "graders.cli", "check", *stages, "--path", str(ROOT / "solutions")],
                              cwd=ROOT, capture_output=True, text=True)
        times.append(time.perf_counter() - started)
        status = max(status, done.returncode)
    return statistics.median(times), max(times), status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    median, p99 = call_overhead(args.calls)
    print(f"call into the worker: median {median:.3f} ms, p99 {p99:.3f} ms over {args.calls} calls")
    for label, stages in (("stages 01-04", ["1", "2", "3", "4"]), ("all stages", [])):
        median_s, worst, status = check_wall(stages, args.runs)
        print(f"tcplab check {label} on the solutions: median {median_s:.2f} s wall, worst {worst:.2f} s "
              f"over {args.runs} runs (exit status {status})")


if __name__ == "__main__":
    main()
