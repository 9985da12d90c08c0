"""Bug: the family argument is checked but never used, so every socket is IPv4 and an IPv6 caller silently gets the wrong kind of socket.

Should fail: create_tcp_socket(socket.AF_INET6) returns a socket whose family is AF_INET.
Caught by: creates_ipv6_tcp_socket
"""

import socket

SUPPORTED_FAMILIES = (socket.AF_INET, socket.AF_INET6)


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family.

    family is socket.AF_INET (IPv4, the default) or socket.AF_INET6 (IPv6).
    Any other family raises ValueError, and no socket is created.
    The caller owns the socket and must close it.
    """
    if family not in SUPPORTED_FAMILIES:
        raise ValueError(f"family must be AF_INET or AF_INET6, not {family!r}")
    return socket.socket(socket.AF_INET, socket.SOCK_STREAM)


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
    family = socket.AddressFamily(sock.family).name
    kind = socket.SocketKind(sock.type).name

    local_address = sock.getsockname()
    local = local_address[:2] if local_address[1] != 0 else None

    try:
        peer = sock.getpeername()[:2]
    except OSError:
        peer = None

    return {
        "family": family,
        "type": kind,
        "local": local,
        "peer": peer,
        "blocking": sock.getblocking(),
        "timeout": sock.gettimeout(),
    }
