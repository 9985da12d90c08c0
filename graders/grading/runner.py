"""Grading one submission: run the chosen stages' checks under pytest, return the results."""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graders.engine.limits import Limits
from graders.engine.subject import Subject
from graders.grading.submission import Submission, SubmissionError, open_submission
from graders.report.results import StageResult, SubmissionResult
from graders.stages import COURSE_ROOT, Stage

if TYPE_CHECKING:
    from graders.checking.transcript import Transcript
    from graders.grading.plugin import Collector

CHECKS_INI = Path(__file__).with_name("checks.ini")


def grade_root(root: Path, stages: list[Stage], *, label: str, hidden: bool = False,
               seed: int | None = None, limits: Limits | None = None,
               progress: Callable[[Running], None] | None = None, runners: int | None = None) -> SubmissionResult:
    """Grades the stage folders under `root` (laid out like exercises/).

    `progress`, when given, is told of each check as it starts (see `Running`, below).
    `runners`: how many checks run side by side (graders/grading/fanout.py; default: from the cores).
    """
    from graders.grading.capacity import default_runners

    runners = default_runners() if runners is None else runners
    subjects = {}
    if runners <= 1:
        # Start the workers before pytest is even imported: their imports of the student
        # modules then overlap pytest's start-up instead of following it.
        subjects = {s.id: Subject(s.module_path(root), s.module, limits) for s in stages}
        for subject in subjects.values():
            subject.prestart()
    from graders.grading.plugin import Collector

    collector = Collector(root, stages, seed=seed, limits=limits, subjects=subjects)
    files = [str(f) for stage in stages for f in stage.check_files(hidden)]
    try:
        if files:
            run_pytest(files, collector, [] if progress is None else [ProgressReporter(progress)], runners=runners)
        return SubmissionResult(label, collector.stage_results())
    finally:
        collector.close()


def grade_path(path: str | Path, stages: list[Stage], *, hidden: bool = False,
               seed: int | None = None, label: str | None = None, runners: int | None = None) -> SubmissionResult:
    """Grades a submission as given by a user: a directory or a .zip (see graders.grading.submission)."""
    try:
        submission: Submission = open_submission(path, label)
    except SubmissionError as exc:
        return SubmissionResult(label or str(path), [
            StageResult(s.id, s.title, "missing", [], str(exc)) for s in stages
        ], problem=str(exc))
    try:
        return grade_root(submission.root, stages, label=submission.label, hidden=hidden, seed=seed, runners=runners)
    finally:
        submission.cleanup()


def run_pytest(files: list[str], collector: Collector, others: Sequence[object] = (), *, runners: int = 1) -> int:
    """Runs the checks in `files` for `collector`; `runners` > 1 runs them side by side (graders/grading/fanout.py)."""
    import pytest

    plugins: list[object] = [collector, *others]
    if runners > 1:
        from graders.grading.fanout import FanOut

        collector.prestart_workers = False
        plugins.append(FanOut(collector, runners, [p for p in others if isinstance(p, ProgressReporter)]))

    args = [
        *files,
        "-c", str(CHECKS_INI),
        "--rootdir", str(COURSE_ROOT),
        # The terminal reporter stays (pytest-timeout needs it) but writes into a sink below.
        "-q", "--no-header", "--capture=no", "--assert=plain",
        "-p", "no:warnings",
        # Only the plugins checks need: other installed plugins (anyio, ...) cost start-up
        # time and could change how checks run.
        "-p", "pytest_timeout",
    ]
    # pytest and the checks print nothing a student should see; a grader bug shows in results.
    sink = io.StringIO()
    interrupt = _Interrupt()
    with contextlib.redirect_stdout(sink), _quiet_env():
        code = pytest.main(args, plugins=[*plugins, interrupt])
    if interrupt.seen:  # pytest keeps Ctrl-C to itself; the caller must not take half a run for results
        raise KeyboardInterrupt
    return code


class _Interrupt:
    """A pytest plugin that notes a Ctrl-C (pytest ends the run and returns, as after a collection error)."""

    seen = False

    def pytest_keyboard_interrupt(self, excinfo: object) -> None:
        self.seen = True


@contextlib.contextmanager
def _quiet_env():
    saved = {k: os.environ.get(k) for k in ("PYTEST_ADDOPTS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD")}
    os.environ.pop("PYTEST_ADDOPTS", None)
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# -- progress: which check is running, for a display (graders/cli/progress.py) --------------------------
# Apart from the Collector on purpose: it records results, this only watches them go by, and a
# run without a display never loads it.
@dataclass
class Running:
    """The check now running. A display reads it from its own thread while the check runs."""

    stage: str  # "04_send_recv"
    title: str  # the check's docstring line
    number: int  # 1 for the first check of the run
    total: int  # checks in the run
    started: float  # time.monotonic() when its set-up began
    transcript: Transcript | None = None  # the check's lab's, once the check is called

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started


class ProgressReporter:
    """A pytest plugin that hands `progress` a `Running` as each check starts.

    When checks run side by side (graders/grading/fanout.py), `progress` is also told, as a
    check finishes, of the check that has been running longest among those left: the one the
    run is waiting for.
    """

    def __init__(self, progress: Callable[[Running], None]) -> None:
        self.progress = progress
        self.items: dict[str, Any] = {}
        self.checks: list[str] = []
        self.running: Running | None = None
        self.now_running: dict[str, Running] = {}

    def pytest_collection_modifyitems(self, items: list[Any]) -> None:
        from graders.checking.declare import spec_of

        self.items = {item.nodeid: item for item in items}
        self.checks = [item.nodeid for item in items if spec_of(getattr(item, "obj", None)) is not None]

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        from graders.checking.declare import spec_of

        item = self.items.get(nodeid)
        spec = spec_of(getattr(item, "obj", None))
        if item is None or spec is None:
            return
        self.running = Running(Path(str(item.path)).parent.name, spec.title, self.checks.index(nodeid) + 1,
                               len(self.checks), time.monotonic())
        self.now_running[nodeid] = self.running
        self._tell(self.running)

    def pytest_runtest_logfinish(self, nodeid: str, location: object) -> None:
        self.now_running.pop(nodeid, None)
        if self.now_running:
            self._tell(min(self.now_running.values(), key=lambda r: r.started))

    def pytest_runtest_call(self, item: Any) -> None:
        # Called just before the check itself: its `lab` fixture exists by now.
        lab = getattr(item, "funcargs", {}).get("lab")
        if lab is not None:
            self.transcript_of(item.nodeid, getattr(lab, "transcript", None))

    def transcript_of(self, nodeid: str, transcript: Transcript | None) -> None:
        running = self.now_running.get(nodeid)
        if running is not None:
            running.transcript = transcript

    def _tell(self, running: Running) -> None:
        with contextlib.suppress(Exception):  # a display that breaks must never change a verdict
            self.progress(running)
