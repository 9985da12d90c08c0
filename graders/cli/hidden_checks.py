"""What a student is told of the hidden checks ahead: how many a stage has, their points, what they add.

Counted at run time from graders/hidden/ when the course holds it (an instructor's copy, where
the hidden checks can change); from stages.toml's `hidden_checks` and `hidden_points` in a
student release, which ships no hidden files (tests/test_screen.py keeps the two equal). What
they add is stages.toml's `hidden_cases`: one phrase per stage, written to name the kinds of
cases without giving their expectations away.
"""

from __future__ import annotations

import contextlib
import importlib.util
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from graders.report.text import HiddenChecks
from graders.stages import GRADERS, HIDDEN, Stage

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@cache
def _course_data() -> dict[str, dict]:
    data = tomllib.loads((GRADERS / "stages.toml").read_text("utf-8"))
    return {s["id"]: s for s in data["stage"]}


def hidden_checks(stages: Iterable[Stage]) -> dict[str, HiddenChecks]:
    """The hidden checks of each stage that has any, by stage id."""
    out = {}
    for stage in stages:
        entry = _course_data().get(stage.id, {})
        counted = count_hidden_checks(stage)
        if counted is None:
            counted = (int(entry.get("hidden_checks", 0)), float(entry.get("hidden_points", 0.0)))
        if counted[0]:
            out[stage.id] = HiddenChecks(counted[0], counted[1], str(entry.get("hidden_cases", "")))
    return out


def count_hidden_checks(stage: Stage) -> tuple[int, float] | None:
    """(checks, points) of the stage's hidden check files, or None when there are none to read.

    The files are imported, as pytest imports them, and their checks counted by their @check
    declarations: the very numbers grading uses. A file that does not import (mid-edit) counts
    as none to read, and stages.toml's numbers are used instead.
    """
    files = sorted((HIDDEN / stage.id).glob("test_*.py"))
    if not files:
        return None
    from graders.checking.declare import spec_of

    checks, points = 0, 0.0
    for number, path in enumerate(files):
        module = _import(path, f"_tcplab_hidden_{stage.number:02d}_{number}")
        if module is None:
            return None
        for name, value in vars(module).items():
            spec = spec_of(value)
            if spec is not None and name.startswith("test_"):
                checks, points = checks + 1, points + spec.points
    return checks, points


def _import(path: Path, name: str) -> object | None:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and the like look their module up while it runs
    try:
        spec.loader.exec_module(module)
    except Exception:
        return None
    finally:
        with contextlib.suppress(KeyError):
            del sys.modules[name]
    return module
