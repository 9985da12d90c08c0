"""The student copy of the course (`tcplab release OUT`).

A release holds what a student works with: the stage folders (stubs, lessons, public checks),
the engine without its hidden checks, the notebooks nbgrader released, a README written for
students, pyproject.toml (the same package), and a GitHub Classroom workflow that runs
`tcplab check N` for each stage. It never holds solutions/, graders/hidden/, tests/, the
notebooks' sources or nbgrader_config.py, nor instructor notes: by convention any file or
folder whose name starts with "instructor" (any case), wherever it is (graders/packaging/common.py,
which the Gradescope bundle shares, keeps that rule and the secrets check of rule 3).

Rules this module keeps:
1. OUT is built in a temporary folder beside it and renamed into place: OUT is either what it
   was or the whole new release, never half of one.
2. A non-empty OUT is replaced only with force=True.
3. Before the rename, every file is compared (SHA-256) with solutions/ and graders/hidden/:
   a release that would ship one of them is refused, whatever put it there.
"""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import shutil
import tempfile
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from graders.packaging.common import (
    PackagingError,
    refuse_secrets,
    render_template,
    requirements_text,
    walk_files,
)
from graders.stages import COURSE_ROOT, GRADERS, HIDDEN, all_stages

NOTEBOOK_RELEASE = COURSE_ROOT / "notebooks" / "release"
# nbgrader's own files: an instructor's configuration and gradebook, never a student's.
NBGRADER_FILES = {"nbgrader_config.py", "gradebook.db"}


# -- the public checks ----------------------------------------------------------------------------
def public_checks() -> dict[str, list[tuple[str, float]]]:
    """Each stage's public checks as (name, points), in the order they run, read by collecting
    them (nothing runs)."""
    import pytest

    from graders.checking.declare import spec_of
    from graders.grading.runner import CHECKS_INI

    class Checks:
        def __init__(self) -> None:
            self.checks: dict[str, list[tuple[str, float]]] = {}

        def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
            for item in items:
                spec = spec_of(getattr(item, "obj", None))
                if spec is not None:
                    stage = Path(str(item.path)).parent.name
                    self.checks.setdefault(stage, []).append((spec.name, spec.points))

    files = [str(f) for stage in all_stages() for f in stage.check_files(hidden=False)]
    collector = Checks()
    if files:
        args = [*files, "-c", str(CHECKS_INI), "--rootdir", str(COURSE_ROOT), "--collect-only",
                "-p", "no:terminal", "-p", "no:warnings"]
        with contextlib.redirect_stdout(io.StringIO()):
            code = pytest.main(args, plugins=[collector])
        if code not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED):
            raise PackagingError(f"the public checks could not be collected (pytest exit {int(code)}); "
                                 "run `pytest exercises/` to see why")
    return {stage.id: collector.checks.get(stage.id, []) for stage in all_stages()}


def public_points(checks: dict[str, list[tuple[str, float]]] | None = None) -> dict[str, float]:
    """Each stage's public points."""
    checks = public_checks() if checks is None else checks
    return {sid: float(sum(points for _, points in own)) for sid, own in checks.items()}


# -- the release ----------------------------------------------------------------------------------
@dataclass
class Release:
    out: Path
    files: list[str] = field(default_factory=list)
    points: dict[str, float] = field(default_factory=dict)
    notebooks: int = 0
    runners: list[Runner] = field(default_factory=list)


def build_release(out: Path, *, force: bool = False) -> Release:
    out = Path(os.path.abspath(out))
    check_destination(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        release = fill(tmp, out)
        refuse_secrets((name, (tmp / name).read_bytes()) for name in release.files)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp made it private; a release is an ordinary folder
        swap_into_place(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return release


def check_destination(out: Path, force: bool) -> None:
    root = COURSE_ROOT.resolve()
    real = out.resolve()
    if real == root or root.is_relative_to(real):
        raise PackagingError(f"{out} holds the course itself: choose a folder outside it")
    for shipped in ("exercises", "graders", "notebooks", "solutions"):
        if real.is_relative_to(root / shipped):
            raise PackagingError(f"{out} is inside the course's {shipped}/: choose a folder outside it")
    if out.exists() and not out.is_dir():
        raise PackagingError(f"{out} exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise PackagingError(f"{out} is not empty: choose a new or empty folder, "
                             "or pass --force to replace its contents")


def swap_into_place(tmp: Path, out: Path) -> None:
    if not out.exists():
        os.rename(tmp, out)
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    os.rename(out, old)
    try:
        os.rename(tmp, out)
    except OSError:
        os.rename(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def fill(tmp: Path, out: Path) -> Release:
    release = Release(out)

    def add(name: str, data: bytes | str) -> None:
        target = tmp / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        release.files.append(name)

    def add_tree(src: Path, dest: str, skip: Callable[[Path], bool] = lambda p: False) -> int:
        files = walk_files(src, skip)
        for path in files:
            add(f"{dest}/{path.relative_to(src).as_posix()}", path.read_bytes())
        return len(files)

    add_tree(COURSE_ROOT / "exercises", "exercises")
    add_tree(GRADERS, "graders", skip=lambda p: p == HIDDEN)
    if NOTEBOOK_RELEASE.is_dir():
        release.notebooks = add_tree(NOTEBOOK_RELEASE, "notebooks", skip=lambda p: p.name in NBGRADER_FILES)
    for name in ("pyproject.toml", "conftest.py", ".gitignore"):
        if (COURSE_ROOT / name).is_file():
            add(name, (COURSE_ROOT / name).read_bytes())
    checks = public_checks()
    release.points = public_points(checks)
    release.runners = classroom_runners(checks)
    add("README.md", student_readme(bool(release.notebooks)))
    add(".github/workflows/classroom.yml", classroom_workflow(release.runners))
    add(".github/requirements-grading.txt", requirements_text())
    return release


def student_readme(notebooks: bool) -> str:
    rows = ["| stage | you write | what it is about |", "|---|---|---|"]
    rows += [f"| {s.id} | `exercises/{s.id}/{s.filename}` | {s.title} |" for s in all_stages()]
    section = ""
    if notebooks:
        section = "## Notebooks\n\n" + textwrap.fill(
            "The same stages as Jupyter notebooks, cell by cell, are in `notebooks/`: run "
            "`jupyter notebook notebooks/` in the activated environment. Their check cells run the "
            "same checks as `tcplab check`, against the functions you define in the notebook.", 95) + "\n"
    return render_template("student_README.md", stages_table="\n".join(rows), notebooks_section=section)


# -- GitHub Classroom ------------------------------------------------------------------------------
# Classroom's command grader reads max-score as a whole number (a stage worth 14.5 counts 14), so
# every runner is worth whole points, and together exactly the public total, unscaled: a stage
# whose points are whole is one runner, `tcplab check N`; from a stage whose points are not, the
# fewest checks that carry its fraction are set apart, the rest of it stays one runner (--only),
# and the checks set apart, in stage order, make runners of their own, each closed as soon as its
# points are whole (two half-point checks of stages 05 and 06: one runner worth 1).
@dataclass
class Runner:
    id: str  # the step id; its results reach the reporter as <ID>_RESULTS
    name: str
    stages: list[int]  # the stage numbers it runs
    only: list[str] | None  # the check ids (STAGE.name) it judges; None: all of the stages'
    points: int

    @property
    def command(self) -> str:
        command = "tcplab check " + " ".join(str(n) for n in self.stages)
        return command + (f" --only {','.join(self.only)}" if self.only is not None else "")


def classroom_runners(checks: dict[str, list[tuple[str, float]]]) -> list[Runner]:
    runners: list[Runner] = []
    set_apart: list[tuple[int, str, Fraction]] = []  # (stage number, check id, points)
    for stage in all_stages():
        own = [(name, exact(points)) for name, points in checks.get(stage.id, []) if points > 0]
        if not own:
            continue  # a stage without public checks yet could only ever fail
        apart = fraction_carriers(own, sum(p for _, p in own) % 1)
        kept = [(name, p) for name, p in own if name not in apart]
        if kept:
            whole = len(kept) == len(checks[stage.id])
            title = f"{stage.id} — {stage.title}" + ("" if whole else f" ({len(kept)} of its {len(checks[stage.id])} checks)")
            runners.append(Runner(f"stage{stage.number:02d}", title, [stage.number],
                                  None if whole else [f"{stage.id}.{name}" for name, _ in kept],
                                  int(sum(p for _, p in kept))))
        set_apart += [(stage.number, f"{stage.id}.{name}", p) for name, p in own if name in apart]
    group: list[tuple[int, str, Fraction]] = []
    for check in set_apart:
        group.append(check)
        points = sum(p for _, _, p in group)
        if points.denominator == 1:
            numbers = sorted({n for n, _, _ in group})
            stage_ids = sorted({check_id.split(".", 1)[0] for _, check_id, _ in group})
            runner_id = "stages" + "_".join(f"{n:02d}" for n in numbers)
            runner_id += "" if runner_id not in {r.id for r in runners} else f"_{len(runners)}"
            worth = f"{int(points)} point{'' if points == 1 else 's'}"
            runners.append(Runner(runner_id, f"{' + '.join(stage_ids)}: the {len(group)} checks set apart, worth {worth}",
                                  numbers, [c for _, c, _ in group], int(points)))
            group = []
    if group:
        total = sum(p for own in checks.values() for _, p in own)
        raise PackagingError(f"the public checks are worth {float(total):g} points, and GitHub Classroom counts "
                             "whole points only: give the checks points that add up to a whole number")
    if not runners:
        raise PackagingError("no stage has public checks yet: there is nothing for GitHub Classroom to run")
    return runners


def exact(points: float) -> Fraction:
    """A check's points as an exact fraction (1.5 is 3/2): sums of floats are not whole reliably."""
    return Fraction(points).limit_denominator(1000)


def fraction_carriers(own: list[tuple[str, Fraction]], fraction: Fraction) -> set[str]:
    """The names of the fewest checks (then the fewest points, then the first) whose points end in
    `fraction`; none when it is 0, all of them when no few checks do."""
    if not fraction:
        return set()
    for size in range(1, min(len(own), 4) + 1):
        fits = [combo for combo in itertools.combinations(own, size) if sum(p for _, p in combo) % 1 == fraction]
        if fits:
            return {name for name, _ in min(fits, key=lambda combo: sum(p for _, p in combo))}
    return {name for name, _ in own}


def classroom_workflow(runners: list[Runner]) -> str:
    """GitHub Classroom's autograding workflow: one command-grader step per runner."""
    steps, env = [], []
    for runner in runners:
        steps.append(
            f"      - name: {json.dumps(runner.name, ensure_ascii=False)}\n"
            f"        id: {runner.id}\n"
            f"        uses: classroom-resources/autograding-command-grader@v1\n"
            f"        with:\n"
            f"          test-name: {json.dumps(runner.name, ensure_ascii=False)}\n"
            f"          command: {runner.command}\n"
            f"          timeout: 5\n"
            f"          max-score: {runner.points}\n")
        env.append(f'          {runner.id.upper()}_RESULTS: "${{{{steps.{runner.id}.outputs.result}}}}"\n')
    return render_template("classroom.yml", stage_steps="".join(steps).rstrip("\n"),
                           reporter_env="".join(env).rstrip("\n"), runners=",".join(r.id for r in runners))


def describe(release: Release) -> list[str]:
    total = sum(release.points.values())
    lines = [f"wrote the student copy of the course to {release.out} ({len(release.files)} files)",
             f"public checks: {total:g} points over {sum(1 for p in release.points.values() if p)} stages"]
    if release.runners:
        lines.append(f"GitHub Classroom workflow: {len(release.runners)} runners worth "
                     f"{sum(r.points for r in release.runners)} whole points, the public checks' total")
    missing = [sid for sid, p in release.points.items() if not p]
    if missing:
        lines.append(f"no public checks yet (left out of the Classroom workflow): {', '.join(missing)}")
    lines.append(f"notebooks: {release.notebooks} files from notebooks/release/" if release.notebooks
                 else "notebooks: none (notebooks/release/ does not exist; run nbgrader's release first)")
    return lines

