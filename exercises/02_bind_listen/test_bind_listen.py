"""Public checks for stage 02: opening listeners and accepting one connection.

Two facts about how sockets cross to the student's code shape these checks:
- a socket the student returns comes back to the grader as the same kernel socket, so the
  grader connects reference clients to it and accepts them through its own copy;
- a listener the grader passes in stays the grader's, but its timeout lives in the Python
  object, and only its trace in the kernel crosses back: the fd's O_NONBLOCK flag, clear
  for "no timeout" (blocking), set for any timeout or non-blocking mode. So "the listener's
  timeout is as before" is checked as "it is blocking exactly when it was blocking".
"""

import contextlib
import errno
import fcntl
import os
import socket

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
             "don't pick another port, don't return None.")
CLOSE_HINT = ("When bind() fails, close the socket you made before the error leaves the function: "
              "try: ... except BaseException: sock.close(); raise")
IPV6_HINT = ("Pick the family from the host: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, "
             "flags=socket.AI_PASSIVE)[0] gives (family, type, proto, _, address) — AF_INET6 for '::1'.")
TIMEOUT_HINT = ("Use the timeout: listener.settimeout(timeout) before accept() (or select.select([listener], "
                "[], [], timeout)); accept() then raises TimeoutError when nobody comes in time.")
RESTORE_HINT = ("The listener is the caller's: save listener.gettimeout() first, set yours, and put the "
                "saved value back in a `finally:` — so it is restored after a TimeoutError too.")


# -- helpers ----------------------------------------------------------------------------------------
def _close_sockets(value) -> None:
    """Closes every socket in a returned value (a socket, or a tuple/list holding some)."""
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


def _kind(sock: socket.socket) -> tuple[str, str]:
    return socket.AddressFamily(sock.family).name, socket.SocketKind(sock.type).name


def _expect_listening(lab, listener: socket.socket, shown: str, *, family: socket.AddressFamily,
                      host: str | None, hint: str = LISTEN_HINT) -> tuple:
    """The listener has the right family, a real port, listens, and a client gets through."""
    expected_family = socket.AddressFamily(family).name
    if _kind(listener) != (expected_family, "SOCK_STREAM"):
        raise Failure(f"{shown} returned a socket of the wrong family or type",
                      expected=f"{expected_family}, SOCK_STREAM", actual=", ".join(_kind(listener)), hint=hint)
    address = listener.getsockname()[:2]
    if address[1] == 0:
        raise Failure(f"{shown} returned a socket that is not bound", expected="bound to a port",
                      actual=f"getsockname() is {listener.getsockname()!r}", hint=hint)
    if host is not None and address[0] != host:
        raise Failure(f"{shown} bound the wrong address", expected=f"{host!r}", actual=f"{address[0]!r}", hint=hint)
    if hasattr(socket, "SO_ACCEPTCONN") and not listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        raise Failure(f"{shown} returned a socket that is bound to port {address[1]} but not listening: "
                      "every connection to it is refused", hint=hint)
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
    return address


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


def _expect_busy_port_refused(lab) -> None:
    occupant = lab.listener()
    host, port = occupant.getsockname()[:2]
    lab.transcript.add("grader", f"port {port} on {host} is taken by the grader's listener")
    result = lab.call("open_listener", host, port)
    if result.status == "returned":
        where = result.value.getsockname()[:2] if isinstance(result.value, socket.socket) else None
        _close_sockets(result.value)
        raise Failure(f"{result.shown} returned instead of raising: port {port} is in use",
                      expected="OSError with errno EADDRINUSE",
                      actual=f"a listener on {where}" if where else f"returned {result.value!r}", hint=BUSY_HINT)
    error = lab.expect_raises(result, OSError, hint=BUSY_HINT)
    if error.errno != errno.EADDRINUSE:
        raise Failure(f"{result.shown} raised the wrong error", expected="OSError with errno EADDRINUSE",
                      actual=str(error), hint=BUSY_HINT)
    # Why 3 s: a failing bind() returns in microseconds; only retrying (forbidden) takes this long.
    if result.elapsed > 3.0:
        raise Failure(f"{result.shown} took {result.elapsed:.1f} s to raise: a busy port must be reported at once",
                      hint=BUSY_HINT)


def _is_blocking_in_kernel(sock: socket.socket) -> bool:
    return not fcntl.fcntl(sock.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK


def _listener_with_timeout(lab, timeout: float | None, family: socket.AddressFamily = socket.AF_INET):
    listener = lab.listener(family)
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


def _accept_a_queued_client(lab, listener: socket.socket, timeout: float | None = 5.0):
    """A client connects first (its connection waits in the accept queue), then accept_one runs."""
    client = lab.client(listener.getsockname()[:2], [], name="client", timeout=DEADLINE)
    client.wait(DEADLINE)
    assert client.sock is not None and not client.problem, f"the grader's client could not connect: {client.problem}"
    expected = client.sock.getsockname()[:2]
    result = lab.call("accept_one", listener, timeout)
    value = lab.returned(result, hint="Return what listener.accept() returns: the tuple (conn, address).")
    try:
        if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], socket.socket)):
            raise Failure(f"{result.shown} did not return (conn, address)", expected="(a socket, an address)",
                          actual=repr(value), hint="Return what listener.accept() returns: the tuple (conn, address).")
        conn, address = value
        try:
            peer = conn.getpeername()[:2]
        except OSError:
            peer = None
        if peer != expected:
            raise Failure(f"{result.shown} returned a socket that is not the client's connection",
                          expected=f"connected to the client at {expected}", actual=f"peer {peer}")
        if not isinstance(address, (tuple, list)) or tuple(address[:2]) != expected:
            raise Failure(f"{result.shown} returned the wrong address", expected=repr(expected), actual=repr(address),
                          hint="The address is the second item of what accept() returns: the client's (host, port).")
    finally:
        _close_sockets(value)
    lab.expect_args_open(result)
    return result


# -- open_listener --------------------------------------------------------------------------------------
@check(points=1, hint=LISTEN_HINT)
def test_opens_a_listener(lab):
    """open_listener() returns a socket listening on 127.0.0.1, on a port the OS chose"""
    with _returned_listener(lab, lab.call("open_listener")) as listener:
        _expect_listening(lab, listener, "open_listener()", family=socket.AF_INET, host="127.0.0.1")


@check(points=1, hint=REUSE_HINT)
def test_sets_so_reuseaddr(lab):
    """open_listener() sets SO_REUSEADDR on the listener"""
    with _returned_listener(lab, lab.call("open_listener")) as listener:
        if not listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR):
            raise Failure("the listener does not have SO_REUSEADDR set",
                          expected="getsockopt(SOL_SOCKET, SO_REUSEADDR) != 0", actual="0")


@check(points=2, hint=REUSE_HINT, depends="opens_a_listener")
def test_reopens_port_after_server_closed_first(lab):
    """open_listener() re-opens a port right after a connection the server closed first (TIME_WAIT)"""
    _restart_after_active_close(lab, "127.0.0.1")


@check(points=2, hint=BUSY_HINT)
def test_busy_port_raises_eaddrinuse(lab):
    """open_listener() on a port already in use raises OSError (EADDRINUSE) at once"""
    _expect_busy_port_refused(lab)


@check(points=1, hint=CLOSE_HINT, depends="busy_port_raises_eaddrinuse")
def test_closes_socket_when_bind_fails(lab):
    """open_listener() on a busy port leaves no socket open"""
    occupant = lab.listener()
    result = lab.call("open_listener", "127.0.0.1", occupant.getsockname()[1])
    _close_sockets(result.value)
    lab.expect_no_leaks(result, hint=CLOSE_HINT)


@check(points=2, hint=IPV6_HINT)
def test_opens_ipv6_listener(lab):
    """open_listener("::1") returns an IPv6 socket listening on ::1"""
    with _returned_listener(lab, lab.call("open_listener", "::1"), hint=IPV6_HINT) as listener:
        _expect_listening(lab, listener, "open_listener('::1')", family=socket.AF_INET6, host="::1", hint=IPV6_HINT)


# -- accept_one ------------------------------------------------------------------------------------------
@check(points=1, hint="accept_one returns what listener.accept() returns: (conn, address). Don't close the listener.")
def test_accept_one_returns_the_connection(lab):
    """accept_one(listener, 5.0) returns (conn, address) for a client that connected"""
    _accept_a_queued_client(lab, lab.listener())


@check(points=2, hint=TIMEOUT_HINT)
def test_accept_one_times_out(lab):
    """accept_one(listener, 0.2) raises TimeoutError when nobody connects"""
    listener = lab.listener()
    result = lab.call("accept_one", listener, SHORT_TIMEOUT, deadline=5.0)
    _close_sockets(result.value)
    lab.expect_raises(result, TimeoutError)
    # Why half: a correct wait of 0.2 s never returns sooner; raising at once means it never waited.
    if result.elapsed < SHORT_TIMEOUT / 2:
        raise Failure(f"{result.shown} raised TimeoutError after {result.elapsed * 1000:.0f} ms: "
                      f"it must wait {SHORT_TIMEOUT} s for a client first")


@check(points=1, hint=RESTORE_HINT, depends="accept_one_returns_the_connection")
def test_accept_one_keeps_listener_timeout(lab):
    """after accept_one returns a connection, the listener's timeout is what it was (None, then 3.0)"""
    for before in (None, 3.0):
        listener = _listener_with_timeout(lab, before)
        result = _accept_a_queued_client(lab, listener)
        _expect_timeout_kept(lab, listener, before, "accept_one returned a connection", result)


@check(points=1, hint=RESTORE_HINT, depends="accept_one_times_out")
def test_accept_one_keeps_listener_timeout_after_timeout_error(lab):
    """after accept_one raises TimeoutError, the listener's timeout is what it was"""
    listener = _listener_with_timeout(lab, None)
    # Why 0.05 s: only the restoring is checked here; the waiting was checked by accept_one_times_out.
    result = lab.call("accept_one", listener, 0.05, deadline=5.0)
    _close_sockets(result.value)
    lab.expect_raises(result, TimeoutError, hint=TIMEOUT_HINT)
    _expect_timeout_kept(lab, listener, None, "accept_one raised TimeoutError", result)
