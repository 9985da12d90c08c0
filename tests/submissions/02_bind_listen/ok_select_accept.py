"""Correct solution whose accept_one waits with select.select and never touches the listener's timeout."""

import ipaddress
import select
import socket


def open_listener(host: str = "127.0.0.1", port: int = 0, backlog: int = 128) -> socket.socket:
    """Return a TCP socket bound to (host, port) and listening, with SO_REUSEADDR set.

    host may be an IPv4 or IPv6 literal ("127.0.0.1", "::1") or a name; the
    address family follows from it. port 0 lets the operating system choose a
    free port (read it back with getsockname()). backlog is passed to listen().
    A port already in use raises OSError (errno EADDRINUSE) at once, and the
    socket made for the attempt is closed. The caller owns the listener.
    """
    try:
        version = ipaddress.ip_address(host).version
        family = socket.AF_INET6 if version == 6 else socket.AF_INET
        address = (host, port)
    except ValueError:
        # Not a literal (a name such as "localhost", or "" for every interface):
        # let the resolver say which family and address to use.
        family, _, _, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]

    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
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
    # A listening socket becomes "readable" when a completed connection waits in
    # its accept queue, so select tells us accept() will not block.
    # (select.select cannot watch fds >= 1024; selectors/poll can, if that matters.)
    readable, _, _ = select.select([listener], [], [], timeout)
    if not readable:
        raise TimeoutError(f"no connection within {timeout} s")
    return listener.accept()
