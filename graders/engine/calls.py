"""A call into the student's code, as both subjects give it to a check.

Two subjects run student code: graders.engine.subject.Subject (in a worker process, for
`tcplab check` and grading) and graders.engine.inprocess.InProcessSubject (in the notebook's
own kernel). A check cannot tell them apart: both `start` a call with the same options and
hand back a pending call with the same four members, whose `wait()` gives a CallResult.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from typing import Any, Protocol

from graders.engine import codec


@dataclass
class CallResult:
    """What one call into the student's code did."""

    func: str
    shown: str  # the call as a student would write it, for messages
    status: str  # returned | raised | timeout | crashed | missing | grader-error (the engine's own fault)
    value: Any = None
    error: codec.RemoteError | None = None
    elapsed: float = 0.0
    # When the call returned or raised, on time.monotonic()'s clock, which on Linux every process
    # shares: a check can hold it against moments of its own ("not before the last client left").
    returned_at: float = 0.0
    leaked: list[str] = field(default_factory=list)
    closed_args: list[int] = field(default_factory=list)
    arg_timeouts: list[float | None] = field(default_factory=list)  # of socket arguments, after the call
    rss_growth_kb: int = 0
    cpu_seconds: float = 0.0  # user + system, every thread, from /proc (0 where there is none)
    # Threads the call started that were still alive a moment after it returned, each with
    # where it is ("Thread-3 (handle), at concurrency.py:57 in handle(): data = conn.recv(4096)").
    threads_left: list[str] = field(default_factory=list)
    unseen: str = ""  # why what the call left (fds, memory) could not be read: a failure
    error_after_items: codec.RemoteError | None = None
    output: str = ""  # what the call printed (stdout and stderr): its last bytes (worker_process.PRINTED_LIMIT)
    output_cut: int = 0  # bytes printed before `output`, cut
    message: str = ""


class PendingCall(Protocol):
    """A call started and not yet collected."""

    @property
    def collected(self) -> bool:
        """Whether wait() has given the result already."""

    def done(self) -> bool:
        """True once the call has returned (without collecting it)."""

    def wait(self) -> CallResult:
        """The call's result: waits for it up to the call's deadline (once, then cached)."""

    def abandon(self) -> None:
        """Gives up on an uncollected call (a check that ended before collecting it)."""

    def runnable(self) -> dict[int, tuple[int, int, int]] | None:
        """The call's threads so far: thread id -> (nanoseconds spent on a CPU or waiting for one,
        times put on a CPU, nanoseconds of those on a CPU) (see graders.engine.worker_view.runnable_ns);
        None where this system does not say."""


class StudentCode(Protocol):
    """What a check calls: the student's module, in a worker or in-process."""

    def call(self, func: str, *args: Any, deadline: float = 10.0, **options: Any) -> CallResult: ...

    def start(self, func: str, *args: Any, deadline: float = 10.0, kwargs: dict[str, Any] | None = None,
              faults: dict[str, int] | None = None, no_sendall: bool = False, consume: bool = False,
              fresh: bool = False, hosts: dict[str, list[str]] | None = None,
              hide: list[str] | None = None, environ: dict[str, str] | None = None) -> PendingCall: ...

    def close(self) -> None: ...


def show_call(func: str, args: tuple, kwargs: dict[str, Any]) -> str:
    def show(v: Any) -> str:
        if isinstance(v, socket.socket):
            return "sock"
        if isinstance(v, (bytes, bytearray)) and len(v) > 24:
            return f"<{len(v)} bytes>"
        text = repr(v)
        return text if len(text) <= 40 else text[:37] + "..."

    parts = [show(a) for a in args] + [f"{k}={show(v)}" for k, v in kwargs.items()]
    return f"{func}({', '.join(parts)})"
