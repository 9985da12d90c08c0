"""Figures for `tcplab grade` on a class: parallel speed-up, seconds per submission, resuming.

    .venv/bin/python benchmarks/batch.py [--count 100] [--jobs 1,2] [--seed 7] [--stage S ...] [--no-resume]

Generates a class of COUNT submissions, each a folder with every stage: reference
solutions, the correct alternatives and realistic bugs of tests/submissions/, a few
untouched stubs (students who handed in nothing), and a few hostile modules from
tests/hostile/. Then, each time through the command as an instructor runs it:

Everything is graded from a snapshot of the course taken at the start, so that checks
edited meanwhile cannot change the figures half-way.

1. grades the class into a fresh gradebook at each --jobs value: wall time, seconds per
   submission, the speed-up over the first, and whether the grades agree;
2. grades it again unchanged: everything is skipped;
3. grades it into a fresh gradebook, kills the command (SIGKILL, a crash) once about
   half the class is committed, and runs it again: how much was kept, how long the rest
   took, and whether the final gradebook agrees with an uninterrupted run.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graders.batch.isolation import detect  # noqa: E402
from graders.stages import EXERCISES, SOLUTIONS, all_stages  # noqa: E402

CORPUS = ROOT / "tests" / "submissions"
HOSTILE = ROOT / "tests" / "hostile"


def build_class(folder: Path, count: int, seed: int) -> dict[str, int]:
    """COUNT student folders; returns how many of each kind were made."""
    rng = random.Random(seed)
    stages = all_stages()
    hostile = sorted(HOSTILE.glob("*/*.py"))
    kinds = {"solution": 0, "corpus": 0, "stub": 0, "hostile": 0}
    for i in range(count):
        name = folder / f"student{i:03d}"
        if i % 25 == 7:
            kind = "stub"
        elif i % 20 == 3 and hostile:
            kind = "hostile"
        else:
            kind = "mixed"
        for stage in stages:
            target = name / stage.id / stage.filename
            target.parent.mkdir(parents=True)
            corpus = sorted((CORPUS / stage.id).glob("*.py"))
            if kind == "stub":
                source = EXERCISES / stage.id / stage.filename
            elif kind == "mixed" and corpus and rng.random() < 0.5:
                source = rng.choice(corpus)
                kinds["corpus"] += 1
            else:
                source = SOLUTIONS / stage.id / stage.filename
                kinds["solution"] += 1
            shutil.copy(source, target)
        if kind == "hostile":
            module = hostile[(i // 20) % len(hostile)]
            stage = next(s for s in stages if s.id == module.parent.name)
            text = module.read_text().replace("@GRADEBOOK@", str(folder.parent / "gradebook.db"))
            (name / stage.id / stage.filename).write_text(text)
            kinds["hostile"] += 1
        elif kind == "stub":
            kinds["stub"] += 1
    return kinds


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


COURSE = ROOT  # replaced by a snapshot in main(): checks edited meanwhile must not change the figures


def snapshot(dest: Path) -> Path:
    """A copy of the engine, the checks and the exercises, graded from for the whole run."""
    for name in ("graders", "exercises", "solutions", "conftest.py", "pyproject.toml"):
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.is_file():
            shutil.copy(src, dest / name)
    return dest


def command(klass: Path, gradebook: Path, jobs: int, stages: list[str]) -> list[str]:
    return [sys.executable, "-m", "graders.cli", "grade", str(klass), "--jobs", str(jobs),
            "--gradebook", str(gradebook), "--format", "json"] + [a for s in stages for a in ("--stage", s)]


def environment() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(COURSE)}


def grade(klass: Path, gradebook: Path, jobs: int, stages: list[str]) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (the command and everything it ran) and its stderr."""
    cpu = children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command(klass, gradebook, jobs, stages), cwd=COURSE, env=environment(),
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return time.perf_counter() - started, children_cpu() - cpu, " ".join(done.stderr.split())


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f}"


def summary(stderr: str) -> tuple[int, int, int]:
    found = re.search(r"(\d+) graded, (\d+) already in the gradebook, (\d+) could not be graded", stderr)
    return tuple(int(g) for g in found.groups()) if found else (-1, -1, -1)  # type: ignore[return-value]


def grades(gradebook: Path) -> dict[str, float]:
    db = sqlite3.connect(gradebook)
    try:
        return dict(db.execute("SELECT student, score FROM submissions WHERE id IN "
                               "(SELECT MAX(id) FROM submissions GROUP BY student)"))
    finally:
        db.close()


def check_differences(first: Path, second: Path) -> list[str]:
    """Checks whose status differs between two gradebooks (each student's latest submission)."""
    db = sqlite3.connect(first)
    try:
        db.execute("ATTACH ? AS other", (str(second),))
        rows = db.execute(
            "SELECT a.student, ca.check_id, ca.status, cb.status FROM submissions a "
            "JOIN other.submissions b ON b.student = a.student "
            "JOIN check_results ca ON ca.submission_id = a.id "
            "JOIN other.check_results cb ON cb.submission_id = b.id AND cb.check_id = ca.check_id "
            "WHERE ca.status != cb.status "
            "AND a.id IN (SELECT MAX(id) FROM submissions GROUP BY student) "
            "AND b.id IN (SELECT MAX(id) FROM other.submissions GROUP BY student) ORDER BY a.student"
        ).fetchall()
    finally:
        db.close()
    return [f"{student} {check} {a}→{b}" for student, check, a, b in rows]


def rows_per_student(gradebook: Path) -> set[int]:
    db = sqlite3.connect(gradebook)
    try:
        return {n for (n,) in db.execute("SELECT COUNT(*) FROM submissions GROUP BY student")}
    finally:
        db.close()


def committed(gradebook: Path) -> int:
    try:
        db = sqlite3.connect(gradebook, timeout=1)
        try:
            return db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def interrupted(klass: Path, gradebook: Path, jobs: int, stages: list[str], count: int) -> tuple[int, float]:
    """Runs the batch and SIGKILLs it once half the class is committed; returns what was kept."""
    started = time.perf_counter()
    proc = subprocess.Popen(command(klass, gradebook, jobs, stages), cwd=COURSE, env=environment(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None and committed(gradebook) < count // 2:
        time.sleep(0.2)  # polling the gradebook for progress
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return committed(gradebook), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--jobs", default="1,2", help="comma-separated --jobs values (default 1,2)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--stage", action="append", dest="stages", default=[], help="only these stages")
    parser.add_argument("--keep", action="store_true", help="keep the generated class and gradebooks")
    parser.add_argument("--no-resume", action="store_true",
                        help="leave out 2. and 3. (grading again, and the interrupted run)")
    args = parser.parse_args()
    jobs_list = [int(j) for j in args.jobs.split(",")]

    global COURSE
    tmp = Path(tempfile.mkdtemp(prefix="tcplab-bench-"))
    COURSE = snapshot(tmp / "course")
    klass = tmp / "class"
    kinds = build_class(klass, args.count, args.seed)
    isolation = detect()
    print(f"class: {args.count} submissions × {len(all_stages())} stages "
          f"({kinds['solution']} solution modules, {kinds['corpus']} corpus modules, "
          f"{kinds['stub']} all-stub students, {kinds['hostile']} hostile modules) in {klass}")
    print(f"machine: {os.cpu_count()} cores; sandbox: {isolation.describe()}")
    print(f"stages graded: {', '.join(args.stages) if args.stages else 'all'}")
    print()

    walls: dict[int, float] = {}
    results: dict[int, dict[str, float]] = {}
    for jobs in jobs_list:
        gradebook = tmp / f"gradebook-jobs{jobs}.db"
        before = load()
        wall, cpu, stderr = grade(klass, gradebook, jobs, args.stages)
        graded, skipped, errors = summary(stderr)
        walls[jobs], results[jobs] = wall, grades(gradebook)
        speedup = walls[jobs_list[0]] / wall
        print(f"--jobs {jobs}: {wall:7.1f} s wall, {wall / args.count:5.2f} s per submission "
              f"({cpu / args.count:.2f} CPU s each), speed-up ×{speedup:.2f} over --jobs {jobs_list[0]} "
              f"({graded} graded, {errors} errors; machine {before} before, {load()} after)")
    base = results[jobs_list[0]]
    for jobs in jobs_list[1:]:
        differ = sorted(s for s in base if results[jobs].get(s) != base[s])
        print(f"grades at --jobs {jobs} equal to --jobs {jobs_list[0]}: "
              f"{'yes' if not differ else f'no, {len(differ)} students differ'}")
        for line in check_differences(tmp / f"gradebook-jobs{jobs_list[0]}.db", tmp / f"gradebook-jobs{jobs}.db"):
            print(f"    {line}")

    last = jobs_list[-1]
    if args.no_resume:
        if args.keep:
            print(f"kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
        return
    wall, _, stderr = grade(klass, tmp / f"gradebook-jobs{last}.db", last, args.stages)
    graded, skipped, errors = summary(stderr)
    print(f"run again, nothing changed (--jobs {last}): {wall:.1f} s wall, {skipped} skipped, {graded} graded")

    gradebook = tmp / "gradebook-interrupted.db"
    kept, before = interrupted(klass, gradebook, last, args.stages, args.count)
    wall, _, stderr = grade(klass, gradebook, last, args.stages)
    graded, skipped, errors = summary(stderr)
    final = grades(gradebook)
    differ = sorted(s for s in final if results[last].get(s) != final[s])
    print(f"interrupted (SIGKILL after {before:.1f} s, {kept}/{args.count} committed), then run again "
          f"(--jobs {last}): {wall:.1f} s wall, {skipped} skipped, {graded} graded; "
          f"{before + wall:.1f} s in all against {walls[last]:.1f} s uninterrupted")
    print(f"    every student graded exactly once: {'yes' if rows_per_student(gradebook) == {1} else 'no'} "
          f"({len(final)} students); grades equal to the uninterrupted run: "
          f"{'yes' if not differ else f'no, {len(differ)} students differ'}")
    for line in check_differences(tmp / f"gradebook-jobs{last}.db", gradebook):
        print(f"    {line}")
    if args.keep:
        print(f"kept: {tmp}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
