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
    # getaddrinfo turns the host into ready-made socket arguments, so "::1" gives
    # AF_INET6 and "127.0.0.1" gives AF_INET without us parsing anything.
    # AI_PASSIVE asks for addresses to bind to; with host None ("" here, meaning
    # every interface, as in bind(("", port))) it yields the wildcard address.
    infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _canonname, address = infos[0]

    sock = socket.socket(family, kind, proto)
    try:
        # SO_REUSEADDR must be set BEFORE bind(): the kernel looks at it while
        # binding. Without it, a port whose last connection is in TIME_WAIT
        # (the server closed first, minutes ago at most) cannot be bound again.
        # It does not let two listeners share a port: a live listener still
        # makes bind() fail with EADDRINUSE.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        # From here on the kernel completes three-way handshakes by itself and
        # queues up to `backlog` finished connections until we accept() them.
        sock.listen(backlog)
    except BaseException:
        # bind() failed (port in use, address not local, ...): close the socket
        # we made, or its file descriptor leaks, then let the error propagate
        # unchanged. Never retry elsewhere: the caller asked for THIS port.
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
    # The listener belongs to the caller, who may have set its own timeout (or
    # made it non-blocking). Borrow it: remember the setting, use ours, and put
    # theirs back in `finally`, so the restore happens on TimeoutError too.
    saved = listener.gettimeout()
    listener.settimeout(timeout)
    try:
        # accept() only dequeues a connection the kernel has already established;
        # with a timeout set, waiting too long raises TimeoutError.
        return listener.accept()
    finally:
        listener.settimeout(saved)
