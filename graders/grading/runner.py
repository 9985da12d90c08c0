"""Grading one submission: run the chosen stages' checks under pytest, return the results."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path
from typing import TYPE_CHECKING

from graders.engine.limits import Limits
from graders.engine.subject import Subject
from graders.grading.submission import Submission, SubmissionError, open_submission
from graders.report.results import StageResult, SubmissionResult
from graders.stages import COURSE_ROOT, Stage

if TYPE_CHECKING:
    from graders.grading.plugin import Collector

CHECKS_INI = Path(__file__).with_name("checks.ini")


def grade_root(root: Path, stages: list[Stage], *, label: str, hidden: bool = False,
               seed: int | None = None, limits: Limits | None = None) -> SubmissionResult:
    """Grades the stage folders under `root` (laid out like exercises/)."""
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
            run_pytest(files, collector)
        return SubmissionResult(label, collector.stage_results())
    finally:
        collector.close()


def grade_path(path: str | Path, stages: list[Stage], *, hidden: bool = False,
               seed: int | None = None, label: str | None = None) -> SubmissionResult:
    """Grades a submission as given by a user: a directory or a .zip (see graders.grading.submission)."""
    try:
        submission: Submission = open_submission(path, label)
    except SubmissionError as exc:
        return SubmissionResult(label or str(path), [
            StageResult(s.id, s.title, "missing", [], str(exc)) for s in stages
        ], problem=str(exc))
    try:
        return grade_root(submission.root, stages, label=submission.label, hidden=hidden, seed=seed)
    finally:
        submission.cleanup()


def run_pytest(files: list[str], collector: Collector) -> int:
    import pytest

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
    with contextlib.redirect_stdout(sink), _quiet_env():
        return pytest.main(args, plugins=[collector])


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
