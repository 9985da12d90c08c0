"""What stage 01's checks share (exercises/01_create_socket and graders/hidden/01_create_socket):
how describe_socket's answer is judged against the grader's own reading of the socket, and
which hint a wrong answer gets, from what is wrong in it."""

from __future__ import annotations

import contextlib
import errno
import socket
from collections.abc import Iterator
from typing import Any

from graders.checking.declare import CodeError, Failure
from graders.checking.helpers import socket_kind
from graders.checking.lab import Lab
from graders.engine.calls import CallResult

KEYS = ("family", "type", "local", "peer", "blocking", "timeout")

PAIR_HINT = ("IPv6 addresses come back from the kernel as 4-tuples (host, port, flowinfo, scope_id): "
             "keep the (host, port) pair with address[:2], for both families.")
MODE_HINT = ("Ask the socket itself: sock.gettimeout() is its timeout (socket.getdefaulttimeout() is only "
             "the default for NEW sockets), and sock.getblocking() is False only in non-blocking mode "
             "(timeout 0.0) — a socket with a timeout of 2.5 s still waits, so it is blocking.")
KEYS_HINT = "Return a dict with exactly the six keys 'family', 'type', 'local', 'peer', 'blocking' and 'timeout'."
FAMILY_NAME_HINT = ("sock.family is an enum: socket.AddressFamily(sock.family).name is 'AF_INET' or 'AF_INET6'. "
                    "Report the name, never the number (10 on Linux, 30 on macOS).")
TYPE_NAME_HINT = ("Read the type from the socket: socket.SocketKind(sock.type).name is 'SOCK_STREAM' for TCP and "
                  "'SOCK_DGRAM' for UDP. Report the name, not the number, and don't assume every socket is TCP.")
UNBOUND_HINT = ("An unbound socket's getsockname() is a placeholder, ('0.0.0.0', 0) or ('::', 0, 0, 0): port 0 "
                "means 'no address yet' — report None. A bound socket's port is never 0.")
NO_PEER_HINT = ("getpeername() raises OSError (ENOTCONN) on a socket that is not connected, listening ones "
                "included: that exception is the answer 'no peer' — catch it and report None.")
ADDRESS_HINT = ("Read both addresses from the kernel: getsockname()[:2] for 'local', getpeername()[:2] for "
                "'peer'. A connected socket has both.")
# Why this text is matched: the worker (and the in-process subject) describe a call that
# ended in sys.exit() this way (graders/engine/worker.py).
EXITED = "called sys.exit("


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


def described(lab: Lab, result: CallResult, *, hint: str | None = None) -> Any:
    """What describe_socket returned; a Failure if it raised (told about ENOTCONN when that was it)."""
    error = result.error
    if result.status == "raised" and error is not None and error.is_a(OSError) and error.errno == errno.ENOTCONN:
        hint = NO_PEER_HINT
    return lab.returned(result, hint=hint)


def expect_description(lab: Lab, sock: socket.socket, expected: dict, *, hint: str | None = None) -> None:
    """describe_socket(sock) must equal `expected`; a failure names the keys that are wrong, and
    its hint is the one for the first of them (else `hint`, else the check's)."""
    result = lab.call("describe_socket", sock)
    got = described(lab, result, hint=hint)
    if got == expected:
        return
    if not isinstance(got, dict):
        raise Failure(f"{result.shown} did not return a dict", expected=repr(expected), actual=repr(got),
                      hint=KEYS_HINT)
    wrong = [k for k in expected if got.get(k, object()) != expected[k]]
    extra = [k for k in got if k not in expected]
    problems = [f"{k!r} is {got[k]!r}, not {expected[k]!r}" if k in got else f"{k!r} is missing" for k in wrong]
    problems += [f"{k!r} is not one of the six keys" for k in extra]
    raise Failure(f"{result.shown} got it wrong: " + "; ".join(problems),
                  expected=repr(expected), actual=repr(got), hint=_hint_for(got, expected, wrong, extra) or hint)


def _hint_for(got: dict, expected: dict, wrong: list[str], extra: list[str]) -> str | None:
    """The hint for the first thing wrong in a description; None when no specific one fits."""
    if extra or any(k not in got for k in wrong):
        return KEYS_HINT
    if not wrong:
        return None
    key = wrong[0]
    value, right = got[key], expected[key]
    if key == "family":
        return FAMILY_NAME_HINT
    if key == "type":
        return TYPE_NAME_HINT
    if key in ("blocking", "timeout"):
        return MODE_HINT
    if isinstance(value, (tuple, list)) and len(value) == 4:
        return PAIR_HINT
    if key == "local" and right is None:
        return UNBOUND_HINT
    if key == "peer" and right is None:
        return NO_PEER_HINT
    return ADDRESS_HINT


@contextlib.contextmanager
def exit_told(hint: str) -> Iterator[None]:
    """A call inside the block that ended in sys.exit() fails the check with `hint`: what to
    raise (or return) instead. Where a check expects a raise, ending the process is the wrong
    answer it diagnosed, a failure like returning would be, not a module that cannot run."""
    try:
        yield
    except CodeError as exc:
        if EXITED not in exc.message:
            raise
        raise Failure(exc.message, hint=hint) from None
