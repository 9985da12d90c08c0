"""Grade cells for the notebook course: the stage checks, run on the kernel's own functions.

A grade cell in notebooks/source/<stage>/<stage>.ipynb is one line:

    from graders.notebook import grade
    grade("01_create_socket", "creates_ipv4_tcp_socket")

`grade` runs that check exactly as `tcplab check` does — the same check function from
exercises/<stage>/test_*.py (or graders/hidden/<stage>/), a fresh Lab — but against the
functions defined in the notebook (graders.engine.inprocess.InProcessSubject); its outcome
becomes a result by the same rules (graders.grading.outcome). It shows the result as HTML
(graders.report.notebook_html: what was expected, what happened, the bytes that crossed
the wire, the hint) and raises CheckFailed (an AssertionError) when the check did not
pass, so that nbgrader gives the cell no points. Each grade cell stands alone: a check's
`depends` is not applied here. `run_every_check(stage)` is the notebook's `tcplab check N`:
every public check, the first failure in full and the rest one line each; it raises nothing
(it is no grade cell), so "Run All" goes on to the check cells after it.

Rules kept for nbgrader's sake: a grade cell writes nothing to stderr (graders.notebook.quiet),
never hangs past the check's backstop, and for a hidden check shows its title and result
only, never what it sent or expected.
"""

from __future__ import annotations

import html
import importlib.util
import os
import re
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from graders.checking.declare import CheckSpec, spec_of
from graders.checking.lab import Lab
from graders.engine.inprocess import InProcessSubject
from graders.grading import outcome as outcomes
from graders.grading.outcome import Outcome, result_of
from graders.notebook.quiet import quiet
from graders.report.notebook_html import note_html, render_html
from graders.report.results import CheckResult
from graders.stages import HIDDEN, Stage, find_stage


@dataclass(frozen=True)
class NotebookCheck:
    """One check of a stage, found by importing its check file by path."""

    stage: Stage
    spec: CheckSpec
    func: Any
    hidden: bool
    path: Path

    @property
    def id(self) -> str:
        return f"{self.stage.id}.{self.spec.name}"


# -- finding checks ------------------------------------------------------------------------------
_MODULES: dict[Path, tuple[int, ModuleType]] = {}


def _load(path: Path) -> ModuleType:
    """Imports a check file by path (once per version of the file), as pytest's importlib mode does."""
    mtime = path.stat().st_mtime_ns
    cached = _MODULES.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    name = "tcplab_notebook_checks." + re.sub(r"\W", "_", f"{path.parent.name}.{path.stem}")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the check file {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and the like look their module up here
    spec.loader.exec_module(module)
    _MODULES[path] = (mtime, module)
    return module


def stage_checks(stage: Stage | str, *, hidden: bool = True) -> list[NotebookCheck]:
    """The stage's checks in the order `tcplab check` runs them: public files first, then hidden."""
    stage = find_stage(stage) if isinstance(stage, str) else stage
    found: list[NotebookCheck] = []
    for path in stage.check_files(hidden):
        is_hidden = HIDDEN in path.resolve().parents
        for value in vars(_load(path)).values():
            spec = spec_of(value)
            if spec is not None and callable(value):
                found.append(NotebookCheck(stage, spec, value, is_hidden, path))
    return found


def find_check(stage: Stage | str, name: str) -> NotebookCheck:
    stage = find_stage(stage) if isinstance(stage, str) else stage
    wanted = name.removeprefix("test_").removeprefix(f"{stage.id}.")
    for candidate in stage_checks(stage):
        if candidate.spec.name == wanted:
            return candidate
    known = ", ".join(c.spec.name for c in stage_checks(stage, hidden=False)) or "none yet"
    raise LookupError(f"stage {stage.id} has no check {name!r}; its public checks are: {known}")


# -- running checks ------------------------------------------------------------------------------
def run_check(check: NotebookCheck, namespace: Mapping[str, Any], *, seed: int | None = None) -> CheckResult:
    """Runs one check against the functions in `namespace`; its result as `tcplab check` gives it."""
    subject = InProcessSubject(namespace)
    lab = Lab(subject, seed=seed, check=check.func.__name__)
    happened: list[Outcome] = []
    started = time.monotonic()

    def body() -> None:
        try:
            check.func(lab)
            happened.append(outcomes.returned())
        except BaseException as exc:  # a Failure is the student's; anything else, the grader's
            happened.append(outcomes.raised(exc))

    # The check runs in its own thread so that a check stuck for any reason cannot hold the
    # cell past its backstop (pytest-timeout's job in `tcplab check`).
    runner = threading.Thread(target=body, name=f"check {check.id}", daemon=True)
    runner.start()
    runner.join(check.spec.backstop)
    outcome = outcomes.ran_past_backstop() if runner.is_alive() else happened[0]
    try:
        lab.close()
    finally:
        subject.close()
    return result_of(outcome, check.spec, id=check.id, hidden=check.hidden, lab=lab,
                     seconds=time.monotonic() - started)


def select_checks(stage: Stage | str, names: str | Sequence[str] | None = None, *,
                  hidden: bool = False) -> list[NotebookCheck]:
    """The named checks (a name or a list), or every public check (and hidden ones if asked)."""
    if names is None:
        return stage_checks(stage, hidden=hidden)
    if isinstance(names, str):
        names = [names]
    return [find_check(stage, name) for name in names]


def run_checks(stage: Stage | str, names: str | Sequence[str] | None = None, *,
               namespace: Mapping[str, Any] | None = None, seed: int | None = None,
               hidden: bool = False, depends: bool = False) -> list[CheckResult]:
    """Runs checks of `stage` against `namespace` (default: the caller's globals); no display.

    depends=True skips a check whose dependency did not pass, as `tcplab check` does (a
    grade cell stands alone and never does this; a whole-stage run may, to save time).
    """
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    results: list[CheckResult] = []
    for check in select_checks(stage, names, hidden=hidden):
        passed = {r.id.split(".", 1)[1]: r for r in results if r.status == "passed"}
        missing = [d for d in check.spec.depends if d not in passed] if depends else []
        if missing:
            titles = {c.spec.name: c.spec.title for c in stage_checks(check.stage)}
            reason = outcomes.needs_message(titles.get(missing[0], missing[0]))
            results.append(result_of(outcomes.skipped(reason), check.spec, id=check.id, hidden=check.hidden))
            continue
        results.append(run_check(check, namespace, seed=seed))
    return results


def grade(stage: str, names: str | Sequence[str] | None = None, *,
          namespace: Mapping[str, Any] | None = None, seed: int | None = None, hidden: bool = False) -> None:
    """A grade cell: runs the checks, shows the report, raises CheckFailed unless all passed.

    `stage` is a number or a name ("1", "01_create_socket"); `names` one check, a list of
    them, or None for every public check of the stage (hidden=True adds the hidden ones);
    `namespace` defaults to the globals of the cell that calls this; `seed` replays the
    short reads and writes a failure reported.
    """
    __tracebackhide__ = True  # where a full traceback is drawn (pytest, %tb), leave this frame out
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    with quiet() as captured:
        results = [run_check(c, namespace, seed=seed) for c in select_checks(stage, names, hidden=hidden)]
    show_html(render_html(results, captured.text(), focus=True))
    failed = [r for r in results if r.status != "passed"]
    if failed:
        raise CheckFailed(failure_summary(failed))


def run_every_check(stage: str, *, namespace: Mapping[str, Any] | None = None, seed: int | None = None) -> None:
    """The notebook's `tcplab check N`: every public check of `stage`, shown as one report.

    How many passed, the first check that did not in full, the others one line each; a
    check whose dependency did not pass is skipped with the reason, as in the terminal.
    Raises nothing: it is a learner's overview, not a grade cell (those do the grading).
    """
    if grading_now():  # the grade cells are the grade; running every check again only doubles the time
        show_html(note_html("Every check runs in its own check cell while your notebook is graded; "
                            "this overview is for you while you work."))
        return
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    with quiet() as captured:
        results = run_checks(stage, namespace=namespace, seed=seed, depends=True)
    show_html(render_html(results, captured.text(), focus=True))


def grading_now() -> bool:
    """Whether nbgrader is running the notebook (autograde, validate): it sets NBGRADER_EXECUTION."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


class CheckFailed(AssertionError):
    """A grade cell's checks did not all pass: raised so that nbgrader gives the cell no points.

    The report above the error explains the failure; a traceback into the grading library
    under it, as tall as the report, would read as a crash of the tool. So in IPython (which
    asks an exception for `_render_traceback_` before drawing one) the error is this one
    line. It is still an error output: nbgrader, and "Run All", see a failed cell.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def failure_summary(failed: list[CheckResult]) -> str:
    """The one line a CheckFailed carries: how many did not pass, its points, where to look."""
    if len(failed) > 1:
        return f"{len(failed)} checks did not pass; the report above says why."
    only = failed[0]
    points = f"{only.score:g}/{only.max_score:g} point{'' if only.max_score == 1 else 's'}"
    if only.hidden:
        return f"this hidden check did not pass ({points}); a hidden check shows only its result."
    return f"this check did not pass ({points}); the report above says why."


# -- showing the report --------------------------------------------------------------------------
def show_html(markup: str) -> None:
    """Shows markup in the kernel (IPython's display), or as plain text where there is none."""
    try:
        from IPython.display import HTML, display
    except ImportError:  # plain Python: print a readable summary instead
        print(html.unescape(re.sub(r"<[^>]+>", "", re.sub(r"(?s)<style>.*?</style>", "", markup))).strip())
        return
    display(HTML(markup))
