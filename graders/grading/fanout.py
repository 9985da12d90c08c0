"""Checks side by side: pytest forked into runners, each with its own workers.

Most of a check is waiting — a timeout the student's code must hit, a backoff, an idle peer —
so checks run one after another leave the CPU idle (the solutions: 8 s of checks, 2.5 s of
CPU). `FanOut` takes pytest's run loop: once the checks are collected, and before any
worker has started, it forks `runners` copies of the pytest process and hands them units, one
at a time, over a pipe each. A runner runs a unit's checks with pytest's own run protocol
(fixtures, pytest-timeout's backstop and the Collector's hooks as before) and sends each
check's CheckResult back as JSON; the parent puts them in the order pytest collected them,
so that a run's results do not depend on how many runners it had.

What keeps a verdict the same beside other checks (DESIGN decision 5):
- a runner starts its own worker per stage it grades (graders/engine/subject.py): no two
  checks ever share a worker, a socket or a process at the same time;
- a unit is a check together with every check of its stage that `depends=` on it, run in
  order in one runner, so a dependent check sees the result it waits for;
- what checks measure of the student's code — CPU time, memory, the fds it holds — is the
  worker's own, read from its /proc; other checks running beside it can only make a check's
  deliberate waits pass later, not fail.

Scheduling: a runner stays on the stage it started with (its worker is up, imported); when
that stage has no units left it takes one from the stage with the most waiting left, estimated
from the seconds that stage's finished units took. Fewer stage changes, fewer worker starts.

Why fork, not fresh processes: a fork has pytest imported and the checks collected already,
which is most of what a fresh pytest would spend before its first check.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import statistics
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from graders.checking.declare import Failure, spec_of
from graders.checking.transcript import Event, Transcript
from graders.grading import outcome as outcomes
from graders.report.results import CheckResult, check_from_json

# How long an interrupted run waits for its runners to close their workers, before SIGKILL.
STOP_GRACE = 2.0
# How often the parent looks for a runner that student code stopped (SIGSTOP), and how long
# past the sum of its unit's backstops a runner may take before it is taken for stuck.
WATCH_INTERVAL = 1.0
STUCK_GRACE = 30.0


@dataclass
class Unit:
    """Checks that run together, in this order, in one runner (indexes into session.items)."""

    stage: str
    items: list[int]


def units_of(items: list[pytest.Item], stage_of: Callable[[pytest.Item], str]) -> list[Unit]:
    """Each check alone, except that a check and the checks of its stage that depend on it share a unit."""
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    by_name: dict[tuple[str, str], int] = {}
    for i, item in enumerate(items):
        by_name[(stage_of(item), item.name.removeprefix("test_"))] = i
    for i, item in enumerate(items):
        spec = spec_of(getattr(item, "obj", None))
        for needed in spec.depends if spec is not None else ():
            j = by_name.get((stage_of(item), needed))
            if j is not None:
                parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(len(items)):
        groups.setdefault(root(i), []).append(i)
    return [Unit(stage_of(items[g[0]]), g) for g in sorted(groups.values())]


class Schedule:
    """Which unit a runner takes next (see the module's docstring)."""

    def __init__(self, units: list[Unit]) -> None:
        self.units = units
        self.waiting: dict[str, deque[int]] = {}
        for n, unit in enumerate(units):
            self.waiting.setdefault(unit.stage, deque()).append(n)
        self.spent: dict[str, list[float]] = {stage: [] for stage in self.waiting}

    def first_stages(self, runners: int) -> list[str]:
        """A stage for each runner to start on: every stage one, the rest to the largest."""
        order = sorted(self.waiting, key=lambda s: -len(self.waiting[s]))
        return [order[i % len(order)] for i in range(runners)]

    def take(self, stages: set[str]) -> int | None:
        """The next unit for a runner that has workers for `stages`: of one of those if any is left."""
        left = [s for s, queue in self.waiting.items() if queue]
        if not left:
            return None
        own = [s for s in left if s in stages]
        return self.waiting[max(own or left, key=self.left_in)].popleft()

    def finished(self, unit: int, seconds: float) -> None:
        self.spent[self.units[unit].stage].append(seconds)

    def left_in(self, stage: str) -> float:
        seen = self.spent[stage] or [s for spent in self.spent.values() for s in spent] or [1.0]
        return len(self.waiting[stage]) * statistics.fmean(seen)


@dataclass
class Runner:
    pid: int
    commands: int  # write end: unit numbers, one per line
    results: int  # read end: JSON lines
    stages: set[str] = field(default_factory=set)  # stages it has started a worker for
    unit: int | None = None
    unit_started: float = 0.0
    unit_deadline: float = 0.0
    buffer: bytes = b""
    error: str = ""  # the last line of a grader fault's traceback, if the runner had one
    done: set[int] = field(default_factory=set)  # items of the current unit with results back


class FanOut:
    """The pytest plugin: runs the collected checks in forked runners (see the module's docstring).

    `collector` is the run's graders.grading.plugin.Collector: runners record into their copy
    of it, the parent gets the results and each stage's import report back into this one.
    """

    def __init__(self, collector: Any, runners: int, watchers: list[Any] | None = None) -> None:
        self.collector = collector
        self.runners = runners
        # ProgressReporters (graders/grading/runner.py) of a display: told of each check's
        # start, end and transcript as the runners send them. None: the runners send no events.
        self.watchers = list(watchers or [])
        self.transcripts: dict[int, Transcript] = {}
        self._items: list[pytest.Item] = []
        self._sending = threading.Lock()
        self.out: int | None = None  # in a runner: where its results go
        self.index: dict[str, int] = {}  # nodeid -> its place in session.items

    # -- the parent ---------------------------------------------------------------------------------
    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool | None:
        if session.testsfailed or session.config.option.collectonly:
            return None  # pytest's own loop says what is wrong
        items = list(session.items)
        units = units_of(items, lambda item: self.collector.stage_of(item).id)
        count = min(self.runners, len(units))
        if count <= 1:
            return None
        schedule = Schedule(units)
        self._items = items
        runners: list[Runner] = []
        for _ in range(count):
            runners.append(self._fork(session, items, units, runners))
        results: dict[int, list[CheckResult]] = {}
        try:
            for runner, stage in zip(runners, schedule.first_stages(count), strict=True):
                self._assign(runner, schedule.take({stage}), schedule)
            self._serve(session, items, units, schedule, runners, results)
        finally:
            _stop(runners)
        errors = "; ".join(r.error for r in runners if r.error)
        for i, item in enumerate(items):  # every runner ended before this check's turn
            if i not in results:
                why = RuntimeError(f"no process was left to run this check{': ' + errors if errors else ''}")
                results[i] = [self.collector.result(item, outcomes.set_up_failed(why))]
        for i, item in enumerate(items):
            stage = self.collector.stage_of(item).id
            self.collector.results[stage].extend(results.get(i, []))
        return True

    def _serve(self, session: pytest.Session, items: list[pytest.Item], units: list[Unit],
               schedule: Schedule, runners: list[Runner], results: dict[int, list[CheckResult]]) -> None:
        live = {r.results: r for r in runners}
        while live:
            ready, _, _ = select.select(list(live), [], [], WATCH_INTERVAL)
            for runner in live.values():
                _watch(runner)
            for fd in ready:
                runner = live[fd]
                chunk = os.read(fd, 1 << 16)
                if not chunk:  # the runner is gone
                    del live[fd]
                    self._lost(runner, items, units, results)
                    continue
                runner.buffer += chunk
                *lines, runner.buffer = runner.buffer.split(b"\n")
                for line in lines:
                    message = json.loads(line)
                    if "start" in message:
                        item = items[message["start"]]
                        session.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
                    elif "event" in message:
                        transcript = self.transcripts.get(message["event"])
                        if transcript is not None:
                            transcript.add_event(Event(message["at"], message["who"], message["what"]))
                    elif "transcript" in message:
                        self.transcripts[message["transcript"]] = transcript = Transcript()
                        transcript.started = message["started"]  # the same clock: CLOCK_MONOTONIC is the system's
                        for watcher in self.watchers:
                            watcher.transcript_of(items[message["transcript"]].nodeid, transcript)
                    elif "item" in message:
                        results[message["item"]] = [check_from_json(c) for c in message["results"]]
                        runner.done.add(message["item"])
                        self.transcripts.pop(message["item"], None)
                        item = items[message["item"]]
                        session.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
                    elif "error" in message:
                        runner.error = str(message["error"]).strip().splitlines()[-1]
                    elif "done" in message:
                        self.collector.import_reports.update(message["imports"])
                        schedule.finished(runner.unit, time.monotonic() - runner.unit_started)
                        self._assign(runner, schedule.take(runner.stages), schedule)

    def _assign(self, runner: Runner, unit: int | None, schedule: Schedule) -> None:
        if unit is None:  # nothing left: the runner closes its workers and exits
            runner.unit = None
            os.close(runner.commands)
            runner.commands = -1
            return
        runner.unit, runner.unit_started, runner.done = unit, time.monotonic(), set()
        # Every check of the unit has pytest-timeout's backstop in the runner; a runner past
        # all of them together (and a grace) is stopped or stuck, and is ended by _watch.
        runner.unit_deadline = runner.unit_started + STUCK_GRACE + sum(
            getattr(spec_of(getattr(self._items[i], "obj", None)), "backstop", 0.0) for i in schedule.units[unit].items)
        runner.stages.add(schedule.units[unit].stage)
        try:
            os.write(runner.commands, f"{unit}\n".encode())
        except OSError:
            # The runner is gone (killed, or ended by a Ctrl-C that reached it first): the unit
            # goes back for another runner, and this one's end is seen (and handled) by _serve.
            schedule.waiting[schedule.units[unit].stage].appendleft(unit)
            runner.unit = None

    def _lost(self, runner: Runner, items: list[pytest.Item], units: list[Unit],
              results: dict[int, list[CheckResult]]) -> None:
        """A runner that ended in the middle of a unit: its checks without a result fail or are errors.

        A grader fault in the runner (it said so) is an error. A runner killed by a signal
        failed the student's checks: student code runs as the runner's uid and may signal it,
        freeze it (SIGSTOP: _watch ends it) or take the memory the kernel then reclaims.
        """
        pid, runner.pid = runner.pid, 0  # reaped here, never again (an interrupt may come in between)
        try:
            _, status = os.waitpid(pid, 0)
        except ChildProcessError:
            status = 0
        if runner.unit is None:
            return
        if runner.error or not os.WIFSIGNALED(status):
            outcome = outcomes.set_up_failed(RuntimeError(
                f"the process running this check ended unexpectedly ({runner.error or _exit_words(status)})"))
        else:
            outcome = outcomes.raised(Failure(
                f"the grader's process running this check was {_exit_words(status)} while your code ran: code "
                "that signals or stops other processes, or takes all the memory, ends its own checks",
                hint="Leave other processes alone: no os.kill() of your parent or of other pids, no os.fork() bombs, "
                     "and no memory hoarding."))
        for i in units[runner.unit].items:
            if i not in runner.done:
                results[i] = [self.collector.result(items[i], outcome)]

    def _fork(self, session: pytest.Session, items: list[pytest.Item], units: list[Unit],
              siblings: list[Runner]) -> Runner:
        commands_r, commands_w = os.pipe()
        results_r, results_w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the runner: never returns into the parent's pytest
            code = 1
            try:
                # The parent's ends, its own and its elder siblings': a runner holding a
                # sibling's commands open would keep that sibling from ever seeing their end.
                for fd in [commands_w, results_r, *(f for r in siblings for f in (r.commands, r.results))]:
                    os.close(fd)
                code = self._run(session, items, units, commands_r, results_w)
            finally:
                os._exit(code)
        os.close(commands_r)
        os.close(results_w)
        return Runner(pid, commands_w, results_r)

    # -- a runner --------------------------------------------------------------------------------
    def _run(self, session: pytest.Session, items: list[pytest.Item], units: list[Unit],
             commands: int, out: int) -> int:
        self.out = out
        signal.signal(signal.SIGTERM, _interrupted)
        try:
            with os.fdopen(commands, "rb") as lines:
                for line in lines:
                    unit = units[int(line)]
                    for pos, i in enumerate(unit.items):
                        item = items[i]
                        nextitem = items[unit.items[pos + 1]] if pos + 1 < len(unit.items) else None
                        stage = self.collector.stage_of(item).id
                        before = len(self.collector.results[stage])
                        item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
                        new = self.collector.results[stage][before:]
                        self._send({"item": i, "results": [c.to_json() for c in new]})
                    imports = {sid: subject.import_report for sid, subject in self.collector.subjects.items()}
                    self._send({"done": True, "imports": imports})
            return 0
        except KeyboardInterrupt:
            return 2
        except Exception:  # a grader fault: the parent says so in the checks it leaves without a result
            self._send({"error": traceback.format_exc()[-2000:]})
            return 1
        finally:
            self.collector.close()

    def pytest_runtest_logstart(self, nodeid: str, location: object) -> None:
        if self.out is not None and nodeid in self.index:
            self._send({"start": self.index[nodeid]})

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_call(self, item: pytest.Item) -> None:
        lab = getattr(item, "funcargs", {}).get("lab")
        if self.out is None or not self.watchers or lab is None or item.nodeid not in self.index:
            return
        i = self.index[item.nodeid]
        self._send({"transcript": i, "started": lab.transcript.started})
        lab.transcript.listener = lambda e: self._send({"event": i, "at": e.at, "who": e.who, "what": e.what})

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.index = {item.nodeid: i for i, item in enumerate(session.items)}

    def _send(self, message: dict[str, Any]) -> None:
        data = (json.dumps(message) + "\n").encode()
        with self._sending:  # peers' threads add transcript events too
            while data:
                data = data[os.write(self.out, data):]


def _watch(runner: Runner) -> None:
    """Ends a runner that is stopped (SIGSTOP, from student code of its uid) or past its unit's deadline."""
    if not runner.pid or runner.unit is None:
        return
    if time.monotonic() > runner.unit_deadline or _stopped(runner.pid):
        _signal(runner.pid, signal.SIGKILL)


def _stopped(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state in (b"T", b"t")


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _stop(runners: list[Runner]) -> None:
    """Every runner ended: asked to (SIGTERM: it closes its workers), then told (SIGKILL)."""
    for runner in runners:
        if runner.commands >= 0:
            os.close(runner.commands)
            runner.commands = -1
        if runner.pid and _reaped(runner.pid):
            runner.pid = 0  # it had ended already (a Ctrl-C reaches the runners too): gone for good
        elif runner.pid:
            _signal(runner.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    for runner in runners:
        if runner.pid:
            _wait_until(runner.pid, deadline)
        os.close(runner.results)


def _wait_until(pid: int, deadline: float) -> None:
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    if pidfd is not None:
        try:
            select.select([pidfd], [], [], max(0.0, deadline - time.monotonic()))
        finally:
            os.close(pidfd)
    if not _reaped(pid):
        _signal(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)


def _reaped(pid: int) -> bool:
    """Reaps `pid` if it has ended; True when it has (or was reaped before)."""
    try:
        return os.waitpid(pid, os.WNOHANG) != (0, 0)
    except ChildProcessError:
        return True


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _exit_words(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
