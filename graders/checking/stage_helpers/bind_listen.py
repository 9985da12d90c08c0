"""What stage 02's checks share (exercises/02_bind_listen and graders/hidden/02_bind_listen):
listeners the student returns, the port held in TIME_WAIT, busy ports, and the listener's
timeout as the kernel keeps it.

A listener the grader passes in stays the grader's, but its timeout lives in the Python
object, and only its trace in the kernel crosses back: the fd's O_NONBLOCK flag, clear for
"no timeout" (blocking), set for any timeout or non-blocking mode. So "the listener's timeout
is as before" is checked as "it is blocking exactly when it was blocking", unless the worker
could read the timeout itself (CallResult.arg_timeouts).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
from collections.abc import Iterator

from graders.checking.declare import Failure
from graders.checking.helpers import DEADLINE, close_sockets, peer_of
from graders.checking.lab import Lab
from graders.checking.peers import Close, RecvAll
from graders.checking.stage_helpers.create_socket import exit_told
from graders.engine.calls import CallResult

# Why 0.2 s: long enough that returning early cannot be mistaken for waiting, short enough
# that a correct solution waiting it out keeps the stage fast.
SHORT_TIMEOUT = 0.2
# Why 5: the old connection ends without TIME_WAIT about once in 500 tries (a lost segment on
# loopback under load ends it with a reset); five misses in a row do not happen.
RESTART_ATTEMPTS = 5

LISTEN_HINT = ("A listener is socket() + setsockopt(SO_REUSEADDR) + bind((host, port)) + listen(backlog), "
               "in that order. Without listen() the port is bound but refuses every connection.")
REUSE_HINT = ("Call sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1) BEFORE bind(): the kernel "
              "reads it while binding. Without it, a port whose last connection the server closed first "
              "stays in TIME_WAIT for 60 s, and bind() fails with EADDRINUSE.")
IPV6_HINT = ("Pick the family from the host: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, "
             "flags=socket.AI_PASSIVE)[0] gives (family, type, proto, _, address) — AF_INET6 for '::1'.")
ACCEPT_HINT = "Return what listener.accept() returns: the tuple (conn, address)."
EXIT_HINT = ("sys.exit() ends the caller's whole program, and the tutorial's `print('Bind failed'); sys.exit()` "
             "is no way for a function to report a busy port: close the socket you made and let bind()'s "
             "OSError (EADDRINUSE) propagate — the caller decides what to do about it.")


# -- open_listener ----------------------------------------------------------------------------------
@contextlib.contextmanager
def returned_listener(lab: Lab, result: CallResult, *, hint: str = LISTEN_HINT) -> Iterator[socket.socket]:
    """The socket open_listener returned, closed when the block ends."""
    value = lab.returned(result, hint=hint)
    if not isinstance(value, socket.socket):
        close_sockets(value)
        raise Failure(f"{result.shown} did not return a socket", expected="a listening socket",
                      actual=repr(value), hint=hint)
    with value:
        yield value


def accept_through(lab: Lab, listener: socket.socket, hint: str) -> None:
    """A reference client connects to the listener and the grader accepts it through its copy."""
    address = listener.getsockname()[:2]
    client = lab.client(address, [], name="client", timeout=DEADLINE)
    client.wait(DEADLINE)
    if client.problem:
        raise Failure(f"a client could not connect to the listener: {client.problem}", hint=hint)
    _accept_and_close(lab, listener, failed="accepting the client through the listener failed",
                      done="accepted the client through the listener", hint=hint)


def _accept_and_close(lab: Lab, listener: socket.socket, *, failed: str, done: str, hint: str) -> None:
    """The grader accepts a waiting client through its copy of the listener, and closes that connection."""
    listener.settimeout(DEADLINE)
    try:
        conn, _ = listener.accept()
    except OSError as exc:
        raise Failure(f"{failed}: {exc}", hint=hint) from None
    conn.close()
    lab.transcript.add("grader", done)


def expect_busy_port_refused(lab: Lab, family: socket.AddressFamily, *, hint: str,
                             wrong_error_hint: str | None = None) -> CallResult:
    """open_listener(host, port) on a port the grader's own listener holds raises OSError (EADDRINUSE)."""
    occupant = lab.listener(family)
    host, port = occupant.getsockname()[:2]
    lab.transcript.add("grader", f"port {port} on {host} is taken by the grader's listener")
    with exit_told(EXIT_HINT):
        result = lab.call("open_listener", host, port)
    if result.status == "returned":
        where = result.value.getsockname()[:2] if isinstance(result.value, socket.socket) else None
        close_sockets(result.value)
        raise Failure(f"{result.shown} returned instead of raising: port {port} is in use",
                      expected="OSError with errno EADDRINUSE",
                      actual=f"a listener on {where}" if where else f"returned {result.value!r}", hint=hint)
    error = lab.expect_raises(result, OSError, hint=hint)
    if error.errno != errno.EADDRINUSE:
        raise Failure(f"{result.shown} raised the wrong error", expected="OSError with errno EADDRINUSE",
                      actual=str(error), hint=wrong_error_hint or hint)
    return result


# -- re-opening a port in TIME_WAIT ------------------------------------------------------------------
def port_is_held(family: socket.AddressFamily, host: str, port: int) -> bool:
    """True when a plain bind() (no SO_REUSEADDR) to the port fails: the old connection holds it."""
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def close_a_connection_first(lab: Lab, host: str, hint: str) -> tuple:
    """A listener from open_listener(host) whose one connection the server side closed first.

    The server closing first puts its end of the connection in TIME_WAIT (60 s on Linux).
    Before the port is asked for again, a probe checks that the connection really holds
    it: otherwise the re-open would prove nothing, and the steps are done again.
    """
    for attempt in range(1, RESTART_ATTEMPTS + 1):
        with returned_listener(lab, lab.call("open_listener", host), hint=hint) as first:
            family, address = first.family, first.getsockname()[:2]
            client = lab.client(address, [RecvAll(), Close()], name=f"client {attempt}", timeout=DEADLINE)
            _accept_and_close(lab, first, failed="accepting a client through your listener failed", hint=hint,
                              done="accepted the client through your listener and closed that connection first: "
                              "the server's end of it goes to TIME_WAIT")
            client.wait(DEADLINE)
        if port_is_held(family, host, address[1]):
            lab.transcript.add("grader", f"closed your listener; port {address[1]} is still held by the old "
                               "connection in TIME_WAIT (a bind without SO_REUSEADDR fails)")
            return address
        lab.transcript.add("grader", f"port {address[1]} is free again: the old connection ended without TIME_WAIT "
                           "(a segment was lost); doing it again")
    return address  # never held: re-opening then tests less, and can only let a wrong solution pass


def restart_after_active_close(lab: Lab, host: str, hint: str = LISTEN_HINT, *, wrong_port_hint: str) -> None:
    """Re-opens a port held by a connection the server closed first (see close_a_connection_first).

    On Linux, and in the sandboxed kernel of the CI machines, re-binding such a port
    succeeds only when both the old listener (whose accepted sockets inherit the option)
    and the new socket set SO_REUSEADDR before bind(); both come from the student's code.
    """
    address = close_a_connection_first(lab, host, hint)
    lab.transcript.add("grader", f"asking open_listener for port {address[1]} again")
    result = lab.call("open_listener", host, address[1])
    if result.status == "raised" and result.error is not None and result.error.errno == errno.EADDRINUSE:
        raise Failure(f"{result.shown} raised {result.error}: port {address[1]} is held by a connection in "
                      "TIME_WAIT (the server closed it first), and your listener could not take the port back",
                      expected="a new listener on the same port", actual=str(result.error), hint=REUSE_HINT)
    with returned_listener(lab, result, hint=REUSE_HINT) as second:
        if second.getsockname()[1] != address[1]:
            raise Failure(f"{result.shown} listens on another port", expected=f"port {address[1]}",
                          actual=f"port {second.getsockname()[1]}", hint=wrong_port_hint)


# -- accept_one ---------------------------------------------------------------------------------------
def expect_conn_and_address(result: CallResult, value: object) -> None:
    """What accept_one returned has the shape of what listener.accept() returns."""
    if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], socket.socket)):
        raise Failure(f"{result.shown} did not return (conn, address)", expected="(a socket, an address)",
                      actual=repr(value), hint=ACCEPT_HINT)


def expect_the_clients_connection(result: CallResult, conn: socket.socket, expected: tuple) -> None:
    """The connection accept_one returned is the one from the client whose address is `expected`."""
    peer = peer_of(conn)
    if peer != expected:
        raise Failure(f"{result.shown} returned a socket that is not the client's connection",
                      expected=f"connected to the client at {expected}", actual=f"peer {peer}")


def is_blocking_in_kernel(sock: socket.socket) -> bool:
    """The fd's O_NONBLOCK flag is clear: what the kernel keeps of a timeout of None."""
    return not fcntl.fcntl(sock.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK


def listener_with_timeout(lab: Lab, timeout: float | None,
                          family: socket.AddressFamily = socket.AF_INET) -> socket.socket:
    """A grader listener whose timeout the check then expects accept_one to leave as it was."""
    listener = lab.listener(family)
    listener.settimeout(timeout)
    lab.transcript.add("grader", f"listener.settimeout({timeout!r})")
    return listener


def expect_timeout_kept(lab: Lab, listener: socket.socket, before: float | None, after_what: str,
                        result: CallResult | None = None, *, hint: str) -> None:
    """The listener's timeout after the call is `before`: as the worker saw it, else as the kernel does."""
    timeouts = getattr(result, "arg_timeouts", None)
    if timeouts:
        after = timeouts[0]
        if after == before:
            return
        actual = f"listener.gettimeout() == {after!r}"
    else:  # only the kernel's O_NONBLOCK flag to go by (see the module docstring)
        if is_blocking_in_kernel(listener) == (before is None):
            return
        if before is None:
            actual = "a timeout or non-blocking mode: accept_one left its own setting on the listener"
        else:
            actual = "None (blocking): accept_one set the listener back to blocking instead of restoring it"
    raise Failure(f"after {after_what}, the listener's timeout was not what it was before the call",
                  expected=f"listener.gettimeout() == {before!r}, as before", actual=actual, hint=hint)
