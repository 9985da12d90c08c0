"""Stage 02: open a listening TCP socket, and accept one connection on it.

A server binds a socket to a local address, turns it into a listener with
listen(), and then takes the connections the kernel has already completed,
one accept() at a time.
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
    raise NotImplementedError(
        "getaddrinfo(host, port) for the family; set SO_REUSEADDR, bind, listen; close the socket if bind fails"
    )


def accept_one(
    listener: socket.socket, timeout: float | None = None
) -> tuple[socket.socket, tuple]:
    """Wait for one connection on listener and return (conn, address).

    timeout is in seconds; None waits as long as it takes. When no connection
    arrives in time, raise TimeoutError. Either way, the listener's own timeout
    (listener.gettimeout()) is the same after the call as before it, and the
    listener stays open. The caller owns conn.
    """
    raise NotImplementedError(
        "save listener.gettimeout(), settimeout(timeout), accept(), restore the saved timeout in a finally"
    )
