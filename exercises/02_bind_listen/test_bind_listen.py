"""Public checks for stage 02: opening listeners and accepting one connection.

Two facts about how sockets cross to the student's code shape these checks:
- a socket the student returns comes back to the grader as the same kernel socket, so the
  grader connects reference clients to it and accepts them through its own copy;
- a listener the grader passes in stays the grader's, but its timeout lives in the Python
  object, and only its trace in the kernel crosses back: the fd's O_NONBLOCK flag, clear
  for "no timeout" (blocking), set for any timeout or non-blocking mode. So "the listener's
  timeout is as before" is checked as "it is blocking exactly when it was blocking".
"""

import socket

from graders.api import DEADLINE, Failure, check, close_sockets, socket_kind
from graders.api import bind_listen as shared  # what these checks share with the hidden ones

BUSY_HINT = ("Let bind()'s OSError (EADDRINUSE) propagate: the caller asked for THAT port. Don't retry, "
             "don't pick another port, don't return None.")
CLOSE_HINT = ("When bind() fails, close the socket you made before the error leaves the function: "
              "try: ... except BaseException: sock.close(); raise")
TIMEOUT_HINT = ("Use the timeout: listener.settimeout(timeout) before accept() (or select.select([listener], "
                "[], [], timeout)); accept() then raises TimeoutError when nobody comes in time.")
RESTORE_HINT = ("The listener is the caller's: save listener.gettimeout() first, set yours, and put the "
                "saved value back in a `finally:` — so it is restored after a TimeoutError too.")


# -- helpers ----------------------------------------------------------------------------------------
def _expect_listening(lab, listener: socket.socket, shown: str, *, family: socket.AddressFamily,
                      host: str | None, hint: str = shared.LISTEN_HINT) -> None:
    """The listener has the right family, a real port, listens, and a client gets through."""
    expected_family = socket.AddressFamily(family).name
    if socket_kind(listener) != (expected_family, "SOCK_STREAM"):
        raise Failure(f"{shown} returned a socket of the wrong family or type",
                      expected=f"{expected_family}, SOCK_STREAM", actual=", ".join(socket_kind(listener)), hint=hint)
    address = listener.getsockname()[:2]
    if address[1] == 0:
        raise Failure(f"{shown} returned a socket that is not bound", expected="bound to a port",
                      actual=f"getsockname() is {listener.getsockname()!r}", hint=hint)
    if host is not None and address[0] != host:
        raise Failure(f"{shown} bound the wrong address", expected=f"{host!r}", actual=f"{address[0]!r}", hint=hint)
    if hasattr(socket, "SO_ACCEPTCONN") and not listener.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        raise Failure(f"{shown} returned a socket that is bound to port {address[1]} but not listening: "
                      "every connection to it is refused", hint=hint)
    shared.accept_through(lab, listener, hint)


def _accept_a_queued_client(lab, listener: socket.socket, timeout: float | None = 5.0):
    """A client connects first (its connection waits in the accept queue), then accept_one runs."""
    client = lab.client(listener.getsockname()[:2], [], name="client", timeout=DEADLINE)
    client.wait(DEADLINE)
    assert client.sock is not None and not client.problem, f"the grader's client could not connect: {client.problem}"
    expected = client.sock.getsockname()[:2]
    result = lab.call("accept_one", listener, timeout)
    value = lab.returned(result, hint=shared.ACCEPT_HINT)
    try:
        shared.expect_conn_and_address(result, value)
        conn, address = value
        shared.expect_the_clients_connection(result, conn, expected)
        if not isinstance(address, (tuple, list)) or tuple(address[:2]) != expected:
            raise Failure(f"{result.shown} returned the wrong address", expected=repr(expected), actual=repr(address),
                          hint="The address is the second item of what accept() returns: the client's (host, port).")
    finally:
        close_sockets(value)
    lab.expect_args_open(result)
    return result


# -- open_listener --------------------------------------------------------------------------------------
@check(points=1, hint=shared.LISTEN_HINT)
def test_opens_a_listener(lab):
    """open_listener() returns a socket listening on 127.0.0.1, on a port the OS chose"""
    with shared.returned_listener(lab, lab.call("open_listener")) as listener:
        _expect_listening(lab, listener, "open_listener()", family=socket.AF_INET, host="127.0.0.1")


@check(points=1, hint=shared.REUSE_HINT)
def test_sets_so_reuseaddr(lab):
    """open_listener() sets SO_REUSEADDR on the listener"""
    with shared.returned_listener(lab, lab.call("open_listener")) as listener:
        if not listener.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR):
            raise Failure("the listener does not have SO_REUSEADDR set",
                          expected="getsockopt(SOL_SOCKET, SO_REUSEADDR) != 0", actual="0")


@check(points=2, hint=shared.REUSE_HINT, depends="opens_a_listener")
def test_reopens_port_after_server_closed_first(lab):
    """open_listener() re-opens a port right after a connection the server closed first (TIME_WAIT)"""
    shared.restart_after_active_close(lab, "127.0.0.1", wrong_port_hint=BUSY_HINT)


@check(points=2, hint=BUSY_HINT)
def test_busy_port_raises_eaddrinuse(lab):
    """open_listener() on a port already in use raises OSError (EADDRINUSE) at once"""
    result = shared.expect_busy_port_refused(lab, socket.AF_INET, hint=BUSY_HINT)
    # Why 3 s: a failing bind() returns in microseconds; only retrying (forbidden) takes this long.
    if result.elapsed > 3.0:
        raise Failure(f"{result.shown} took {result.elapsed:.1f} s to raise: a busy port must be reported at once",
                      hint=BUSY_HINT)


@check(points=1, hint=CLOSE_HINT, depends="busy_port_raises_eaddrinuse")
def test_closes_socket_when_bind_fails(lab):
    """open_listener() on a busy port leaves no socket open"""
    occupant = lab.listener()
    with shared.exit_told(shared.EXIT_HINT):
        result = lab.call("open_listener", "127.0.0.1", occupant.getsockname()[1])
    close_sockets(result.value)
    lab.expect_no_leaks(result, hint=CLOSE_HINT)


@check(points=2, hint=shared.IPV6_HINT)
def test_opens_ipv6_listener(lab):
    """open_listener("::1") returns an IPv6 socket listening on ::1"""
    with shared.returned_listener(lab, lab.call("open_listener", "::1"), hint=shared.IPV6_HINT) as listener:
        _expect_listening(lab, listener, "open_listener('::1')", family=socket.AF_INET6, host="::1",
                          hint=shared.IPV6_HINT)


@check(points=1, hint="A host may be a name: getaddrinfo(host, port, type=socket.SOCK_STREAM, "
       "flags=socket.AI_PASSIVE) resolves it and says which family to use.")
def test_opens_a_listener_for_a_name(lab):
    """open_listener("localhost") returns a listener that a client reaches at its address"""
    with shared.returned_listener(lab, lab.call("open_listener", "localhost")) as listener:
        host, port = listener.getsockname()[:2]
        if port == 0 or host not in ("127.0.0.1", "::1"):
            raise Failure("open_listener('localhost') is not bound to a loopback address and a port",
                          expected="('127.0.0.1', port) or ('::1', port)", actual=repr((host, port)))
        shared.accept_through(lab, listener, shared.LISTEN_HINT)


# -- accept_one ------------------------------------------------------------------------------------------
@check(points=1, hint="accept_one returns what listener.accept() returns: (conn, address). Don't close the listener.")
def test_accept_one_returns_the_connection(lab):
    """accept_one(listener, None) returns (conn, address) for a client that connected (None: no time limit)"""
    _accept_a_queued_client(lab, lab.listener(), timeout=None)


@check(points=2, hint=TIMEOUT_HINT)
def test_accept_one_times_out(lab):
    """accept_one(listener, 0.2) raises TimeoutError when nobody connects"""
    listener = lab.listener()
    result = lab.call("accept_one", listener, shared.SHORT_TIMEOUT, deadline=5.0)
    close_sockets(result.value)
    lab.expect_raises(result, TimeoutError)
    # Why half: a correct wait of 0.2 s never returns sooner; raising at once means it never waited.
    if result.elapsed < shared.SHORT_TIMEOUT / 2:
        raise Failure(f"{result.shown} raised TimeoutError after {result.elapsed * 1000:.0f} ms: "
                      f"it must wait {shared.SHORT_TIMEOUT} s for a client first")


@check(points=1, hint=RESTORE_HINT, depends="accept_one_returns_the_connection")
def test_accept_one_keeps_listener_timeout(lab):
    """after accept_one returns a connection, the listener's timeout is what it was (None, then 3.0)"""
    for before in (None, 3.0):
        listener = shared.listener_with_timeout(lab, before)
        result = _accept_a_queued_client(lab, listener)
        shared.expect_timeout_kept(lab, listener, before, "accept_one returned a connection", result,
                                   hint=RESTORE_HINT)


@check(points=1, hint=RESTORE_HINT, depends="accept_one_times_out")
def test_accept_one_keeps_listener_timeout_after_timeout_error(lab):
    """after accept_one raises TimeoutError, the listener's timeout is what it was"""
    listener = shared.listener_with_timeout(lab, None)
    # Why 0.05 s: only the restoring is checked here; the waiting was checked by accept_one_times_out.
    result = lab.call("accept_one", listener, 0.05, deadline=5.0)
    close_sockets(result.value)
    lab.expect_raises(result, TimeoutError, hint=TIMEOUT_HINT)
    shared.expect_timeout_kept(lab, listener, None, "accept_one raised TimeoutError", result, hint=RESTORE_HINT)
