"""Helpers that the check files of several stages use: waiting, closing, serving, explaining.

Check files reach these through graders.api. What only one stage's public and hidden checks
share lives in graders/checking/stage_helpers/<slug>.py; what one check file alone needs stays
in that file.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from graders.checking.declare import CallTimedOut
from graders.checking.lab import Lab
from graders.checking.peers import Action, ServerPeer
from graders.engine.calls import CallResult

# Why 10 s: what a correct solution does in a check takes milliseconds; this bounds a hang
# only, so that a slow machine is never mistaken for a bug.
DEADLINE = 10.0
# Why 5 s: for calls that a bug makes hang or spin (a correct one returns in milliseconds):
# long enough for any machine, short enough that the failure comes soon.
HANG_DEADLINE = 5.0


def wait_until(predicate: Callable[[], Any], timeout: float) -> bool:
    """Polls `predicate` every millisecond until it holds or `timeout` passes (never a fixed
    sleep); True when it held in time."""
    end = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > end:
            return False
        pause.wait(0.001)
    return True


def close_sockets(value: Any) -> None:
    """Closes every socket in what a call returned: a socket, or a tuple or list holding some."""
    if isinstance(value, socket.socket):
        value.close()
    elif isinstance(value, (tuple, list)):
        for item in value:
            close_sockets(item)


def socket_kind(sock: socket.socket) -> tuple[str, str]:
    """A socket's family and type by name, such as ("AF_INET", "SOCK_STREAM")."""
    return socket.AddressFamily(sock.family).name, socket.SocketKind(sock.type).name


def peer_of(sock: socket.socket) -> tuple | None:
    """The (host, port) a socket is connected to; None when it has no peer."""
    try:
        return sock.getpeername()[:2]
    except OSError:
        return None


def serving(lab: Lab, *scripts: Sequence[Action], **options: Any) -> ServerPeer:
    """lab.server(...), returned once its thread serves: a check that ends at once then ends cleanly."""
    server = lab.server(*scripts, **options)
    # The server thread's first act is to set its listener's timeout (graders/checking/peers.py).
    wait_until(lambda: server.sock.gettimeout() is not None, DEADLINE)
    return server


def explain_hang(exc: CallTimedOut, what: str, hint: str) -> CallTimedOut:
    """The timeout of a call, told with what the peer had done: raise it `from None`."""
    return CallTimedOut(f"{exc.message}: {what}", hint=hint)


def half_close(sock: socket.socket) -> None:
    """Our FIN on the grader's copy of the student's socket, behind what was sent: the peer
    stops reading even if bytes are missing. Nothing happens if it is shut down already."""
    try:
        sock.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the student's code shut the socket down already: the peer has its EOF


def shown_traceback(result: CallResult) -> str:
    """The traceback of a call that raised, on lines of its own after a message; "" if none."""
    return f"\n{result.error.traceback.rstrip()}" if result.error and result.error.traceback else ""
