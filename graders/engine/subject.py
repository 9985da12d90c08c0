"""The student's module as a check sees it: call its functions, get results as data.

A `Subject` owns a worker process (graders/engine/worker.py, held through
graders/engine/worker_process.py) for one stage module. `call` runs a
function there and waits; `start` runs one in the background (a server) while the check
drives reference peers, and `WorkerCall.wait` collects it. Whatever happens in the
worker — an exception, a hang, `os._exit`, a crash — comes back as a `CallResult`; after
a timeout or a crash the worker is killed with its process group and the next call gets
a fresh one, the module imported again.
"""

from __future__ import annotations

import fcntl
import itertools
import os
import select
import socket
import time
from pathlib import Path
from typing import Any

from graders.engine import codec, wire, worker_view
from graders.engine.calls import CallResult, show_call
from graders.engine.limits import Limits
from graders.engine.worker_process import Worker, describe_exit


class Subject:
    """The student's module for one stage, running in a worker process."""

    def __init__(self, module_path: Path, module_name: str, limits: Limits | None = None) -> None:
        self.module_path = Path(module_path).absolute()
        self.module_name = module_name
        self.limits = limits or Limits()
        self._worker: Worker | None = None
        self._pending: WorkerCall | None = None
        self._ids = itertools.count(1)
        self._report: dict[str, Any] | None = None

    # -- the module -------------------------------------------------------------
    def prestart(self) -> None:
        """Starts the worker now so that its import overlaps other work."""
        if self.module_path.is_file() and self._worker is None:
            self._worker = Worker(self.module_path, self.module_name, self.limits)

    @property
    def import_report(self) -> dict[str, Any]:
        """{"import": "ok" | "missing" | "syntax" | "error", ...} for the first import."""
        if self._report is None:
            if not self.module_path.is_file():
                self._report = {"import": "missing", "file": str(self.module_path)}
            else:
                self._report = self._live_worker().ready()
        return self._report

    def _live_worker(self) -> Worker:
        if self._worker is None or not self._worker.alive():
            if self._worker is not None:
                self._worker.kill()
            self._worker = Worker(self.module_path, self.module_name, self.limits)
        return self._worker

    # -- calls ------------------------------------------------------------------
    def call(self, func: str, *args: Any, deadline: float = 10.0, **options: Any) -> CallResult:
        """Runs func(*args, **kwargs) in the worker and waits at most `deadline` seconds."""
        return self.start(func, *args, deadline=deadline, **options).wait()

    def start(
        self,
        func: str,
        *args: Any,
        deadline: float = 10.0,
        kwargs: dict[str, Any] | None = None,
        faults: dict[str, int] | None = None,
        no_sendall: bool = False,
        consume: bool = False,
        fresh: bool = False,
        hosts: dict[str, list[str]] | None = None,
        hide: list[str] | None = None,
        environ: dict[str, str] | None = None,
    ) -> WorkerCall:
        """Starts func(*args, **kwargs) in the worker; `.wait()` on the result collects it.

        faults: short recv/send counts (graders.engine.faults); no_sendall: socket arguments without
        sendall; consume: run a returned iterator to its end; fresh: a new worker first (for a
        clean memory baseline); hosts: made-up names for getaddrinfo (graders.engine.resolver); hide:
        socket constants the call runs without, as on a platform that lacks them (graders.engine.socket_names);
        environ: environment variables set while the call runs (graders.engine.call_environment).
        """
        if self._pending is not None and not self._pending.collected:
            raise RuntimeError("a check started a second call before collecting the first")
        shown = show_call(func, args, kwargs or {})
        report = self.import_report
        if report.get("import") != "ok":
            return WorkerCall.finished(CallResult(func, shown, "missing", message=import_problem(report)))
        if fresh and self._worker is not None:
            self._worker.kill()
            self._worker = None
        worker = self._live_worker()
        if worker.ready().get("import") != "ok":
            return WorkerCall.finished(CallResult(func, shown, "missing", message=import_problem(worker.report)))
        socks: list[socket.socket] = []
        request = {
            "op": "call",
            "id": next(self._ids),
            "func": func,
            "args": codec.encode(list(args), socks),
            "kwargs": codec.encode(kwargs or {}, socks),
            "faults": faults,
            "consume": consume,
            "no_sendall": list(range(len(socks))) if no_sendall else [],
            "hosts": hosts,
            "hide": hide,
            "environ": environ,
        }
        before, unseen = worker.look_before(socks, request)
        printed_before = worker.output_size()  # before the request: the call prints once it has it
        try:
            worker.send(request, socks)
        except OSError as exc:
            code = worker.kill()
            return WorkerCall.finished(
                CallResult(func, shown, "crashed", message=f"the worker process was gone ({describe_exit(code)}): {exc}")
            )
        self._pending = WorkerCall(self, worker, func, shown, time.monotonic() + deadline, deadline)
        self._pending.printed_before = printed_before
        self._pending.before, self._pending.unseen, self._pending.args = before, unseen, socks
        return self._pending

    def close(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker.output.close()
            self._worker = None


class WorkerCall:
    """A call running in the worker; `wait()` returns its CallResult (once, then cached)."""

    def __init__(self, subject: Subject | None, worker: Worker | None, func: str, shown: str,
                 deadline_at: float, deadline: float) -> None:
        self.subject, self.worker, self.func, self.shown = subject, worker, func, shown
        self.deadline_at, self.deadline = deadline_at, deadline
        self.result: CallResult | None = None
        self.before: worker_view.Before | None = None  # the worker seen from outside, at the start
        self.unseen = ""  # why the worker could not be seen from outside
        self.args: list[socket.socket] = []  # the grader's own copies of the socket arguments
        self.printed_before = 0  # where this call's output starts in the worker's

    @classmethod
    def finished(cls, result: CallResult) -> WorkerCall:
        call = cls(None, None, result.func, result.shown, 0.0, 0.0)
        call.result = result
        return call

    @property
    def collected(self) -> bool:
        return self.result is not None

    def abandon(self) -> None:
        """Gives up on an uncollected call: its worker is killed, the next call gets a fresh one."""
        if self.result is None and self.worker is not None:
            self.worker.kill()
            self.result = CallResult(self.func, self.shown, "timeout", message=f"{self.shown} was abandoned")

    def done(self) -> bool:
        """True once the call has returned (without collecting it)."""
        if self.result is not None or self.worker is None:
            return True
        ready, _, _ = select.select([self.worker.chan], [], [], 0)
        return bool(ready)

    def runnable(self) -> dict[int, tuple[int, int, int]] | None:
        if self.worker is None or self.result is not None:
            return None
        return worker_view.runnable_ns(self.worker.proc.pid)

    def _printed(self, worker: Worker) -> dict[str, Any]:
        output, cut = worker.printed_since(self.printed_before)
        return {"output": output, "output_cut": cut}

    def wait(self) -> CallResult:
        if self.result is not None:
            return self.result
        assert self.worker is not None
        worker = self.worker
        try:
            reply, fds = worker.receive(self.deadline_at)
        except TimeoutError:
            worker.kill()
            self.result = CallResult(
                self.func, self.shown, "timeout", elapsed=self.deadline,
                **self._printed(worker),
                message=f"{self.shown} did not return within {self.deadline:g} s",
            )
            return self.result
        except (wire.WireClosed, OSError, ValueError) as exc:
            code = worker.kill()
            why = describe_exit(code) if not isinstance(exc, ValueError) else str(exc)
            self.result = CallResult(
                self.func, self.shown, "crashed", **self._printed(worker),
                message=f"the worker process running {self.shown} ended ({why})",
            )
            return self.result
        socks = [socket.socket(fileno=fd) for fd in fds]
        self.result = result_from_reply(self.func, self.shown, reply, socks)
        if self.result.status != "grader-error":
            self.result.output, self.result.output_cut = self._printed(worker).values()
        if self.result.status in ("returned", "raised"):
            worker.look_after(self.result, self.before, self.unseen, socks)
            self.result.arg_timeouts = kernel_checked_timeouts(self.result.arg_timeouts, self.args)
        if reply.get("status") == "grader-error":
            worker.kill()  # its state is not to be trusted: the next call gets a fresh worker
        elif reply.get("status") in ("returned", "raised", "missing"):
            worker.release()
        return self.result


def result_from_reply(func: str, shown: str, reply: dict[str, Any], socks: list[socket.socket]) -> CallResult:
    status = reply.get("status", "crashed")
    if status == "grader-error":  # the worker's own code failed: not the student's doing
        for s in socks:
            s.close()
        return CallResult(func, shown, "grader-error", message=str(reply.get("message", "")))
    if status == "missing":
        for s in socks:
            s.close()
        return CallResult(func, shown, "missing", message=str(reply.get("message", "")))
    error = codec.decode(reply["error"]) if reply.get("error") else None
    after = codec.decode(reply["error_after_items"]) if reply.get("error_after_items") else None
    return CallResult(
        func=func,
        shown=shown,
        status=status,
        value=codec.decode(reply.get("value"), socks),
        error=error if isinstance(error, codec.RemoteError) else None,
        elapsed=float(reply.get("elapsed", 0.0)),
        returned_at=float(reply.get("returned_at", 0.0)),
        leaked=[str(x) for x in reply.get("leaked", [])],
        closed_args=[int(i) for i in reply.get("closed_args", [])],
        arg_timeouts=[t if isinstance(t, (int, float)) else None for t in reply.get("arg_timeouts", [])],
        rss_growth_kb=int(reply.get("rss_growth_kb", 0)),
        threads_left=[str(x) for x in reply.get("threads_left", [])][:50],
        error_after_items=after if isinstance(after, codec.RemoteError) else None,
    )


def kernel_checked_timeouts(reported: list[float | None], args: list[socket.socket]) -> list[float | None]:
    """The worker's word on each argument's timeout, held against what the kernel shows.

    A timeout lives in the socket object, inside the worker; the kernel shows only its
    shadow, the open file's O_NONBLOCK flag (set for any timeout, clear for None), which our
    own copy of the fd shares. Where the two disagree, the kernel's side wins.
    """
    checked: list[float | None] = []
    for i, value in enumerate(reported):
        sock = args[i] if i < len(args) else None
        try:
            blocking = sock is not None and not fcntl.fcntl(sock.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK
        except (OSError, ValueError):
            checked.append(value)
            continue
        if blocking and value is not None:
            value = None
        elif not blocking and value is None:
            value = 0.0  # non-blocking, or some timeout: not None, whatever the worker says
        checked.append(value)
    return checked


def import_problem(report: dict[str, Any]) -> str:
    kind = report.get("import")
    if kind == "missing":
        return f"{report.get('file')} was not found"
    if kind == "syntax":
        text = f"\n    {report.get('text', '').strip()}" if report.get("text") else ""
        return f"syntax error in {report.get('file')}, line {report.get('line')}: {report.get('message')}{text}"
    message = str(report.get("message", "the module could not be imported"))
    if report.get("traceback"):
        message += "\n" + str(report["traceback"]).rstrip()
    return message
