"""Seeded fault injection: make recv, recv_into and send return legal short counts.

On loopback a whole `send` nearly always arrives in one `recv`, so code that takes one
recv for one message passes there and fails on a real network. While a call runs with
faults on, every `recv(n)` asks the kernel for at most a small random number of bytes
and every `send(data)` passes the kernel only a short prefix: both are behaviours that
TCP allows at any time. Code that loops is unaffected; code that does not fails every
time, whatever the seed (the seed only moves the split points, and is printed so a
failure can be replayed). Without --seed, a check's seed comes from its name, so the
same code meets the same split points, and gets the same verdict, on every run.

Only the `socket.socket` class is patched, and only while a call runs, so it covers the
student's own sockets, accepted sockets and `makefile()` readers alike.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Callable
from typing import Any

_real = {
    "recv": socket.socket.recv,
    "recv_into": socket.socket.recv_into,
    "send": socket.socket.send,
}


def install(seed: int, max_recv: int | None, max_send: int | None, only_thread: Any = None,
            applies_to: Callable[[], bool] | None = None) -> None:
    """Patches socket.socket; `only_thread` limits the faults to one thread (in-process use).

    `applies_to`, when given, decides per call instead: the in-process subject passes "is
    this one of the student's threads", so that a student's server threads get the faults
    (as every thread of a worker does) while the grader's peers in the same process don't.
    """
    rng = random.Random(seed)
    import threading

    def applies() -> bool:
        if applies_to is not None:
            return applies_to()
        return only_thread is None or threading.current_thread() is only_thread

    def cap(n: int, limit: int) -> int:
        return max(1, min(n, rng.randint(1, limit)))

    if max_recv:

        def recv(self: socket.socket, bufsize: int, flags: int = 0) -> bytes:
            if bufsize > 1 and applies() and not flags:
                bufsize = cap(bufsize, max_recv)
            return _real["recv"](self, bufsize, flags)

        def recv_into(self: socket.socket, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
            size = nbytes or memoryview(buffer).nbytes
            if size > 1 and applies() and not flags:
                size = cap(size, max_recv)
            return _real["recv_into"](self, buffer, size, flags)

        socket.socket.recv = recv  # type: ignore[method-assign]
        socket.socket.recv_into = recv_into  # type: ignore[method-assign]

    if max_send:

        def send(self: socket.socket, data: Any, flags: int = 0) -> int:
            view = memoryview(data).cast("B")
            if len(view) > 1 and applies():
                view = view[: cap(len(view) - 1, max_send)]
            return _real["send"](self, view, flags)

        socket.socket.send = send  # type: ignore[method-assign]


def uninstall() -> None:
    for name, func in _real.items():
        setattr(socket.socket, name, func)


class NoSendallSocket(socket.socket):
    """A socket whose sendall is switched off, for exercises where the loop is the point."""

    def sendall(self, *args: Any, **kwargs: Any) -> None:  # noqa: ARG002
        raise RuntimeError(
            "sendall() is switched off in this exercise: write the loop over send() yourself"
        )
