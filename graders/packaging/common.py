"""What the course's packagings share: which files ship, the secrets that must not, the templates.

The student release (graders/packaging/release.py) and the Gradescope bundle
(graders/packaging/gradescope_bundle.py) are built from the same pieces:

- `walk_files`: every file under a folder that ships, in a stable order, never litter (caches,
  compiled files), links, or instructor notes — any file or folder whose name starts with
  "instructor" (any case), wherever it is;
- `refuse_secrets`: the last word before anything is written: a file identical (SHA-256) to a
  solution, or to a hidden check, refuses the whole packaging, whatever put it there;
- `render_template`: a file of graders/packaging/templates with every {{placeholder}} filled
  (a missing or extra value is an error, never a blank);
- `requirements_text`: what grading needs installed, the course's dependencies without the
  notebook tooling.

A packaging that cannot be built as asked raises `PackagingError`, whose message says what to do.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from graders.stages import COURSE_ROOT, HIDDEN, SOLUTIONS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TEMPLATES = Path(__file__).with_name("templates")
# Caches and editor litter are never course material.
LITTER = {"__pycache__", ".pytest_cache", ".ruff_cache", ".ipynb_checkpoints", ".DS_Store"}
# Only the notebooks need these; grading (tcplab check, Gradescope, CI) does not.
NOTEBOOK_TOOLING = {"nbgrader", "jupyter", "nbclient"}
PLACEHOLDER = re.compile(r"\{\{([a-z_]+)\}\}")


class PackagingError(Exception):
    """The course cannot be packaged as asked; the message says what to do."""


def left_out(path: Path) -> bool:
    """Litter, links, and instructor notes: never copied into a release or a bundle."""
    name = path.name
    return (name in LITTER or name.endswith((".pyc", ".pyo")) or path.is_symlink()
            or name.lower().startswith("instructor"))


def walk_files(top: Path, skip: Callable[[Path], bool] = lambda p: False) -> list[Path]:
    """Every file under `top` that ships, in a stable order; skipped folders are not entered."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        dirnames[:] = sorted(n for n in dirnames if not (left_out(here / n) or skip(here / n)))
        found += [here / n for n in sorted(filenames) if not (left_out(here / n) or skip(here / n))]
    return found


def grading_requirements(pyproject: Path = COURSE_ROOT / "pyproject.toml") -> list[str]:
    """The course's dependencies that grading needs: all of them but the notebook tooling."""
    deps = tomllib.loads(pyproject.read_text("utf-8"))["project"]["dependencies"]
    return [d for d in deps if requirement_name(d) not in NOTEBOOK_TOOLING]


def requirement_name(spec: str) -> str:
    match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec.strip())
    return match.group(0).lower().replace("_", "-") if match else spec


def requirements_text() -> str:
    return ("# What grading needs (tcplab's dependencies without the notebook tooling).\n"
            + "\n".join(grading_requirements()) + "\n")


def render_template(name: str, **values: str) -> str:
    """A template from graders/packaging/templates with its {{placeholders}} filled, all of them."""
    text = (TEMPLATES / name).read_text("utf-8")
    wanted = set(PLACEHOLDER.findall(text))
    if wanted != set(values):
        raise PackagingError(f"template {name} needs {sorted(wanted)}, was given {sorted(values)}")
    return PLACEHOLDER.sub(lambda m: values[m.group(1)], text)


def secret_digests(hidden: bool = True) -> dict[str, str]:
    """SHA-256 of the files that must never reach a student: solutions, and hidden checks."""
    digests = {}
    for top in (SOLUTIONS, HIDDEN) if hidden else (SOLUTIONS,):
        if not top.is_dir():
            continue
        for path in walk_files(top):
            data = path.read_bytes()
            # Empty files (an __init__.py) say nothing and match innocent files: not secrets.
            if data.strip():
                digests[hashlib.sha256(data).hexdigest()] = str(path.relative_to(COURSE_ROOT))
    return digests


def refuse_secrets(files: Iterable[tuple[str, bytes]], *, hidden: bool = True) -> None:
    """Refuses files identical to a solution (or, when `hidden`, to a hidden check)."""
    secrets = secret_digests(hidden)
    for name, data in files:
        twin = secrets.get(hashlib.sha256(data).hexdigest())
        if twin:
            raise PackagingError(f"{name} is a copy of {twin}, which must not ship; remove it and retry")
