"""Figures for grading at the speed of the CPU: one submission, and the public checks.

    .venv/bin/python benchmarks/speed.py [--runs N] [--runners 1,8] [--stages 08_concurrency,09_heartbeat] [--partial]

Prints, each the median of N runs on the reference solutions:

1. `tcplab grade solutions` (every check, hidden ones included, in its sandbox): wall time,
   CPU time (user + sys of every process it ran), the CPU floor ((user + sys) / cores) and
   wall / floor, measured in the same runs;
2. `tcplab check --path solutions` (the public checks of every stage): wall time;
3. with --runners: grade_root in this process at each number of runners side by side (wall,
   CPU), what graders/grading/fanout.py buys and costs;
4. with --stages: `tcplab grade solutions --stage S` for each stage given (wall, CPU);
5. with --partial: a submission holding stage 01 alone, graded with every stage (the others
   missing): what a half-finished hand-in costs.

The class of 300 is benchmarks/batch.py's (`--count 300 --jobs 2`), nbgrader against tcplab
grade benchmarks/notebooks.py's.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graders.grading.capacity import cores  # noqa: E402
from graders.stages import SOLUTIONS, all_stages  # noqa: E402

TCPLAB = [sys.executable, "-m", "graders.cli"]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], cwd: Path = ROOT) -> tuple[float, float, int]:
    """(wall, CPU of the command and everything it waited for, exit status)."""
    cpu, started = children_cpu(), time.perf_counter()
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - started, children_cpu() - cpu, done.returncode


def grade_runs(runs: int, path: Path, *extra: str) -> tuple[float, float]:
    """(median wall, median CPU) of `tcplab grade PATH --no-gradebook --format json EXTRA`."""
    walls, cpus = [], []
    for _ in range(runs):
        wall, cpu, status = timed([*TCPLAB, "grade", str(path), "--no-gradebook", "--format", "json", *extra])
        if status != 0:
            raise SystemExit(f"tcplab grade {path} {' '.join(extra)} failed")
        walls.append(wall)
        cpus.append(cpu)
    return statistics.median(walls), statistics.median(cpus)


def grade_stages(runs: int, stages: list[str]) -> None:
    for stage in stages:
        wall, cpu = grade_runs(runs, SOLUTIONS, "--stage", stage)
        print(f"tcplab grade solutions --stage {stage}: median {wall:.2f} s wall, {cpu:.2f} s CPU over {runs} runs")


def grade_partial(runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        first = all_stages()[0]
        (Path(tmp) / first.id).mkdir()
        shutil.copy(first.module_path(SOLUTIONS), Path(tmp) / first.id)
        wall, cpu = grade_runs(runs, Path(tmp))
    print(f"tcplab grade of a submission holding {first.id} alone (every stage): median {wall:.2f} s wall, "
          f"{cpu:.2f} s CPU over {runs} runs")


def grade_one(runs: int) -> None:
    wall, cpu = grade_runs(runs, SOLUTIONS)
    floor = cpu / cores()
    print(f"tcplab grade solutions (every check): median {wall:.2f} s wall, {cpu:.2f} s CPU; "
          f"CPU floor {floor:.2f} s on {cores()} cores, wall / floor {wall / floor:.2f} "
          f"(goal: wall < 2 s and < 2x floor) over {runs} runs")


def check_all(runs: int) -> None:
    walls = []
    for _ in range(runs):
        wall, _, status = timed([*TCPLAB, "check", "--path", str(SOLUTIONS)])
        if status != 0:
            raise SystemExit("tcplab check --path solutions failed")
        walls.append(wall)
    print(f"tcplab check --path solutions (every stage, public checks): median {statistics.median(walls):.2f} s "
          f"wall, worst {max(walls):.2f} s (goal: < 1 s) over {runs} runs")


# -- runners side by side ------------------------------------------------------------------------------
def runners_side_by_side(counts: list[int], runs: int) -> None:
    code = ("import sys, time, resource; from pathlib import Path\n"
            "from graders.grading.runner import grade_root\nfrom graders.stages import all_stages, SOLUTIONS\n"
            "t = time.perf_counter()\n"
            "r = grade_root(SOLUTIONS, all_stages(), label='s', hidden=True, runners=int(sys.argv[1]))\n"
            "assert r.score == r.max_score, r.score\n"
            "print(time.perf_counter() - t)\n")
    for count in counts:
        walls, cpus = [], []
        for _ in range(runs):
            cpu = children_cpu()
            done = subprocess.run([sys.executable, "-c", code, str(count)], cwd=ROOT, capture_output=True, text=True)
            if done.returncode != 0:
                raise SystemExit(done.stderr[-2000:])
            walls.append(float(done.stdout.split()[-1]))
            cpus.append(children_cpu() - cpu)
        print(f"  grade_root, every check, {count:2d} runner(s): median {statistics.median(walls):.2f} s wall "
              f"(pytest start-up not counted), {statistics.median(cpus):.2f} s CPU of the whole process")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--runners", default="", help="e.g. 1,4,8: grade_root at each, side by side")
    parser.add_argument("--stages", default="", help="e.g. 08_concurrency,09_heartbeat: each graded alone")
    parser.add_argument("--partial", action="store_true", help="a submission of stage 01 alone")
    args = parser.parse_args()
    grade_one(args.runs)
    check_all(args.runs)
    if args.stages:
        grade_stages(args.runs, args.stages.split(","))
    if args.partial:
        grade_partial(args.runs)
    if args.runners:
        runners_side_by_side([int(n) for n in args.runners.split(",")], args.runs)


if __name__ == "__main__":
    main()
