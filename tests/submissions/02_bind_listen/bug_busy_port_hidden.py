"""Bug: a failed bind() is 'handled' by binding to port 0 instead, so a busy port is silently replaced by a random one and clients of the requested port reach the wrong server or nothing.

Should fail: open_listener(port=<a port another listener holds>) returns a listener on a different port instead of raising OSError EADDRINUSE.
Caught by: busy_port_raises_eaddrinuse, busy_ipv6_port_raises_eaddrinuse
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
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError:
            sock.bind((address[0], 0))
        sock.listen(backlog)
    except BaseException:
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
    saved = listener.gettimeout()
    listener.settimeout(timeout)
    try:
        return listener.accept()
    finally:
        listener.settimeout(saved)
