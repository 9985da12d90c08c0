"""What stage 01's checks share (exercises/01_create_socket and graders/hidden/01_create_socket):
how describe_socket's answer is judged against the grader's own reading of the socket."""

from __future__ import annotations

import socket

from graders.checking.declare import Failure
from graders.checking.helpers import socket_kind
from graders.checking.lab import Lab

PAIR_HINT = ("IPv6 addresses come back from the kernel as 4-tuples (host, port, flowinfo, scope_id): "
             "keep the (host, port) pair with address[:2], for both families.")


def true_description(sock: socket.socket) -> dict:
    """What describe_socket(sock) must say, read from the grader's own copy of the socket."""
    local = sock.getsockname()
    try:
        peer = sock.getpeername()[:2]
    except OSError:
        peer = None
    family, kind = socket_kind(sock)
    return {"family": family, "type": kind, "local": local[:2] if local[1] != 0 else None,
            "peer": peer, "blocking": sock.getblocking(), "timeout": sock.gettimeout()}


def expect_description(lab: Lab, sock: socket.socket, expected: dict, *, hint: str | None = None) -> None:
    """describe_socket(sock) must equal `expected`; a failure names the keys that are wrong."""
    result = lab.call("describe_socket", sock)
    got = lab.returned(result, hint=hint)
    if got == expected:
        return
    if not isinstance(got, dict):
        raise Failure(f"{result.shown} did not return a dict", expected=repr(expected), actual=repr(got), hint=hint)
    wrong = [k for k in expected if got.get(k, object()) != expected[k]]
    extra = [k for k in got if k not in expected]
    problems = [f"{k!r} is {got[k]!r}, not {expected[k]!r}" if k in got else f"{k!r} is missing" for k in wrong]
    problems += [f"{k!r} is not one of the six keys" for k in extra]
    raise Failure(f"{result.shown} got it wrong: " + "; ".join(problems),
                  expected=repr(expected), actual=repr(got), hint=hint)
