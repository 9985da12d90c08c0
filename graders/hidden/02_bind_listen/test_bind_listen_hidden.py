"""Hidden checks for stage 02: the public checks' ideas on IPv6, names and other listener modes.

As in the public checks, the listener's timeout is judged by its trace in the kernel: the
fd's O_NONBLOCK flag is clear exactly when the timeout is None (see the public file).
"""

import contextlib
import errno
import fcntl
import os
import socket
import threading
import time

from graders.api import Close, Failure, RecvAll, check

# Why 10 s: what a correct solution does here takes milliseconds; this only bounds a hang.
DEADLINE = 10.0
# Why 0.2 s: long enough that returning early cannot be mistaken for waiting, short enough
# that a correct solution waiting it out keeps the stage fast.
SHORT_TIMEOUT = 0.2

LISTEN_HINT = ("A listener is socket() + setsockopt(SO_REUSEADDR) + bind((host, port)) + listen(backlog), "
               "in that order. Without listen() the port is bound but refuses every connection.")
REUSE_HINT = ("Call sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1) BEFORE bind(): the kernel "
              "reads it while binding. Without it, a port whose last connection the server closed first "
              "stays in TIME_WAIT for 60 s, and bind() fails with EADDRINUSE.")
BUSY_HINT = ("Let bind()'s OSError (EADDRINUSE) propagate: the caller asked for THAT port. Don't retry, "
             "don't pick another port, don't return None; close the socket you made before it leaves.")
IPV6_HINT = ("Pick the family from the host: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, "
             "flags=socket.AI_PASSIVE)[0] gives (family, type, proto, _, address) — AF_INET6 for '::1'.")
TIMEOUT_HINT = ("accept_one's own `timeout` decides how long it waits, whatever the listener's mode: "
                "listener.settimeout(timeout) before accept() (or select.select([listener], [], [], timeout)).")
RESTORE_HINT = ("The listener is the caller's: save listener.gettimeout() first, set yours, and put the "
                "saved value back (in a `finally:`) — not None, the value it had, which may be 0.0 or 3.0.")


def _close_sockets(value) -> None:
    if isinstance(value, socket.socket):
        value.close()
    elif isinstance(value, (tuple, list)):
        for item in value:
            _close_sockets(item)


@contextlib.contextmanager
def _returned_listener(lab, result, *, hint: str = LISTEN_HINT):
    """The socket open_listener returned, closed when the block ends."""
    value = lab.returned(result, hint=hint)
    if not isinstance(value, socket.socket):
        _close_sockets(value)
        raise Failure(f"{result.shown} did not return a socket", expected="a listening socket",
                      actual=repr(value), hint=hint)
    with value:
        yield value


def _accept_through(lab, listener: socket.socket, hint: str) -> None:
    """A reference client connects to the listener and the grader accepts it through its copy."""
    address = listener.getsockname()[:2]
    client = lab.client(address, [], name="client", timeout=DEADLINE)
    client.wait(DEADLINE)
    if client.problem:
        raise Failure(f"a client could not connect to the listener: {client.problem}", hint=hint)
    listener.settimeout(DEADLINE)
    try:
        conn, _ = listener.accept()
    except OSError as exc:
        raise Failure(f"accepting the client through the listener failed: {exc}", hint=hint) from None
    conn.close()
    lab.transcript.add("grader", "accepted the client through the listener")


def _is_blocking_in_kernel(sock: socket.socket) -> bool:
    return not fcntl.fcntl(sock.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK


def _listener_with_timeout(lab, timeout: float | None):
    listener = lab.listener()
    listener.settimeout(timeout)
    lab.transcript.add("grader", f"listener.settimeout({timeout!r})")
    return listener


def _expect_timeout_kept(lab, listener: socket.socket, before: float | None, after_what: str,
                         result=None) -> None:
    """The listener's timeout after the call is `before`: as the worker saw it, else as the kernel does."""
    timeouts = getattr(result, "arg_timeouts", None)
    if timeouts:
        after = timeouts[0]
        if after == before:
            return
        actual = f"listener.gettimeout() == {after!r}"
    else:  # only the kernel's O_NONBLOCK flag to go by (see the module docstring)
        if _is_blocking_in_kernel(listener) == (before is None):
            return
        if before is None:
            actual = "a timeout or non-blocking mode: accept_one left its own setting on the listener"
        else:
            actual = "None (blocking): accept_one set the listener back to blocking instead of restoring it"
    raise Failure(f"after {after_what}, the listener's timeout was not what it was before the call",
                  expected=f"listener.gettimeout() == {before!r}, as before", actual=actual, hint=RESTORE_HINT)


def _expect_connection(lab, result, client) -> None:
    """accept_one's result is (conn, address) for `client`'s connection; closes what came back."""
    value = lab.returned(result, hint=TIMEOUT_HINT)
    try:
        if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], socket.socket)):
            raise Failure(f"{result.shown} did not return (conn, address)", expected="(a socket, an address)",
                          actual=repr(value), hint="Return what listener.accept() returns: the tuple (conn, address).")
        if client.sock is None:
            raise Failure(f"after {result.shown}, the grader's client could not connect: {client.problem}")
        expected = client.sock.getsockname()[:2]
        try:
            peer = value[0].getpeername()[:2]
        except OSError:
            peer = None
        if peer != expected:
            raise Failure(f"{result.shown} returned a socket that is not the client's connection",
                          expected=f"connected to the client at {expected}", actual=f"peer {peer}")
    finally:
        _close_sockets(value)


# Why 5: the old connection ends without TIME_WAIT about once in 500 tries (a lost segment on
# loopback under load ends it with a reset); five misses in a row do not happen.
RESTART_ATTEMPTS = 5


def _port_is_held(family: socket.AddressFamily, host: str, port: int) -> bool:
    """True when a plain bind() (no SO_REUSEADDR) to the port fails: the old connection holds it."""
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _close_a_connection_first(lab, host: str, hint: str) -> tuple:
    """A listener from open_listener(host) whose one connection the server side closed first.

    The server closing first puts its end of the connection in TIME_WAIT (60 s on Linux).
    Before the port is asked for again, a probe checks that the connection really holds
    it: otherwise the re-open would prove nothing, and the steps are done again.
    """
    for attempt in range(1, RESTART_ATTEMPTS + 1):
        with _returned_listener(lab, lab.call("open_listener", host), hint=hint) as first:
            family, address = first.family, first.getsockname()[:2]
            client = lab.client(address, [RecvAll(), Close()], name=f"client {attempt}", timeout=DEADLINE)
            first.settimeout(DEADLINE)
            try:
                conn, _ = first.accept()
            except OSError as exc:
                raise Failure(f"accepting a client through your listener failed: {exc}", hint=hint) from None
            conn.close()
            lab.transcript.add("grader", "accepted the client through your listener and closed that connection "
                               "first: the server's end of it goes to TIME_WAIT")
            client.wait(DEADLINE)
        if _port_is_held(family, host, address[1]):
            lab.transcript.add("grader", f"closed your listener; port {address[1]} is still held by the old "
                               "connection in TIME_WAIT (a bind without SO_REUSEADDR fails)")
            return address
        lab.transcript.add("grader", f"port {address[1]} is free again: the old connection ended without TIME_WAIT "
                           "(a segment was lost); doing it again")
    return address  # never held: re-opening then tests less, and can only let a wrong solution pass


def _restart_after_active_close(lab, host: str, hint: str = LISTEN_HINT) -> None:
    """Re-opens a port held by a connection the server closed first (see _close_a_connection_first).

    On Linux, and in the sandboxed kernel of the CI machines, re-binding such a port
    succeeds only when both the old listener (whose accepted sockets inherit the option)
    and the new socket set SO_REUSEADDR before bind(); both come from the student's code.
    """
    address = _close_a_connection_first(lab, host, hint)
    lab.transcript.add("grader", f"asking open_listener for port {address[1]} again")
    result = lab.call("open_listener", host, address[1])
    if result.status == "raised" and result.error is not None and result.error.errno == errno.EADDRINUSE:
        raise Failure(f"{result.shown} raised {result.error}: port {address[1]} is held by a connection in "
                      "TIME_WAIT (the server closed it first), and your listener could not take the port back",
                      expected="a new listener on the same port", actual=str(result.error), hint=REUSE_HINT)
    with _returned_listener(lab, result, hint=REUSE_HINT) as second:
        if second.getsockname()[1] != address[1]:
            raise Failure(f"{result.shown} listens on another port", expected=f"port {address[1]}",
                          actual=f"port {second.getsockname()[1]}", hint=BUSY_HINT)


# -- open_listener --------------------------------------------------------------------------------------
@check(points=1, hint=BUSY_HINT + " " + IPV6_HINT)
def test_busy_ipv6_port_raises_eaddrinuse(lab):
    """open_listener("::1", port) on a port already in use raises OSError (EADDRINUSE) and leaves no socket open"""
    occupant = lab.listener(socket.AF_INET6)
    port = occupant.getsockname()[1]
    lab.transcript.add("grader", f"port {port} on ::1 is taken by the grader's listener")
    result = lab.call("open_listener", "::1", port)
    if result.status == "returned":
        where = result.value.getsockname()[:2] if isinstance(result.value, socket.socket) else None
        _close_sockets(result.value)
        raise Failure(f"{result.shown} returned instead of raising: port {port} is in use",
                      expected="OSError with errno EADDRINUSE",
                      actual=f"a listener on {where}" if where else f"returned {result.value!r}", hint=BUSY_HINT)
    error = lab.expect_raises(result, OSError, hint=BUSY_HINT)
    if error.errno != errno.EADDRINUSE:
        raise Failure(f"{result.shown} raised the wrong error", expected="OSError with errno EADDRINUSE",
                      actual=str(error), hint=IPV6_HINT)
    lab.expect_no_leaks(result, hint=BUSY_HINT)


@check(points=1, hint=REUSE_HINT)
def test_reopens_ipv6_port_after_server_closed_first(lab):
    """open_listener("::1", port) re-opens a port right after a connection the server closed first"""
    _restart_after_active_close(lab, "::1", IPV6_HINT)


@check(points=1, hint="A host may be a name: getaddrinfo(host, port, type=socket.SOCK_STREAM, "
       "flags=socket.AI_PASSIVE) resolves it and says which family to use.")
def test_opens_a_listener_for_a_name(lab):
    """open_listener("localhost") returns a listener that a client reaches at its address"""
    with _returned_listener(lab, lab.call("open_listener", "localhost")) as listener:
        host, port = listener.getsockname()[:2]
        if port == 0 or host not in ("127.0.0.1", "::1"):
            raise Failure("open_listener('localhost') is not bound to a loopback address and a port",
                          expected="('127.0.0.1', port) or ('::1', port)", actual=repr((host, port)))
        _accept_through(lab, listener, LISTEN_HINT)


# -- accept_one ------------------------------------------------------------------------------------------
@check(points=1, hint=RESTORE_HINT)
def test_accept_one_keeps_other_listener_modes(lab):
    """accept_one leaves a non-blocking listener non-blocking, and a 3.0 s timeout in place, on every path"""
    for before, nobody_comes in ((0.0, False), (0.0, True), (3.0, True)):
        listener = _listener_with_timeout(lab, before)
        if nobody_comes:
            # Why 0.05 s: only the restoring is checked here, not the waiting.
            result = lab.call("accept_one", listener, 0.05, deadline=5.0)
            _close_sockets(result.value)
            lab.expect_raises(result, TimeoutError, hint=TIMEOUT_HINT)
            _expect_timeout_kept(lab, listener, before, "accept_one raised TimeoutError", result)
        else:
            client = lab.client(listener.getsockname()[:2], [], name="client", timeout=DEADLINE)
            client.wait(DEADLINE)
            result = lab.call("accept_one", listener, 5.0)
            _expect_connection(lab, result, client)
            _expect_timeout_kept(lab, listener, before, "accept_one returned a connection", result)


@check(points=1, hint=TIMEOUT_HINT)
def test_accept_one_waits_on_a_non_blocking_listener(lab):
    """accept_one(listener, 5.0) on a non-blocking listener waits until a client connects"""
    listener = _listener_with_timeout(lab, 0.0)
    pending = lab.start("accept_one", listener, 5.0, deadline=DEADLINE)
    # Deliberate pacing, not a readiness wait: give accept_one 0.15 s in which nobody connects.
    # A correct one is still waiting then; one that relies on the listener's mode has already
    # raised BlockingIOError. (On a slow machine the client may come first: then a wrong
    # solution can pass, a correct one never fails.)
    quiet_until = time.monotonic() + 0.15
    pause = threading.Event()
    while time.monotonic() < quiet_until and not pending.done():
        pause.wait(0.005)
    client = lab.client(listener.getsockname()[:2], [], name="client", timeout=DEADLINE)
    client.wait(DEADLINE)
    result = pending.wait()
    if result.status == "raised":
        raise Failure(f"{result.shown} raised {result.error} before any client came: with timeout 5.0 it "
                      "must wait up to 5 s, whatever the listener's own mode", hint=TIMEOUT_HINT)
    _expect_connection(lab, result, client)


@check(points=1, hint=TIMEOUT_HINT)
def test_accept_one_uses_its_own_timeout(lab):
    """accept_one(listener, 0.2) on a listener whose own timeout is 6 s gives up after about 0.2 s"""
    listener = _listener_with_timeout(lab, 6.0)
    result = lab.call("accept_one", listener, SHORT_TIMEOUT, deadline=DEADLINE)
    _close_sockets(result.value)
    lab.expect_raises(result, TimeoutError)
    # Why 4 s: halfway between the student's 0.2 s and the listener's 6 s, so that load
    # stretching a correct 0.2 s wait cannot reach it, and a wait of 6 s always does.
    if result.elapsed > 4.0:
        raise Failure(f"{result.shown} waited {result.elapsed:.1f} s: it used the listener's timeout (6 s), "
                      f"not its own ({SHORT_TIMEOUT} s)", hint=TIMEOUT_HINT)
