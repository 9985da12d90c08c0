"""Correct solution in a table style: explicit dicts map family and type numbers to their names."""

import errno
import socket

SUPPORTED_FAMILIES = (socket.AF_INET, socket.AF_INET6)

FAMILY_NAMES = {socket.AF_INET: "AF_INET", socket.AF_INET6: "AF_INET6"}
TYPE_NAMES = {socket.SOCK_STREAM: "SOCK_STREAM", socket.SOCK_DGRAM: "SOCK_DGRAM"}


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family.

    family is socket.AF_INET (IPv4, the default) or socket.AF_INET6 (IPv6).
    Any other family raises ValueError, and no socket is created.
    The caller owns the socket and must close it.
    """
    if family not in FAMILY_NAMES:
        raise ValueError(f"unsupported address family: {family!r}")
    return socket.socket(family, socket.SOCK_STREAM)


def describe_socket(sock: socket.socket) -> dict[str, object]:
    """Describe what the kernel knows about sock, without changing or closing it.

    Returns a dict with exactly these keys:
      "family":   "AF_INET" or "AF_INET6"
      "type":     "SOCK_STREAM" or "SOCK_DGRAM"
      "local":    (host, port) the socket is bound to, or None when it is not bound
      "peer":     (host, port) of the other end, or None when it is not connected
      "blocking": True unless the socket is in non-blocking mode (timeout 0.0)
      "timeout":  the socket's timeout in seconds (a float), or None for none
    Host/port pairs are always 2-tuples, even for IPv6.
    """
    host, port, *_ = sock.getsockname()
    local = None if port == 0 else (host, port)

    try:
        peer_host, peer_port, *_ = sock.getpeername()
        peer = (peer_host, peer_port)
    except OSError as exc:
        # Only "not connected" means "no peer"; anything else is a real error.
        if exc.errno != errno.ENOTCONN:
            raise
        peer = None

    timeout = sock.gettimeout()
    return {
        "family": FAMILY_NAMES[sock.family],
        "type": TYPE_NAMES[sock.type],
        "local": local,
        "peer": peer,
        "blocking": timeout != 0.0,
        "timeout": timeout,
    }
