"""Stage 01: make a TCP socket, then ask the kernel what it knows about one.

A socket is a handle (a file descriptor) on state the kernel keeps: the address
family, the socket type, the local and remote addresses, and how calls on it wait.
This stage creates TCP sockets and reads that state back.
"""

import socket

# The families this course works with. AF_UNIX sockets exist too, but they are
# addressed by file paths and never carry TCP: they are not for this module.
SUPPORTED_FAMILIES = (socket.AF_INET, socket.AF_INET6)


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family.

    family is socket.AF_INET (IPv4, the default) or socket.AF_INET6 (IPv6).
    Any other family raises ValueError, and no socket is created.
    The caller owns the socket and must close it.
    """
    raise NotImplementedError(
        "ValueError unless family is AF_INET/AF_INET6; else socket.socket(family, SOCK_STREAM)"
    )


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
    raise NotImplementedError(
        "build the dict from family, type, getsockname(), getpeername(), getblocking(), gettimeout()"
    )
