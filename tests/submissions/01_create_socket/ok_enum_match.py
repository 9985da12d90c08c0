"""Correct solution using a match statement and the AddressFamily/SocketKind enums' names."""

import socket

SUPPORTED_FAMILIES = (socket.AF_INET, socket.AF_INET6)

# What getsockname() says for a socket that has no address yet.
UNBOUND = {("0.0.0.0", 0), ("::", 0)}


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family.

    family is socket.AF_INET (IPv4, the default) or socket.AF_INET6 (IPv6).
    Any other family raises ValueError, and no socket is created.
    The caller owns the socket and must close it.
    """
    match family:
        case socket.AF_INET | socket.AF_INET6:
            return socket.socket(family, socket.SOCK_STREAM)
        case _:
            raise ValueError(f"not an internet family: {family!r}")


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
    local = tuple(sock.getsockname()[:2])
    if local in UNBOUND:
        local = None

    peer = None
    try:
        peer = tuple(sock.getpeername()[:2])
    except OSError:
        pass

    return {
        "family": socket.AddressFamily(sock.family).name,
        "type": socket.SocketKind(sock.type).name,
        "local": local,
        "peer": peer,
        "blocking": sock.getblocking(),
        "timeout": sock.gettimeout(),
    }
