"""Bug: create_tcp_socket() validates `family` with isinstance(family, socket.AddressFamily), so a family given as a plain number (which the contract accepts: the enums are ints) is refused with ValueError.

Should fail: create_tcp_socket(int(socket.AF_INET6)) and create_tcp_socket(int(socket.AF_INET)) raise ValueError instead of returning a TCP socket of that family; the enums themselves still work.
Caught by: creates_ipv6_tcp_socket, accepts_plain_numbers_rejects_made_up_families
"""

import socket


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family."""
    if not isinstance(family, socket.AddressFamily) or family.name not in ("AF_INET", "AF_INET6"):
        raise ValueError(f"unsupported family {family!r}")
    return socket.socket(family, socket.SOCK_STREAM)


def describe_socket(sock: socket.socket) -> dict[str, object]:
    """Describe what the kernel knows about sock, without changing or closing it."""
    local = sock.getsockname()
    try:
        peer = sock.getpeername()[:2]
    except OSError:
        peer = None
    return {
        "family": socket.AddressFamily(sock.family).name,
        "type": socket.SocketKind(sock.type).name,
        "local": local[:2] if local[1] != 0 else None,
        "peer": peer,
        "blocking": sock.getblocking(),
        "timeout": sock.gettimeout(),
    }
