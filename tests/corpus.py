"""Grading the fixture corpus the way a user would: `tcplab grade` in a subprocess.

tests/submissions/<stage>/ holds whole modules: `ok_*.py` (correct, in another style:
must pass every check) and `bug_*.py` (one realistic bug each; the module docstring
names the checks meant to catch it on a line `Caught by: name, name`).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from typing import Any

from graders.stages import EXERCISES, SOLUTIONS, Stage, all_stages

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "submissions"
CAUGHT_BY = re.compile(r"^\s*Caught by:\s*(.+)$", re.MULTILINE)


def corpus_files(kind: str) -> list[tuple[Stage, Path]]:
    out = []
    for stage in all_stages():
        out += [(stage, f) for f in sorted((CORPUS / stage.id).glob(f"{kind}_*.py"))]
    return out


def intended_checks(path: Path) -> list[str]:
    found = CAUGHT_BY.search(path.read_text("utf-8"))
    return [n.strip().removeprefix("test_") for n in found.group(1).split(",")] if found else []


def tcplab(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "graders.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=HERE.parent)


def grade_many(dirs: list[Path], stage: Stage | None = None, jobs: int = 2) -> dict[str, dict]:
    """JSON results of `tcplab grade` for each directory, keyed by the directory as given."""
    args = ["grade", *map(str, dirs), "--format", "json", "--no-gradebook", "--jobs", str(jobs)]
    if stage is not None:
        args += ["--stage", stage.id]
    done = tcplab(*args)
    assert done.returncode == 0, f"tcplab grade failed:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    return {s["submission"]: s for s in json.loads(done.stdout)["submissions"]}


def as_submission(tmp: Path, stage: Stage, module: Path, name: str) -> Path:
    folder = tmp / name / stage.id
    folder.mkdir(parents=True)
    shutil.copy(module, folder / stage.filename)
    return tmp / name


@cache
def graded_corpus(tmp_root: str, stage_id: str) -> dict[str, dict]:
    """Every corpus module of one stage, graded once (so `-k 05_framing` grades only that stage)."""
    stage = next(s for s in all_stages() if s.id == stage_id)
    tmp = Path(tmp_root)
    dirs = []
    for kind in ("ok", "bug"):
        for path in sorted((CORPUS / stage.id).glob(f"{kind}_*.py")):
            dirs.append(as_submission(tmp, stage, path, f"{stage.id}-{path.stem}"))
    return grade_many(dirs, stage) if dirs else {}


def graded_corpora(tmp_root: str, stage_ids: set[str]) -> None:
    """graded_corpus of each of `stage_ids` at once, one `tcplab grade` each side by side.

    Why: most of a grading is waiting on deadlines, so several gradings at a time keep the
    cores busy (as `tcplab grade --jobs` does for a class); one after another, they would not.
    """
    with ThreadPoolExecutor(max_workers=max(1, len(stage_ids))) as pool:
        list(pool.map(lambda stage_id: graded_corpus(tmp_root, stage_id), sorted(stage_ids)))


def stages_in_session(request: Any, fixture: str) -> set[str]:
    """The stage ids of the session's selected tests that use `fixture` (parametrized with `stage` or `stage_id`)."""
    found = set()
    for item in request.session.items:
        if fixture not in getattr(item, "fixturenames", ()):
            continue
        params = getattr(getattr(item, "callspec", None), "params", {})
        stage = params.get("stage", params.get("stage_id"))
        if stage is not None:
            found.add(getattr(stage, "id", stage))
    return found


def stage_of(result: dict, stage: Stage) -> dict:
    return next(s for s in result["stages"] if s["stage"] == stage.id)


__all__ = ["EXERCISES", "SOLUTIONS", "as_submission", "corpus_files", "grade_many", "graded_corpora", "graded_corpus",
           "intended_checks", "stage_of", "stages_in_session", "tcplab"]


def bug_modules(stage_id: str) -> list[Path]:
    return sorted((CORPUS / stage_id).glob("bug_*.py"))


def graded_bugs(tmp_root: str, stages: dict[str, Stage]) -> dict[tuple[str, str], dict]:
    """Every bug_* corpus module of `stages`, graded (hidden checks included): (stage id, module
    stem) -> that stage's result. The gradings are graded_corpus's, so a session that also runs
    test_corpus grades each module once."""
    graded_corpora(tmp_root, set(stages))
    out = {}
    for stage_id, stage in stages.items():
        for key, result in graded_corpus(tmp_root, stage_id).items():
            stem = Path(key).name.removeprefix(f"{stage_id}-")
            if stem.startswith("bug_"):
                out[(stage_id, stem)] = stage_of(result, stage)
    return out


def diagnosis_problem(graded: dict[tuple[str, str], dict], stage_id: str, module: str, check: str,
                      hint: str) -> str | None:
    """Why `module` failing `check` did not give `hint` (None: it did)."""
    checks = {c["id"].split(".", 1)[1]: c for c in graded[(stage_id, module)]["checks"]}
    if check not in checks:
        return f"{check} is not a check of {stage_id}"
    result = checks[check]
    if result["status"] not in ("failed", "timeout"):
        return f"{module} {result['status']} {check}"
    if result["hint"] != hint:
        return f"{module} at {check}: {result['message']}\nhint: {result['hint']}"
    return None


def green_locally(graded: dict[tuple[str, str], dict], stage_id: str) -> list[str]:
    """The bug modules of a stage that fail no PUBLIC check (tcplab check shows them green), but
    those whose docstring says they are "A matter of depth"."""
    green = []
    for path in bug_modules(stage_id):
        if "A matter of depth" in path.read_text("utf-8"):
            continue
        checks = graded[(stage_id, path.stem)]["checks"]
        if not any(c["status"] in ("failed", "timeout") and not c["hidden"] for c in checks):
            green.append(path.name)
    return green
