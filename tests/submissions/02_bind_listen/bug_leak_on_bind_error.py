"""Bug: the socket is not closed when bind() fails, so every attempt on a busy port leaks a file descriptor until the garbage collector happens to run.

Should fail: open_listener(port=<busy>) raises OSError EADDRINUSE, but the socket it made is left open (fd count up by one while the error is held; a ResourceWarning 'unclosed socket' when it is dropped).
Caught by: closes_socket_when_bind_fails, busy_ipv6_port_raises_eaddrinuse
"""

import socket


def open_listener(host: str = "127.0.0.1", port: int = 0, backlog: int = 128) -> socket.socket:
    """Return a TCP socket bound to (host, port) and listening, with SO_REUSEADDR set.

    host may be an IPv4 or IPv6 literal ("127.0.0.1", "::1") or a name; the
    address family follows from it. port 0 lets the operating system choose a
    free port (read it back with getsockname()). backlog is passed to listen().
    A port already in use raises OSError (errno EADDRINUSE) at once, and the
    socket made for the attempt is closed. The caller owns the listener.
    """
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _canonname, address = infos[0]

    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(address)
    sock.listen(backlog)
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
    saved = listener.gettimeout()
    listener.settimeout(timeout)
    try:
        return listener.accept()
    finally:
        listener.settimeout(saved)
