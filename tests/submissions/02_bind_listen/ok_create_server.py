"""Correct solution that lets socket.create_server do the work (it sets SO_REUSEADDR on POSIX and closes the socket if bind fails)."""

import socket


def open_listener(host: str = "127.0.0.1", port: int = 0, backlog: int = 128) -> socket.socket:
    """Return a TCP socket bound to (host, port) and listening, with SO_REUSEADDR set.

    host may be an IPv4 or IPv6 literal ("127.0.0.1", "::1") or a name; the
    address family follows from it. port 0 lets the operating system choose a
    free port (read it back with getsockname()). backlog is passed to listen().
    A port already in use raises OSError (errno EADDRINUSE) at once, and the
    socket made for the attempt is closed. The caller owns the listener.
    """
    family, _, _, _, address = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    # create_server sets SO_REUSEADDR before bind on POSIX, binds, listens, and
    # closes its socket before re-raising when bind fails (errno kept).
    # reuse_port=False: SO_REUSEPORT would let two listeners share the port.
    return socket.create_server(address, family=family, backlog=backlog, reuse_port=False)


def accept_one(
    listener: socket.socket, timeout: float | None = None
) -> tuple[socket.socket, tuple]:
    """Wait for one connection on listener and return (conn, address).

    timeout is in seconds; None waits as long as it takes. When no connection
    arrives in time, raise TimeoutError. Either way, the listener's own timeout
    (listener.gettimeout()) is the same after the call as before it, and the
    listener stays open. The caller owns conn.
    """
    previous = listener.gettimeout()
    listener.settimeout(timeout)
    try:
        conn, address = listener.accept()
    finally:
        listener.settimeout(previous)
    return conn, address
