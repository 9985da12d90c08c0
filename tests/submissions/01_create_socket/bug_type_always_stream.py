"""Bug: describe_socket() hard-codes "type": "SOCK_STREAM" ("create_tcp_socket only makes TCP sockets"), but the contract has it describe any TCP or UDP socket: a UDP socket is reported as TCP.

Should fail: describe_socket of a UDP socket (fresh, bound or connected) reports type "SOCK_STREAM" instead of "SOCK_DGRAM"; TCP sockets are described correctly.
Caught by: describes_a_fresh_socket, describes_udp_sockets
"""

import socket


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family."""
    if family not in (socket.AF_INET, socket.AF_INET6):
        raise ValueError(f"family must be AF_INET or AF_INET6, not {family!r}")
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
        "type": "SOCK_STREAM",
        "local": local[:2] if local[1] != 0 else None,
        "peer": peer,
        "blocking": sock.getblocking(),
        "timeout": sock.gettimeout(),
    }
