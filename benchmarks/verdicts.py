"""No verdict changes with checks side by side: the whole corpus, one after another against the defaults.

    .venv/bin/python benchmarks/verdicts.py [--busy] [--jobs N]

Builds a class of every module of tests/submissions (correct alternatives and realistic bugs)
and of tests/hostile (the attacks, spliced as tests/test_hostile.py does), one submission
each. Grades it twice with `tcplab grade`: at `--jobs 1 --runners 1` (every check after the
other, the way grading ran before issue 13) and at the defaults (submissions `--jobs` at a
time, checks side by side in runners). With --busy, every core runs a busy loop for both
gradings, as benchmarks/soak.sh does. Prints the wall time of each grading, how many checks
were compared, and every check whose status or score differs (exit status 1 if any does).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graders.grading.capacity import cores  # noqa: E402
from graders.stages import all_stages  # noqa: E402
from tests.test_hostile import hostile_modules, spliced  # noqa: E402

CORPUS = ROOT / "tests" / "submissions"


def build_class(klass: Path) -> int:
    stages = {s.id: s for s in all_stages()}
    count = 0
    for stage in stages.values():
        for module in sorted((CORPUS / stage.id).glob("*.py")):
            folder = klass / f"{stage.id}-{module.stem}" / stage.id
            folder.mkdir(parents=True)
            shutil.copy(module, folder / stage.filename)
            count += 1
    throwaway = klass.parent / "elsewhere"
    for stage_id, module in hostile_modules():
        stage = stages[stage_id]
        folder = klass / f"hostile-{stage_id}-{module.stem}" / stage_id
        folder.mkdir(parents=True)
        source = module.read_text().replace("@GRADEBOOK@", str(throwaway / "gradebook.db"))
        (folder / stage.filename).write_text(spliced(source.replace("@ELSEWHERE@", str(throwaway))))
        count += 1
    return count


def grade(klass: Path, extra: list[str]) -> tuple[float, dict[str, dict[str, tuple[str, float]]]]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "graders.cli", "grade", str(klass), "--no-gradebook",
                           "--format", "json", *extra], cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"tcplab grade {' '.join(extra)} failed:\n{done.stderr[-3000:]}")
    verdicts = {}
    for sub in json.loads(done.stdout)["submissions"]:
        verdicts[sub["student"]] = {c["id"]: (c["status"], c["score"]) for s in sub["stages"] for c in s["checks"]}
    return wall, verdicts


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--busy", action="store_true", help="a busy loop on every core while grading")
    parser.add_argument("--jobs", type=int, default=None, help="--jobs of the side-by-side grading (default: tcplab's)")
    args = parser.parse_args()
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(cores())] if args.busy else []
    try:
        with tempfile.TemporaryDirectory(prefix="tcplab-verdicts-") as tmp:
            klass = Path(tmp) / "class"
            count = build_class(klass)
            load = f"a busy loop on each of {cores()} cores" if hogs else "a quiet machine"
            print(f"{count} submissions (tests/submissions and tests/hostile), graded on {load}")
            serial_wall, serial = grade(klass, ["--jobs", "1", "--runners", "1"])
            print(f"  --jobs 1 --runners 1: {serial_wall:.0f} s")
            extra = ["--jobs", str(args.jobs)] if args.jobs else []
            wall, side = grade(klass, extra)
            print(f"  {' '.join(extra) or 'the defaults'} (jobs {args.jobs or cores()}, runners from them): {wall:.0f} s")
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
    differences = []
    compared = 0
    for student, checks in serial.items():
        other = side.get(student, {})
        for check, verdict in checks.items():
            compared += 1
            if other.get(check) != verdict:
                differences.append(f"{student} {check}: {verdict} one after another, {other.get(check)} side by side")
    missing = set(side) ^ set(serial)
    print(f"{compared} checks compared: {len(differences)} differ" + (f", submissions in one run only: {missing}"
                                                                     if missing else ""))
    for line in differences:
        print("  " + line)
    return 1 if differences or missing else 0


if __name__ == "__main__":
    sys.exit(main())
