"""`tcplab gradescope autograder.zip`: the autograder bundle Gradescope runs for every submission.

The bundle holds setup.sh and run_autograder at its root (Gradescope wants them there), the
engine with its hidden checks (it grades with them), the stage folders (stubs and public
checks), pyproject.toml and what grading needs installed. It never holds a solution: every
member is compared with solutions/ before anything is written (graders/packaging/common.py).

Rules this module keeps:
1. The same course gives the same bundle, byte for byte: members in a stable order, fixed
   timestamps, fixed permissions.
2. The zip is written atomically (graders/report/files.py): OUT is the old bundle or the whole
   new one, never half of one.

What the bundle does on Gradescope is graders/packaging/gradescope.py's business: run_autograder
calls `python -m graders.packaging.gradescope run /autograder`.
"""

from __future__ import annotations

import os
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from graders.packaging.common import (
    PackagingError,
    refuse_secrets,
    render_template,
    requirements_text,
    walk_files,
)
from graders.packaging.gradescope import DEFAULT_BUDGET
from graders.report.files import atomic_file
from graders.stages import COURSE_ROOT, GRADERS, all_stages

# Fixed zip timestamps: the same course gives the same bundle, byte for byte.
ZIP_TIME = (2024, 1, 1, 0, 0, 0)


@dataclass
class Bundle:
    path: Path
    files: int
    checks: dict[str, tuple[int, int]]  # stage id -> (public check files, hidden check files)


def build_bundle(out: Path, *, budget: int = DEFAULT_BUDGET) -> Bundle:
    out = Path(os.path.abspath(out))
    if out.is_dir():
        raise PackagingError(f"{out} is a folder: give the path of the .zip file to write")
    if budget < 10:
        raise PackagingError(f"a budget of {budget} s leaves no time to grade: give at least 10 seconds")
    members = bundle_members(budget)
    # The bundle carries the hidden checks (it grades with them), never the solutions.
    refuse_secrets(((name, data) for name, data, _ in members), hidden=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(out) as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data, mode in members:
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.external_attr = (stat.S_IFREG | mode) << 16  # a regular file with these permissions
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    checks = {s.id: (len(s.check_files(hidden=False)), len(s.check_files(hidden=True)) - len(s.check_files(hidden=False)))
              for s in all_stages()}
    return Bundle(out, len(members), checks)


def bundle_members(budget: int) -> list[tuple[str, bytes, int]]:
    """(name in the zip, content, permissions): Gradescope wants setup.sh and run_autograder at the root."""
    members = [
        ("setup.sh", render_template("gradescope_setup.sh").encode(), 0o755),
        ("run_autograder", render_template("gradescope_run_autograder", budget=str(budget)).encode(), 0o755),
        ("README.md", render_template("gradescope_README.md").encode(), 0o644),
        ("requirements-grading.txt", requirements_text().encode(), 0o644),
    ]
    for name in ("pyproject.toml", "conftest.py"):
        if (COURSE_ROOT / name).is_file():
            members.append((name, (COURSE_ROOT / name).read_bytes(), 0o644))
    for top, prefix in ((GRADERS, "graders"), (COURSE_ROOT / "exercises", "exercises")):
        for path in walk_files(top):
            members.append((f"{prefix}/{path.relative_to(top).as_posix()}", path.read_bytes(), 0o644))
    return members


def describe(bundle: Bundle) -> list[str]:
    public = sum(p for p, _ in bundle.checks.values())
    hidden = sum(h for _, h in bundle.checks.values())
    lines = [f"wrote {bundle.path} ({bundle.files} files, {bundle.path.stat().st_size // 1024} KiB): "
             f"{public} public and {hidden} hidden check files over {len(bundle.checks)} stages",
             "upload it as the assignment's autograder (Ubuntu 22.04 or newer base image)"]
    empty = [sid for sid, (p, h) in bundle.checks.items() if not p + h]
    if empty:
        lines.append(f"no checks yet, so no points: {', '.join(empty)}")
    return lines
