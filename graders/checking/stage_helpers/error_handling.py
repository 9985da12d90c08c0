"""What stage 07's checks share (exercises/07_error_handling and graders/hidden/07_error_handling):
waiting on a server's progress, and judging what serve_lines and connect_with_retry ended with."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from graders.checking.declare import Failure
from graders.checking.helpers import DEADLINE, peer_of, shown_traceback
from graders.checking.lab import Lab, LabCall
from graders.checking.peers import Peer
from graders.engine.calls import CallResult

# Why 0.3 s: long enough to be told apart from "did not wait at all", short enough that
# correct solutions waiting it out keep the stage fast.
SHORT_TIMEOUT = 0.3
# What a raise of serve_lines because of one client did.
TOOK_THE_SERVER_DOWN = "one bad client took the whole server down"


def await_progress(pending: LabCall, predicate: Callable[[], Any], timeout: float = DEADLINE) -> Any:
    """Polls `predicate` (a peer's progress) every few ms until it holds or `timeout` passes.

    It stops early when the student's call has raised (the check then reports that), and a
    stub, crash or hang fails the check at once instead of after the timeout.
    """
    end = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if pending.done() and pending.wait().status == "raised":
            return predicate()
        if time.monotonic() > end:
            return False
        pause.wait(0.005)
    return True


def expect_served(pending: LabCall, why: str, *, hint: str, blame: str = TOOK_THE_SERVER_DOWN) -> CallResult:
    """serve_lines returned (None) after its clients; raising because of a client is the mistake."""
    result = pending.wait()
    if result.status == "raised":
        raise Failure(f"{result.shown} raised {result.error} {why}: {blame}{shown_traceback(result)}", hint=hint)
    return result


def expect_answered(peer: Peer, expected: bytes, what: str, *, hint: str) -> None:
    """Called once serve_lines has returned: all it sent is on the way, so 5 s is plenty."""
    peer.wait(5.0)
    if bytes(peer.received) != expected:
        raise Failure(f"{what} got the wrong answer", expected=repr(expected), actual=repr(bytes(peer.received)),
                      hint=hint)


def returned_socket(lab: Lab, result: CallResult, *, hint: str | None = None) -> socket.socket:
    """The socket connect_with_retry returned; the check closes it (`with`)."""
    sock = lab.returned(result)
    if not isinstance(sock, socket.socket):
        raise Failure(f"{result.shown} did not return a socket", expected="a connected socket", actual=repr(sock),
                      hint=hint)
    return sock


def expect_connected_to(result: CallResult, sock: socket.socket, address: tuple) -> None:
    """The returned socket is connected to the server at `address`."""
    peer = peer_of(sock)
    if peer != address:
        raise Failure(f"{result.shown} returned a socket that is not connected to the server",
                      expected=f"connected to {address}", actual=f"peer {peer}")
