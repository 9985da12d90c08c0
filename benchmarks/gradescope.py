"""Figures for the packagings: building them, and one Gradescope grading end to end.

    .venv/bin/python benchmarks/gradescope.py [--runs N]

Prints the median wall time, over N runs, of `tcplab gradescope` (building the bundle),
`tcplab release` (the student copy), and run_autograder on a root laid out like /autograder
for the reference solutions and for an empty submission (every stage in its own isolated
grading child, as on Gradescope). The Python that grades is set up as setup.sh leaves
Gradescope's: the bundle's course importable, the development environment's dependencies.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from graders.stages import SOLUTIONS, all_stages  # noqa: E402


def timed(cmd: list[str], **kwargs: object) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kwargs)  # type: ignore[call-overload]
    return time.perf_counter() - started


def autograder_root(tmp: Path, bundle: Path, solutions: bool) -> tuple[Path, str]:
    root = tmp / "autograder"
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
        for info in zf.infolist():
            os.chmod(root / "source" / info.filename, (info.external_attr >> 16) & 0o777)
    (root / "submission").mkdir()
    if solutions:
        for stage in all_stages():
            shutil.copy(SOLUTIONS / stage.id / stage.filename, root / "submission")
    venv = root / "python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    [site] = list(venv.glob("lib/python3*/site-packages"))
    deps = [p for p in sys.path if p.endswith("site-packages")]
    (site / "course.pth").write_text("\n".join([str(root / "source"), *deps]) + "\n")
    return root, str(venv / "bin" / "python")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    cli = [sys.executable, "-m", "graders.cli"]
    figures: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        bundle = tmp / "autograder.zip"
        for run in range(runs):
            figures.setdefault("tcplab gradescope (build the bundle)", []).append(
                timed([*cli, "gradescope", str(bundle)], cwd=ROOT))
            figures.setdefault("tcplab release (the student copy)", []).append(
                timed([*cli, "release", str(tmp / f"release{run}")], cwd=ROOT))
        for label, solutions in (("run_autograder, the solutions", True), ("run_autograder, an empty submission", False)):
            for run in range(runs):
                where = tmp / f"{solutions}-{run}"
                root, python = autograder_root(where, bundle, solutions)
                env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
                env.update(TCPLAB_AUTOGRADER_ROOT=str(root), TCPLAB_PYTHON=python)
                figures.setdefault(label, []).append(timed([str(root / "source" / "run_autograder")], env=env))
                shutil.rmtree(where, ignore_errors=True)
    print(f"median of {runs} runs, {os.cpu_count()} cores")
    for label, times in figures.items():
        print(f"  {label:45} {statistics.median(times):6.2f} s   (min {min(times):.2f}, max {max(times):.2f})")


if __name__ == "__main__":
    main()
