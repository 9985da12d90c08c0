"""What stage 07's checks share (exercises/07_error_handling and graders/hidden/07_error_handling):
waiting on a server's progress, judging what serve_lines and connect_with_retry ended with, and
the hints a failure picks from what it saw."""

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

# -- hints a failure picks from what it saw (else the check's own hint) --------------------------------------
_PER_CLIENT = ("Put a try/except around ONE client's conversation, inside the accept loop, close that client and "
               "go on with the next: ")
SURVIVE_RESET_HINT = _PER_CLIENT + ("a reset or a broken pipe raises ConnectionResetError or BrokenPipeError — catch "
                                    "OSError, their parent, which covers timeouts too.")
SURVIVE_TIMEOUT_HINT = _PER_CLIENT + ("an idle client's recv() raises TimeoutError (an OSError): that client is "
                                      "dropped, the server is not.")
LISTENER_TIMEOUT_HINT = ("accept() raised TimeoutError: the idle timeout was set on the listener. Put it on each "
                         "accepted connection (conn.settimeout(idle_timeout)): accept() must wait as long as it takes "
                         "for the next client.")
SURVIVE_UTF8_HINT = _PER_CLIENT + ("bytes that are not UTF-8 raise UnicodeDecodeError when you decode the line — a "
                                   "ValueError: catch ValueError.")
SURVIVE_LONG_HINT = _PER_CLIENT + ("your own 'line too long' error is the client's fault, not the server's: raise "
                                   "and catch it (a ValueError) per client, or just close that client.")


FIRST_LINE_HINT = ("Return the first line only: the part of the buffer before the first b'\\n'. The server may send "
                   "more right behind it, in the same recv().")
WHOLE_LINE_DECODE_HINT = ("Read until the buffer holds b'\\n', then decode the whole line once: a multi-byte "
                          "character (É is b'\\xc3\\x89') may be split across two reads, and decoding each recv() "
                          "on its own (or a line you have only part of) breaks it.")
IPV6_HINT = ("Resolve the host instead of assuming IPv4: socket.create_connection((host, port), timeout=timeout) "
             "(or a loop over socket.getaddrinfo) gives an AF_INET6 socket for '::1'.")


def reply_hint(result: CallResult, expected: str) -> str | None:
    """The hint for request returning or raising what `result` holds instead of `expected`, when
    what it did says which mistake it was; None when it does not."""
    if result.status == "returned":
        value = result.value
        return FIRST_LINE_HINT if isinstance(value, str) and value.startswith(expected + "\n") else None
    if result.error is not None and result.error.is_a(UnicodeDecodeError):
        return WHOLE_LINE_DECODE_HINT
    if result.error is not None and result.error.is_a("gaierror") and "family" in result.error.message:
        return IPV6_HINT  # "Address family for hostname not supported": an AF_INET socket given "::1"
    return None


def survive_hint(result: CallResult) -> str | None:
    """The hint for serve_lines raising `result.error` because of a client, by what it raised."""
    error = result.error
    if error is None:
        return None
    if error.is_a(UnicodeDecodeError):
        return SURVIVE_UTF8_HINT
    if error.is_a(TimeoutError):
        # The traceback tells a listener's timeout (raised by accept) from a client's (by recv).
        return LISTENER_TIMEOUT_HINT if "accept(" in (error.traceback or "") else SURVIVE_TIMEOUT_HINT
    if error.is_a(OSError):
        return SURVIVE_RESET_HINT
    if error.is_a(ValueError):
        return SURVIVE_LONG_HINT
    return None


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
        raise Failure(f"{result.shown} raised {result.error} {why}: {blame}{shown_traceback(result)}",
                      hint=survive_hint(result) or hint)
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
