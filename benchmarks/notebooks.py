"""Figures for the notebook course: nbgrader autograde versus `tcplab grade`, side by side.

    .venv/bin/python benchmarks/notebooks.py [--runs N]

In one run, on the same machine and the same reference solutions: the wall time of
`nbgrader autograde "*"` for one student who submitted every stage's source notebook,
and of `tcplab grade solutions/` (every stage, hidden checks included), each the median
of N runs. Also the in-process check time alone (the checks of every stage run on the
solutions inside one Python process, as the grade cells do), which separates what the
checks cost from what nbgrader and its kernels cost.
"""

from __future__ import annotations

import argparse
import os
import runpy
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graders.notebook import run_checks  # noqa: E402
from graders.stages import SOLUTIONS, all_stages  # noqa: E402

COURSE = ROOT / "notebooks"


def nbgrader_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])  # nbgrader runs `alembic`
    return env


def run(args: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=nbgrader_env())
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr[-3000:]}")
    return elapsed


def prepare_course(tmp: Path) -> Path:
    course = tmp / "course"
    course.mkdir()
    shutil.copy(COURSE / "nbgrader_config.py", course)
    shutil.copytree(COURSE / "source", course / "source")
    run([sys.executable, "-m", "nbgrader", "generate_assignment", "*", "--force"], course)
    for stage in all_stages():
        folder = course / "submitted" / "student" / stage.id
        folder.mkdir(parents=True)
        shutil.copy(course / "source" / stage.id / f"{stage.id}.ipynb", folder)
    return course


def in_process_seconds() -> float:
    started = time.perf_counter()
    for stage in all_stages():
        namespace = runpy.run_path(str(stage.module_path(SOLUTIONS)))
        results = run_checks(stage, namespace=namespace, hidden=True)
        failed = [r.id for r in results if r.status != "passed"]
        if failed:
            raise SystemExit(f"the reference solution failed in-process: {failed}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    stages = list(all_stages())
    with tempfile.TemporaryDirectory(prefix="tcplab-bench-") as tmp:
        course = prepare_course(Path(tmp))
        autograde, grade, checks = [], [], []
        for _ in range(args.runs):  # interleaved, so that load on the machine hits both alike
            autograde.append(run([sys.executable, "-m", "nbgrader", "autograde", "*", "--force"], course))
            grade.append(run([sys.executable, "-m", "graders.cli", "grade", str(SOLUTIONS), "--no-gradebook"], ROOT))
            checks.append(in_process_seconds())
    a, g, c = statistics.median(autograde), statistics.median(grade), statistics.median(checks)
    print(f"{len(stages)} stages, reference solutions, median of {args.runs} runs, {os.cpu_count()} CPUs")
    print(f"  nbgrader autograde (one student, all stages):  {a:6.2f} s   (runs: {', '.join(f'{x:.2f}' for x in autograde)})")
    print(f"  tcplab grade (same code as scripts):           {g:6.2f} s   (runs: {', '.join(f'{x:.2f}' for x in grade)})")
    print(f"  the checks alone, in-process (no nbgrader):    {c:6.2f} s")
    print(f"  ratio autograde / tcplab grade:                {a / g:6.1f} ×")


if __name__ == "__main__":
    main()
