"""Correct solution that picks the family with inet_pton and closes a half-made listener with contextlib.ExitStack."""

import contextlib
import socket


def _family_of(host: str) -> int:
    try:
        socket.inet_pton(socket.AF_INET6, host)
        return socket.AF_INET6
    except OSError:
        pass
    try:
        socket.inet_pton(socket.AF_INET, host)
        return socket.AF_INET
    except OSError:
        pass
    # Not a literal: a name such as "localhost", or "" for every interface.
    infos = socket.getaddrinfo(host or None, 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    return infos[0][0]


def open_listener(host: str = "127.0.0.1", port: int = 0, backlog: int = 128) -> socket.socket:
    """Return a TCP socket bound to (host, port) and listening, with SO_REUSEADDR set.

    host may be an IPv4 or IPv6 literal ("127.0.0.1", "::1") or a name; the
    address family follows from it. port 0 lets the operating system choose a
    free port (read it back with getsockname()). backlog is passed to listen().
    A port already in use raises OSError (errno EADDRINUSE) at once, and the
    socket made for the attempt is closed. The caller owns the listener.
    """
    with contextlib.ExitStack() as on_failure:
        sock = on_failure.enter_context(socket.socket(_family_of(host), socket.SOCK_STREAM))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        on_failure.pop_all()  # success: keep the socket open for the caller
        return sock


def accept_one(
    listener: socket.socket, timeout: float | None = None
) -> tuple[socket.socket, tuple]:
    """Wait for one connection on listener and return (conn, address).

    timeout is in seconds; None waits as long as it takes. When no connection
    arrives in time, raise TimeoutError. Either way, the listener's own timeout
    (listener.gettimeout()) is the same after the call as before it, and the
    listener stays open. The caller owns conn.
    """
    before = listener.gettimeout()
    try:
        listener.settimeout(timeout)
        return listener.accept()
    finally:
        listener.settimeout(before)
