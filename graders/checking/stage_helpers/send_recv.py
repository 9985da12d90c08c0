"""What stage 04's checks share (exercises/04_send_recv and graders/hidden/04_send_recv):
reading what the student left in a socket, and judging the bytes a peer or a call ended with."""

from __future__ import annotations

import socket
from typing import Any

from graders.checking.declare import Failure
from graders.checking.transcript import describe_difference, show_bytes

SEND_HINT = ("send() returns how many bytes the kernel took, which may be fewer than you gave it: loop "
             "`while view: sent = sock.send(view); view = view[sent:]` (view = memoryview(data)).")
SERVER_CLOSE_HINT = ("Close each client's connection once its EOF came (`with conn:` around the loop): the "
                     "client waits for YOUR EOF, and gets it only when you close.")


def read_from_our_copy(sock: socket.socket, n: int, timeout: float) -> bytes:
    """Up to n bytes read through the grader's copy of the student's socket, waiting at most `timeout`."""
    got = bytearray()
    sock.settimeout(timeout)
    try:
        while len(got) < n:
            chunk = sock.recv(n - len(got))
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    return bytes(got)


def expect_bytes(what: str, expected: bytes, actual: Any, *, hint: str) -> None:
    """`actual` (what a peer received, or what a call returned) must be bytes equal to `expected`."""
    if not isinstance(actual, (bytes, bytearray)):
        raise Failure(f"{what}: not bytes", expected=show_bytes(expected), actual=repr(actual), hint=hint)
    if bytes(actual) != expected:
        raise Failure(f"{what}: {len(actual)} of {len(expected)} bytes", expected=show_bytes(expected),
                      actual=show_bytes(bytes(actual)) + "\n" + describe_difference(expected, bytes(actual)),
                      hint=hint)
