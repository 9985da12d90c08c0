"""The pytest plugin: runs checks against a submission and gathers the results model.

`graders.grading.runner` registers a `Collector` for one submission and runs pytest on the check
files of the chosen stages. Run by hand (`pytest graders/hidden`), the root conftest.py
loads this module, which grades the submission named by $TCPLAB_SUBMISSION (default:
the course's own exercises/).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from graders.checking.declare import CheckSpec, CodeError, spec_of
from graders.checking.lab import Lab
from graders.engine.limits import Limits
from graders.engine.subject import Subject, import_problem
from graders.grading import outcome as outcomes
from graders.grading.outcome import Outcome, result_of
from graders.report.results import CheckResult, StageResult, stage_status
from graders.stages import EXERCISES, HIDDEN, Stage, all_stages


class Collector:
    """Holds one Subject per stage and records each check's outcome as a CheckResult (graders.grading.outcome)."""

    def __init__(self, root: Path, stages: list[Stage] | None = None, seed: int | None = None,
                 limits: Limits | None = None, subjects: dict[str, Subject] | None = None) -> None:
        self.root = Path(root)
        self.stages = {s.id: s for s in (stages or all_stages())}
        self.seed = seed
        self.limits = limits
        self.subjects: dict[str, Subject] = dict(subjects or {})
        self.results: dict[str, list[CheckResult]] = {sid: [] for sid in self.stages}
        self._labs: dict[str, Lab] = {}
        self._started: dict[str, float] = {}
        # Each stage's import report, when the checks ran in other processes (graders/grading/fanout.py).
        self.import_reports: dict[str, dict[str, Any]] = {}
        # False when the checks run in forked runners: a worker started here would be shared by all.
        self.prestart_workers = True

    # -- subjects ----------------------------------------------------------------------------
    def subject(self, stage: Stage) -> Subject:
        if stage.id not in self.subjects:
            self.subjects[stage.id] = Subject(stage.module_path(self.root), stage.module, self.limits)
        return self.subjects[stage.id]

    def stage_results(self) -> list[StageResult]:
        out = []
        for sid, stage in self.stages.items():
            report = self.import_reports.get(sid) or self.subject(stage).import_report
            kind = report.get("import", "error")
            checks = self.results[sid]
            if kind == "missing":  # the student's missing file is a failure, not our error
                for c in checks:
                    if c.status == "error":
                        c.status = "failed"
            problem = "" if kind == "ok" else import_problem(report)
            out.append(StageResult(sid, stage.title, stage_status(kind, checks), checks, problem))
        return out

    def close(self) -> None:
        for subject in self.subjects.values():
            subject.close()

    # -- pytest hooks ----------------------------------------------------------------------------
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        checks = 0
        for item in items:
            spec = spec_of(getattr(item, "obj", None))
            if spec is not None:
                checks += 1
                item.add_marker(pytest.mark.timeout(spec.backstop))
        if checks and self.prestart_workers:  # start every stage's worker now, so that their imports overlap
            for stage in self.stages.values():
                self.subject(stage).prestart()

    @pytest.fixture
    def lab(self, request: pytest.FixtureRequest) -> Any:
        stage = self.stage_of(request.node)
        lab = Lab(self.subject(stage), seed=self.seed, check=request.node.name)
        self._labs[request.node.nodeid] = lab
        try:
            yield lab
        finally:
            lab.close()

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        spec = spec_of(getattr(item, "obj", None))
        if spec is None:
            return
        self._started[item.nodeid] = time.monotonic()
        stage = self.stage_of(item)
        passed = {c.name for c in self.results[stage.id] if c.status == "passed"}
        for needed in spec.depends:
            if needed not in passed:
                pytest.skip(outcomes.needs_message(self._title(stage, needed)))

    @pytest.hookimpl(tryfirst=True)
    def pytest_pyfunc_call(self, pyfuncitem: pytest.Function) -> None:
        """A stage whose module is missing or does not import: each of its checks fails at once with
        what its first call would have said, instead of setting up peers and waits for nothing
        (a submission of stage 01 alone is graded in a second, not in twenty)."""
        if spec_of(getattr(pyfuncitem, "obj", None)) is None:
            return
        report = self.subject(self.stage_of(pyfuncitem)).import_report
        if report.get("import") != "ok":
            raise CodeError(import_problem(report))

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Any:
        wrapped = yield
        report = wrapped.get_result()
        spec = spec_of(getattr(item, "obj", None))
        if spec is None:
            return
        exc = call.excinfo.value if call.excinfo else None
        if report.when == "setup" and report.skipped:
            self._record(item, spec, outcomes.skipped(_skip_reason(report)))
        elif report.when == "setup" and report.failed:
            self._record(item, spec, outcomes.set_up_failed(exc, _where(call)))
        elif report.when == "call":
            if exc is None:
                self._record(item, spec, outcomes.returned())
            elif _is_backstop(call):
                self._record(item, spec, outcomes.ran_past_backstop())
            else:
                self._record(item, spec, outcomes.raised(exc, _where(call)))

    # -- helpers ----------------------------------------------------------------------------------
    def _record(self, item: pytest.Item, spec: CheckSpec, outcome: Outcome) -> None:
        self.results[self.stage_of(item).id].append(self.result(item, outcome))

    def result(self, item: pytest.Item, outcome: Outcome) -> CheckResult:
        """The CheckResult of the check `item` that ended in `outcome`."""
        spec = spec_of(getattr(item, "obj", None))
        assert spec is not None, f"{item.nodeid} is not a check"
        stage = self.stage_of(item)
        started = self._started.get(item.nodeid, time.monotonic())
        return result_of(
            outcome, spec, id=f"{stage.id}.{spec.name}", hidden=HIDDEN in Path(str(item.path)).resolve().parents,
            lab=self._labs.pop(item.nodeid, None), seconds=time.monotonic() - started,
            module_file=f"{stage.id}/{stage.filename}")

    def stage_of(self, item: Any) -> Stage:
        folder = Path(str(item.path)).parent.name
        if folder in self.stages:
            return self.stages[folder]
        for stage in all_stages():
            if stage.id == folder:
                return stage
        raise LookupError(f"{item.path} is not in a stage folder")

    def _title(self, stage: Stage, name: str) -> str:
        for c in self.results[stage.id]:
            if c.name == name:
                return c.title
        return name


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return "skipped"


def _where(call: pytest.CallInfo) -> str:
    """Where the check broke, " (file, line N)", for a grader fault's message."""
    if call.excinfo is not None:
        entries = call.excinfo.traceback
        if entries:
            last = entries[-1]
            return f" ({Path(str(last.path)).name}, line {last.lineno + 1})"
    return ""


def _is_backstop(call: pytest.CallInfo) -> bool:
    """pytest-timeout ends a check with pytest.fail("Timeout (>N s) ...")."""
    exc = call.excinfo.value if call.excinfo else None
    return isinstance(exc, pytest.fail.Exception) and str(exc).lstrip().startswith("Timeout")


# -- when loaded by conftest.py for a plain `pytest graders/hidden` ---------------------------------
def pytest_configure(config: pytest.Config) -> None:
    if not any(isinstance(p, Collector) for p in config.pluginmanager.get_plugins()):
        root = Path(os.environ.get("TCPLAB_SUBMISSION", str(EXERCISES)))
        config.pluginmanager.register(Collector(root), "tcplab-collector")


def pytest_unconfigure(config: pytest.Config) -> None:
    plugin = config.pluginmanager.get_plugin("tcplab-collector")
    if isinstance(plugin, Collector):
        plugin.close()
