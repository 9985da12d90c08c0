"""Correct solution in try/except style: the family is validated by converting it with socket.AddressFamily."""

import socket

SUPPORTED_FAMILIES = (socket.AF_INET, socket.AF_INET6)


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family.

    family is socket.AF_INET (IPv4, the default) or socket.AF_INET6 (IPv6).
    Any other family raises ValueError, and no socket is created.
    The caller owns the socket and must close it.
    """
    try:
        name = socket.AddressFamily(family).name
    except (ValueError, TypeError):
        raise ValueError(f"unknown address family: {family!r}") from None
    if name not in ("AF_INET", "AF_INET6"):
        raise ValueError(f"{name} is not an internet family; TCP needs AF_INET or AF_INET6")
    return socket.socket(family, socket.SOCK_STREAM)


def _address_or_none(get_address) -> tuple[str, int] | None:
    try:
        address = get_address()
    except OSError:  # ENOTCONN from getpeername on an unconnected socket
        return None
    if address[1] == 0:  # port 0: not bound yet
        return None
    return (address[0], address[1])


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
    return {
        "family": socket.AddressFamily(sock.family).name,
        "type": socket.SocketKind(sock.type).name,
        "local": _address_or_none(sock.getsockname),
        "peer": _address_or_none(sock.getpeername),
        "blocking": sock.getblocking(),
        "timeout": sock.gettimeout(),
    }
