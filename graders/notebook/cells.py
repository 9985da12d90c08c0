"""Grade cells for the notebook course: the stage checks, run on the kernel's own functions.

A grade cell in notebooks/source/<stage>/<stage>.ipynb is one line:

    from graders.notebook import grade
    grade("01_create_socket", "creates_ipv4_tcp_socket")

`grade` runs that check exactly as `tcplab check` does — the same check function from
exercises/<stage>/test_*.py (or graders/hidden/<stage>/), a fresh Lab — but against the
functions defined in the notebook (graders.engine.inprocess.InProcessSubject). It shows the
result as HTML (what was expected, what happened, the bytes that crossed the wire, the
hint) and raises AssertionError when the check did not pass, so that nbgrader gives the
cell no points. Each grade cell stands alone: a check's `depends` is not applied here.

Rules kept for nbgrader's sake: a grade cell writes nothing to stderr (nbgrader scores a
cell with stderr output as 0: the student's stderr, warnings and thread errors are caught
and shown inside the report instead), never hangs past the check's backstop, and for a
hidden check shows its title and result only, never what it sent or expected.

Also here: `demo()`, a Lab for the lessons' demonstrations, and `strip_hidden_tests`, which
the course's nbgrader_config.py uses so that feedback never shows hidden test source.
"""

from __future__ import annotations

import contextlib
import html
import importlib.util
import io
import os
import re
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from graders.checking.declare import CheckSpec, Failure, spec_of
from graders.checking.lab import Lab
from graders.engine.inprocess import InProcessSubject, is_student_thread
from graders.report.results import CheckResult
from graders.report.student_view import view
from graders.stages import HIDDEN, Stage, find_stage

BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"


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
    spec = check.spec
    outcome: dict[str, Any] = {}
    started = time.monotonic()

    def body() -> None:
        try:
            check.func(lab)
            outcome["status"] = "passed"
        except Failure as failure:
            outcome.update(status=failure.status, message=failure.details(), failure=failure)
        except BaseException as exc:  # a fault of the check, reported apart from the student's
            outcome.update(status="error", message=(
                f"the grader ran into an error, not your code's fault: {type(exc).__name__}: {exc}. "
                "Please tell your instructor."))

    # The check runs in its own thread so that a check stuck for any reason cannot hold the
    # cell past its backstop (pytest-timeout's job in `tcplab check`).
    runner = threading.Thread(target=body, name=f"check {check.id}", daemon=True)
    runner.start()
    runner.join(spec.backstop)
    if runner.is_alive():
        outcome = {"status": "timeout", "message": f"the check did not finish within its {spec.backstop:g} s backstop"}
    try:
        lab.close()
    finally:
        subject.close()
    status = outcome["status"]
    failure = outcome.get("failure")
    passed = status == "passed"
    return CheckResult(
        id=check.id, title=spec.title, status=status,
        score=spec.points if passed else 0.0, max_score=spec.points, hidden=check.hidden,
        message=outcome.get("message", ""),
        hint="" if passed else (failure.hint if failure is not None and failure.hint else spec.hint),
        transcript=[] if passed else lab.transcript.lines(),
        seed=lab.seed if lab.faults_used and not passed else None,
        seconds=time.monotonic() - started,
    )


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
            results.append(CheckResult(
                id=check.id, title=check.spec.title, status="skipped", score=0.0, max_score=check.spec.points,
                hidden=check.hidden, message=f"skipped: it needs “{titles.get(missing[0], missing[0])}”, "
                "which did not pass"))
            continue
        results.append(run_check(check, namespace, seed=seed))
    return results


def grade(stage: str, names: str | Sequence[str] | None = None, *,
          namespace: Mapping[str, Any] | None = None, seed: int | None = None, hidden: bool = False) -> None:
    """A grade cell: runs the checks, shows the report, raises AssertionError unless all passed.

    `stage` is a number or a name ("1", "01_create_socket"); `names` one check, a list of
    them, or None for every public check of the stage (hidden=True adds the hidden ones);
    `namespace` defaults to the globals of the cell that calls this; `seed` replays the
    short reads and writes a failure reported.
    """
    __tracebackhide__ = True  # IPython leaves this frame out of the traceback a student sees
    if namespace is None:
        namespace = sys._getframe(1).f_globals
    with quiet() as captured:
        results = [run_check(c, namespace, seed=seed) for c in select_checks(stage, names, hidden=hidden)]
    show_html(render_html(results, captured.text()))
    failed = [r for r in results if r.status != "passed"]
    if failed:
        raise AssertionError(failure_summary(failed))


def failure_summary(failed: list[CheckResult]) -> str:
    """The one line an AssertionError carries: which checks did not pass (hidden ones by title only)."""
    titles = "; ".join(("hidden check: " if r.hidden else "") + r.title for r in failed)
    why = "The report above says why." if any(not r.hidden for r in failed) else "A hidden check shows only its result."
    return f"{len(failed)} check(s) did not pass — {titles}. {why}"


# -- keeping stderr clean ---------------------------------------------------------------------------
class Captured:
    """What would have gone to stderr during a grade cell, kept for the report instead."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.fd_text = ""
        self.lines: list[str] = []

    def text(self) -> str:
        return (self.stream.getvalue() + self.fd_text + "".join(self.lines)).strip()


@contextlib.contextmanager
def quiet() -> Iterator[Captured]:
    """Routes everything bound for stderr — print(file=sys.stderr), warnings, thread and
    'exception ignored' reports, and writes to fd 2 itself — into a Captured, for the block."""
    captured = Captured()
    previous_thread_hook, previous_unraisable = threading.excepthook, sys.unraisablehook

    # What the student's threads raise is shown in the report; the grader's own threads
    # (peers winding down as a check ends) and warnings are nobody's business in a grade cell.
    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if is_student_thread(args.thread):
            captured.lines.append(f"Exception in thread {args.thread.name}: "
                                  f"{args.exc_type.__name__}: {args.exc_value}\n")

    def unraisable_hook(args: Any) -> None:
        pass

    def show_warning(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        pass

    with contextlib.ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.showwarning = show_warning
        stack.enter_context(contextlib.redirect_stderr(captured.stream))
        stack.enter_context(_fd2_into(captured))
        threading.excepthook, sys.unraisablehook = thread_hook, unraisable_hook
        try:
            yield captured
        finally:
            threading.excepthook, sys.unraisablehook = previous_thread_hook, previous_unraisable


@contextlib.contextmanager
def _fd2_into(captured: Captured) -> Iterator[None]:
    """Points fd 2 at a temporary file for the block: ipykernel forwards fd 2 to the cell as stderr."""
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all: nothing can reach it
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.fd_text = sink.read().decode("utf-8", "replace")


# -- showing results --------------------------------------------------------------------------------
STYLE = (
    "<style>.tcplab{font-family:system-ui,sans-serif;border-left:4px solid #ccc;padding:.3rem .8rem;margin:.3rem 0}"
    ".tcplab.passed{border-color:#1a7f37}.tcplab.failed,.tcplab.timeout{border-color:#cf222e}"
    ".tcplab.error{border-color:#8250df}.tcplab pre{background:#f6f6f6;padding:.5rem;white-space:pre-wrap;margin:.3rem 0}"
    ".tcplab .mark{font-weight:bold}.tcplab .dim{color:#666}</style>"
)


def render_html(results: list[CheckResult], stderr_text: str = "") -> str:
    """The results as `tcplab check` shows a failure: message, expected/got, transcript, hint."""
    parts = [STYLE] + [check_html(r) for r in results]
    if stderr_text:
        parts.append('<div class="tcplab"><p class="dim">Your code wrote this to stderr '
                     f"(kept here, out of the way of grading):</p><pre>{html.escape(stderr_text)}</pre></div>")
    return "\n".join(parts)


def check_html(check: CheckResult) -> str:
    e = html.escape
    result = view(check)  # what a student may see of it
    head = (f'<span class="mark">{result.mark}</span> <strong>{e(result.title)}</strong> '
            f'<span class="dim">[{result.score:g}/{result.max_score:g}]'
            f'{" — hidden check" if result.hidden else ""}'
            f'{"" if result.status in ("passed", "failed") else " — " + e(result.status)}</span>')
    parts = [f'<div class="tcplab {e(result.status)}"><div>{head}</div>']
    if result.hidden:
        if result.status != "passed":
            parts.append('<p class="dim">A hidden check shows only its result: work out from the '
                         "title and the lesson what your code does not handle yet.</p>")
    elif result.status != "passed":
        if result.message:
            parts.append(f"<pre>{e(result.message)}</pre>")
        if result.transcript and not result.message.startswith("not implemented yet"):
            parts.append(f'<p class="dim">What crossed the wire:</p><pre>{e(chr(10).join(result.transcript))}</pre>')
        if result.seed is not None:
            parts.append(f'<p class="dim">Short reads and writes were injected with seed {result.seed}; replay '
                         f'them with <code>grade(..., seed={result.seed})</code>.</p>')
        if result.hint:
            parts.append(f"<p><strong>Hint:</strong> {e(result.hint)}</p>")
    parts.append("</div>")
    return "".join(parts)


def render_text(results: list[CheckResult]) -> str:
    """The same report as plain text, for a kernel without IPython's display."""
    out = []
    for r in map(view, results):
        out.append(f"{r.mark} {r.title} [{r.score:g}/{r.max_score:g}]")
        if r.status != "passed" and not r.hidden:
            out += ["  " + line for line in r.message.splitlines()]
            if r.hint:
                out.append(f"  hint: {r.hint}")
    return "\n".join(out)


def show_html(markup: str) -> None:
    try:
        from IPython.display import HTML, display
    except ImportError:  # plain Python: print a readable summary instead
        print(re.sub(r"<[^>]+>", "", markup))
        return
    display(HTML(markup))


# -- demonstrations -----------------------------------------------------------------------------------
@contextlib.contextmanager
def demo(namespace: Mapping[str, Any] | None = None, *, show: bool = True) -> Iterator[Lab]:
    """A Lab for a lesson's demonstration: reference peers, and `lab.call` on the notebook's functions.

        with demo() as lab:
            peer, sock = lab.connection([Send(b"hello"), Send(b"world")])
            ...

    At the end the peers are stopped and what crossed the wire is shown.
    """
    if namespace is None:
        namespace = sys._getframe(2).f_globals  # the cell's globals (past contextmanager's frame)
    subject = InProcessSubject(namespace)
    lab = Lab(subject)
    try:
        yield lab
    finally:
        with quiet():  # peers winding down are the grader's business, not the lesson's
            lab.close()
            subject.close()
        if show:
            lines = lab.transcript.lines()
            if lines:
                show_html(f'{STYLE}<div class="tcplab"><p class="dim">What crossed the wire:</p>'
                          f"<pre>{html.escape(chr(10).join(lines))}</pre></div>")


def wait_for_bytes(sock: Any, count: int, timeout: float = 2.0) -> int:
    """Waits (polling, at most `timeout` s) until `count` bytes sit unread in `sock`'s receive
    buffer; returns how many do. For demonstrations that want 'everything has arrived' first."""
    from graders.checking.peers import unread_bytes

    deadline = time.monotonic() + timeout
    while (waiting := unread_bytes(sock)) < count and time.monotonic() < deadline:
        time.sleep(0.001)
    return waiting


# -- feedback without hidden tests ------------------------------------------------------------------
def strip_hidden_tests(nb: Any) -> Any:
    """A graded notebook fit for a student: hidden test regions and their tracebacks removed.

    nbgrader's feedback shows grade cells as they ran, hidden tests included (jupyter/nbgrader
    issue #917). Every region between the hidden-test markers is cut out of every cell,
    and a cell that had one keeps only the last line of any error it raised (the grade cell's
    own one-line summary), never the traceback quoting its source.
    """
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        text = "".join(source) if isinstance(source, list) else source
        if BEGIN_HIDDEN not in text:
            continue
        cell["source"] = remove_hidden_regions(text)
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                output["traceback"] = [f"{output.get('ename', 'Error')}: {output.get('evalue', '')}"]
    return nb


def remove_hidden_regions(text: str) -> str:
    kept, hiding = [], False
    for line in text.splitlines():
        marker = line.strip()
        if marker == BEGIN_HIDDEN:
            hiding = True
        elif marker == END_HIDDEN:
            hiding = False
        elif not hiding:
            kept.append(line)
    return "\n".join(kept)
