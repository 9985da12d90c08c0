"""The student's functions run inside this process: the subject a notebook's grade cells use.

In a notebook the student's code lives in the kernel, so a grade cell cannot hand it to
a worker process. `InProcessSubject` gives checks the interface of graders.engine.subject.Subject
(`start`, `call`, a pending call with `wait()` and `done()`, a `CallResult`) and mirrors
what the worker (graders/engine/worker.py) reports:

- a call runs in a daemon thread with a deadline. On a timeout the sockets handed to it
  and the sockets it made are shut down, so that a blocked accept/recv/send returns, and
  the thread is told to stop (an exception raised in it at its next bytecode);
- sockets handed to the student are dups, as the worker's fds are: the grader keeps its
  own copy, so the student closing theirs does not end the connection, and
  `closed_args` says which ones the student closed;
- faults (short recv/send counts) and no_sendall work as in the worker; faults reach the
  student's threads only, never the grader's peers running in the same process;
- `leaked`: sockets made by the student's threads during the call and still open after
  it, and 'unclosed' ResourceWarnings (a socket or file dropped without close());
- `rss_growth_kb`: the peak of what the student's code allocated during the call
  (tracemalloc, sampled, the grader's own frames left out: its peers share the process);
- values come back as they are, except that bytes-like values become bytes and
  exceptions become RemoteErrors, as the worker's codec would make them, so that a check
  judges a function the same way in a notebook and in `tcplab check`.

What cannot be mirrored: code that ends the process (os._exit) ends the kernel, and a
thread stuck inside C code (time.sleep(1000)) can only be left behind, not stopped.
Rule: nothing here writes to stderr (nbgrader scores a grade cell that does as 0).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from graders.engine import (
    call_environment,
    codec,
    coroutines,
    resolver,
    socket_names,
    threads_left,
    tls_view,
    worker_view,
)
from graders.engine import faults as fault_injection
from graders.engine.calls import CallResult, show_call
from graders.engine.student_threads import (
    REAL_THREAD_START,
    Abandoned,
    CallWatch,
    MemoryWatch,
    activate,
    deactivate,
    describe_leak,
    is_student_thread,  # noqa: F401  (graders.notebook.quiet uses it from here)
    is_students_warning,
)
from graders.engine.worker import student_traceback

# Why 0.5 s: after a timeout the call's sockets are shut down and the thread is told to
# stop, and it usually ends within milliseconds; a thread that does not (stuck in C code)
# would not end if we waited longer either, so the check goes on without it.
ABANDON_GRACE = 0.5
# The worker's limit on how many items `consume` collects (graders/engine/worker.py).
CONSUME_LIMIT = 10000
# Why 100: deep enough for any value a stage returns; a self-referencing structure stops here.
MAX_DEPTH = 100

# -- values across the boundary ---------------------------------------------------------------
def _hand_over(value: Any, socks: list[socket.socket], no_sendall: bool, depth: int = 0) -> Any:
    """An argument as the worker would receive it: sockets dup'ed, containers copied, bytes as bytes.

    Sockets are collected into `socks` in the codec's order (args, then kwargs, depth first),
    so that the indices in `closed_args` mean what they mean for the worker.
    """
    if isinstance(value, socket.socket):
        dup = _dup(value, no_sendall)
        socks.append(dup)
        return dup
    if depth > MAX_DEPTH:
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, list):
        return [_hand_over(v, socks, no_sendall, depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(_hand_over(v, socks, no_sendall, depth + 1) for v in value)
    if isinstance(value, dict):
        return {k: _hand_over(v, socks, no_sendall, depth + 1) for k, v in value.items()}
    return value


def _dup(sock: socket.socket, no_sendall: bool) -> socket.socket:
    """The student's own handle on the grader's socket: same connection, separate fd."""
    cls = fault_injection.NoSendallSocket if no_sendall else socket.socket
    dup = cls(sock.family, sock.type, sock.proto, fileno=os.dup(sock.fileno()))
    dup.settimeout(sock.gettimeout())  # the timeout lives in the Python object, not the fd
    return dup


def _as_returned(value: Any, depth: int = 0) -> Any:
    """A returned value as the grader would decode it from the worker."""
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, BaseException):
        return remote_error(value, traceback_from_student=False)
    if tls_view.is_context(value):  # the worker's codec can only send a description: so here too
        return tls_view.view(value)
    if depth > MAX_DEPTH:
        return value
    if isinstance(value, list):
        return [_as_returned(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(_as_returned(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return {k: _as_returned(v, depth + 1) for k, v in value.items()}
    return value


def _sockets_in(value: Any, found: dict[int, socket.socket], depth: int = 0) -> dict[int, socket.socket]:
    if isinstance(value, socket.socket):
        found[id(value)] = value
    elif depth <= MAX_DEPTH and isinstance(value, (list, tuple)):
        for v in value:
            _sockets_in(v, found, depth + 1)
    elif depth <= MAX_DEPTH and isinstance(value, dict):
        for v in value.values():
            _sockets_in(v, found, depth + 1)
    return found


def remote_error(exc: BaseException, *, traceback_from_student: bool = True) -> codec.RemoteError:
    """An exception as a check sees it from the worker: a RemoteError with the student's frames."""
    data = codec.describe_exception(exc)
    if traceback_from_student:
        data["traceback"] = student_traceback(exc, None)
    error = codec.decode({"$exc": data})
    assert isinstance(error, codec.RemoteError)
    return error


def _exit_error(exc: SystemExit) -> codec.RemoteError:
    return codec.RemoteError("SystemExit", ["SystemExit", "BaseException"],
                             f"your code called sys.exit({exc.code!r})")


# -- the subject ----------------------------------------------------------------------------
class InProcessSubject:
    """The functions in `namespace` (a notebook's globals), called as a check calls a worker."""

    def __init__(self, namespace: Mapping[str, Any], *, where: str = "the notebook") -> None:
        self.namespace = namespace
        self.where = where
        self._pending: InProcessCall | None = None

    def call(self, func: str, *args: Any, deadline: float = 10.0, **options: Any) -> CallResult:
        """Runs func(*args, **kwargs) and waits at most `deadline` seconds."""
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
    ) -> InProcessCall:
        """Starts func(*args, **kwargs) in a thread; `.wait()` on the result collects it.

        The options mean what they mean for graders.engine.subject.Subject.start; `hosts` (made-up
        names for getaddrinfo) applies to the student's threads only; `hide` (socket constants
        removed) and `environ` (variables set) to the whole process while the call runs: the grader's
        peers use none of them.
        """
        if self._pending is not None and not self._pending.collected:
            raise RuntimeError("a check started a second call before collecting the first")
        kwargs = kwargs or {}
        shown = show_call(func, args, kwargs)
        target = self.namespace.get(func)
        if not callable(target):
            return InProcessCall.finished(CallResult(
                func, shown, "missing",
                message=f"{self.where} defines no function {func}(): write it in the answer cell and run that cell",
            ))
        if fresh:
            # A worker would be new: the nearest thing here is a heap with no garbage in it.
            gc.collect()
        socks: list[socket.socket] = []
        call_args = _hand_over(list(args), socks, no_sendall)
        call_kwargs = _hand_over(dict(kwargs), socks, no_sendall)
        self._pending = InProcessCall(func, shown, deadline)
        self._pending.begin(target, call_args, call_kwargs, socks, faults, consume, hosts, hide, environ)
        return self._pending

    def close(self) -> None:
        """Ends a call the check never collected (a server left running when a check failed)."""
        pending = self._pending
        if pending is not None and not pending.collected:
            pending.abandon()


class InProcessCall:
    """A call running in a thread; `wait()` returns its CallResult (once, then cached)."""

    def __init__(self, func: str, shown: str, deadline: float) -> None:
        self.func, self.shown, self.deadline = func, shown, deadline
        self.result: CallResult | None = None
        self._finished = threading.Event()
        self._thread: threading.Thread | None = None
        self._watch = CallWatch()
        self._memory = MemoryWatch()
        self._warnings: warnings.catch_warnings | None = None
        self._faults = False
        self._hosts = False
        self._socks: list[socket.socket] = []
        self._outcome: dict[str, Any] = {}
        self._deadline_at = 0.0
        self._target: Any = None
        self._hidden: dict[str, Any] = {}
        self._environ: dict[str, str | None] = {}

    @classmethod
    def finished(cls, result: CallResult) -> InProcessCall:
        call = cls(result.func, result.shown, 0.0)
        call.result = result
        return call

    @property
    def collected(self) -> bool:
        return self.result is not None

    def done(self) -> bool:
        """True once the call has returned (without collecting it)."""
        return self.result is not None or self._finished.is_set()

    def runnable(self) -> dict[int, tuple[int, int, int]] | None:
        """The student's threads only: the grader's peers run in this process too."""
        if self.result is not None:
            return None
        every = worker_view.runnable_ns(os.getpid())
        if every is None:
            return None
        mine = {t.native_id for t in list(self._watch.threads) if t.native_id is not None}
        return {tid: ns for tid, ns in every.items() if tid in mine}

    # -- running ------------------------------------------------------------------------------
    def begin(self, target: Callable[..., Any], args: list[Any], kwargs: dict[str, Any],
              socks: list[socket.socket], faults: dict[str, int] | None, consume: bool,
              hosts: dict[str, list[str]] | None = None, hide: list[str] | None = None,
              environ: dict[str, str] | None = None) -> None:
        self._socks = socks
        self._target = target
        thread = threading.Thread(target=self._run, args=(target, args, kwargs, consume),
                                  name=f"student: {self.shown}", daemon=True)
        self._thread = thread
        self._watch.adopt(thread)
        self._capture_warnings()
        activate(self._watch)
        if faults:
            fault_injection.install(faults["seed"], faults.get("max_recv"), faults.get("max_send"),
                                    applies_to=self._watch.owns_current_thread)
            self._faults = True
        if hosts:
            self._install_hosts(hosts)
        self._hidden = socket_names.hide(hide or [])
        self._environ = call_environment.apply(environ)
        self._memory.start()
        self._deadline_at = time.monotonic() + self.deadline
        REAL_THREAD_START(thread)

    def _run(self, target: Callable[..., Any], args: list[Any], kwargs: dict[str, Any], consume: bool) -> None:
        outcome = self._outcome
        started = time.monotonic()
        try:
            try:
                value = target(*args, **kwargs)
                if coroutines.is_coroutine(value):  # an `async def`: on a loop of its own, in this thread
                    value = coroutines.run(value)
                if consume:
                    value = self._consume(value)
                outcome["status"], outcome["value"] = "returned", value
            except Abandoned:
                return
            except SystemExit as exc:
                outcome["status"], outcome["error"] = "raised", _exit_error(exc)
            except BaseException as exc:  # anything the student's code raises is a result
                outcome["status"], outcome["error"] = "raised", remote_error(exc)
            outcome["returned_at"] = time.monotonic()
            outcome["elapsed"] = outcome["returned_at"] - started
            self._finished.set()
        except BaseException:  # an Abandoned arriving late: nobody is waiting for this thread
            pass
        finally:
            args.clear()
            kwargs.clear()

    def _consume(self, value: Any) -> list[Any]:
        items: list[Any] = []
        try:
            for item in value:
                items.append(item)
                if len(items) >= CONSUME_LIMIT:
                    break
        except Abandoned:
            raise
        except BaseException as exc:
            self._outcome["error_after_items"] = remote_error(exc, traceback_from_student=False)
        return items

    def _install_hosts(self, hosts: dict[str, list[str]]) -> None:
        """The made-up names resolve for the student's threads; the grader's see the real resolver."""
        real = socket.getaddrinfo
        resolver.install(hosts)
        made_up = socket.getaddrinfo
        owns = self._watch.owns_current_thread

        def getaddrinfo(*args: Any, **kwargs: Any) -> Any:
            return (made_up if owns() else real)(*args, **kwargs)

        socket.getaddrinfo = getaddrinfo
        self._hosts = True

    def _capture_warnings(self) -> None:
        """'unclosed socket' ResourceWarnings are leaks: make them visible, and keep them."""
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("always", ResourceWarning)
        previous = warnings.showwarning
        watch = self._watch

        def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
            if issubclass(category, ResourceWarning):
                text = str(message)
                if "unclosed" in text and is_students_warning(text, watch.student_fds()):
                    watch.unclosed.append(text)
                return None
            return previous(message, category, filename, lineno, file, line)

        warnings.showwarning = show

    # -- collecting ---------------------------------------------------------------------------
    def wait(self) -> CallResult:
        if self.result is not None:
            return self.result
        remaining = self._deadline_at - time.monotonic()
        if not self._finished.wait(max(0.0, remaining)):
            self._abandon()
            errors = self._watch.thread_errors
            self.result = CallResult(
                self.func, self.shown, "timeout", elapsed=self.deadline, output="".join(errors),
                message=f"{self.shown} did not return within {self.deadline:g} s",
            )
            return self.result
        assert self._thread is not None
        self._thread.join(1.0)
        student_file = getattr(self._target, "__code__", None)
        left = threads_left.left_after([t for t in list(self._watch.threads) if t is not self._thread],
                                       student_file.co_filename if student_file else None)
        outcome = self._outcome
        raw = outcome.pop("value", None)
        returned = _sockets_in(raw, {})
        value = _as_returned(raw)
        del raw
        rss_growth_kb = self._memory.stop()
        # Garbage first: a socket dropped without close() is reported by its ResourceWarning,
        # which its collection emits (the worker does the same after every call).
        gc.collect()
        leaked = [describe_leak(s) for s in self._watch.live_sockets() if id(s) not in returned]
        leaked += self._watch.unclosed
        closed_args = [i for i, s in enumerate(self._socks) if s.fileno() == -1]
        # The student's own socket objects hold the timeouts (as the worker's do).
        arg_timeouts = [s.gettimeout() if s.fileno() != -1 else None for s in self._socks]
        self._teardown(keep=returned)
        self.result = CallResult(
            func=self.func,
            shown=self.shown,
            status=outcome.get("status", "raised"),
            value=value,
            error=outcome.get("error"),
            elapsed=float(outcome.get("elapsed", 0.0)),
            returned_at=float(outcome.get("returned_at", 0.0)),
            leaked=leaked,
            closed_args=closed_args,
            arg_timeouts=arg_timeouts,
            rss_growth_kb=rss_growth_kb,
            threads_left=left,
            error_after_items=outcome.get("error_after_items"),
            output="".join(self._watch.thread_errors),
        )
        return self.result

    def abandon(self) -> None:
        """Collects the call now: its result if it has returned, else it is abandoned."""
        self._deadline_at = min(self._deadline_at, time.monotonic())
        self.wait()

    def _abandon(self) -> None:
        """The deadline passed: unblock the thread, tell it to stop, and go on without it."""
        for sock in [*self._socks, *self._watch.live_sockets()]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        thread = self._thread
        if thread is not None and thread.is_alive() and thread.ident is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(Abandoned))
            thread.join(ABANDON_GRACE)
        self._memory.stop(sample=False)
        self._teardown(keep={})
        for sock in self._watch.live_sockets():
            with contextlib.suppress(OSError):
                sock.close()

    def _teardown(self, keep: dict[int, socket.socket]) -> None:
        if self._faults:
            fault_injection.uninstall()
            self._faults = False
        if self._hosts:
            resolver.uninstall()
            self._hosts = False
        socket_names.restore(self._hidden)
        self._hidden = {}
        call_environment.restore(self._environ)
        self._environ = {}
        deactivate(self._watch)
        if self._warnings is not None:
            self._warnings.__exit__(None, None, None)
            self._warnings = None
        for sock in self._socks:
            if id(sock) not in keep:
                sock.close()
