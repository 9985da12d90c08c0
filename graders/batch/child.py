"""A grading child: grades one private copy of one submission and prints its results as JSON.

    python -m graders.batch.child --root COPY --label LABEL [--stage S]... [--seed N] < PLAN.json

The plan (graders/batch/lockdown.py's Lockdown, and RLIMIT_NPROC for the workers) comes on
stdin, not on the command line: /proc/<pid>/cmdline is readable by every process, and
the plan names the paths it hides, the gradebook among them.

Started by the coordinator (graders/batch/coordinator.py), usually as pid 1 of its own namespaces.
It locks itself down (graders/batch/lockdown.py) — the walls go up after pytest has collected
every check and before any student module is imported — then grades, then writes one
JSON document to the stdout it was given: {"result": <the JSON contract of one
submission>, "sandbox": {"applied": [...], "failed": [...]}} or {"error": "..."}. Both ends of
that document live here: the coordinator reads it back with `parse_output`.

Why the saved stdout: fd 1 is pointed at /dev/null at once, so that nothing else in this
process — pytest, a check, a C library — can put bytes where the result goes. Student
code runs in workers, whose output goes to their own files, and which cannot reach this
process's fds: it is non-dumpable, so code of the same uid can neither open its /proc
entries nor ptrace it.
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from graders.batch import lockdown
from graders.batch.lockdown import Lockdown, Report
from graders.batch.processes import kill_descendants
from graders.engine.limits import Limits
from graders.grading.plugin import Collector
from graders.grading.runner import run_pytest
from graders.report.results import SubmissionResult
from graders.stages import Stage, select_stages


class LockingCollector(Collector):
    """The plugin's Collector, raising the walls between collection and the first worker."""

    def __init__(self, *args: Any, plan: Lockdown, report: Report, parent_pipe: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plan, self.report, self.locked, self.parent_pipe = plan, report, False, parent_pipe

    def lock(self) -> None:
        if not self.locked:
            self.locked = True
            lockdown.after_collection(self.plan, self.report, self.parent_pipe)
            if self.plan.pidns:
                # As pid 1 of its namespace this process gets only the signals it handles;
                # faulthandler's SIGSEGV handler re-raises, so student code could end it.
                faulthandler.disable()

    def pytest_collection_modifyitems(self, items: list) -> None:
        self.lock()  # every check module is imported by now; no worker has started yet
        super().pytest_collection_modifyitems(items)

    @pytest.hookimpl(hookwrapper=True, optionalhook=True)
    def pytest_timeout_set_timer(self, item: Any, settings: Any) -> Any:
        yield
        handler = signal.getsignal(signal.SIGALRM)
        if callable(handler):
            signal.signal(signal.SIGALRM, only_when_due(handler))


def only_when_due(handler: Callable[[int, Any], Any]) -> Callable[[int, Any], Any]:
    """pytest-timeout's SIGALRM handler, deaf to alarms the timer did not ring.

    Why: student code runs as our uid and may send us SIGALRM; a real timeout comes when
    the interval timer has run out, a forged one while it still has time left.
    """

    def guarded(signum: int, frame: Any) -> Any:
        if signal.getitimer(signal.ITIMER_REAL)[0] > 0:
            return None
        return handler(signum, frame)

    return guarded


def grade(root: Path, label: str, stages: list[Stage], *, seed: int | None, plan: Lockdown,
          report: Report, nproc: int | None, parent_pipe: int | None = None, runners: int = 1) -> SubmissionResult:
    collector = LockingCollector(root, stages, seed=seed, limits=Limits(processes=nproc), plan=plan, report=report,
                                 parent_pipe=parent_pipe)
    files = [str(f) for stage in stages for f in stage.check_files(True)]
    try:
        if files:
            run_pytest(files, collector, runners=runners)
        collector.lock()  # no checks at all: the import reports below still run student code
        return SubmissionResult(label, collector.stage_results())
    finally:
        collector.close()


def main(argv: list[str] | None = None) -> int:
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    # A student's worker may signal us (same uid); an interrupt must not end a grading.
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    parser = argparse.ArgumentParser(prog="python -m graders.batch.child")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--label", required=True)
    parser.add_argument("--stage", action="append", dest="stages")
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)

    plan, report = Lockdown(), Report()
    try:
        given = json.loads(sys.stdin.read() or "{}")
        plan = Lockdown.from_json(given.get("plan", {}))
        lockdown.early(plan, report)
        result = grade(args.root, args.label, select_stages(args.stages), seed=args.seed, plan=plan,
                       report=report, nproc=given.get("nproc"), parent_pipe=out.fileno(),
                       runners=int(given.get("runners") or 1))
        document: dict[str, Any] = {"result": result.to_json(),
                                    "sandbox": {"applied": report.applied, "failed": report.failed}}
    except Exception as exc:  # a grader fault: say it, never leave the coordinator guessing
        document = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()[-4000:]}
    finally:
        if not plan.pidns:
            kill_descendants()
    out.write(json.dumps(document))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
