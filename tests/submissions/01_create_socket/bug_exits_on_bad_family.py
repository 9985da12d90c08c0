"""Bug: create_tcp_socket() reports an unsupported family the way many tutorial scripts report errors, print() then sys.exit(1), which ends the caller's whole program instead of raising ValueError.

Should fail: create_tcp_socket(socket.AF_UNIX) (or a made-up family) calls sys.exit(1); the grader reports that a function must return or raise, and hints at raising ValueError instead.
Caught by: rejects_other_families, accepts_plain_numbers_rejects_made_up_families
"""

import socket
import sys


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family."""
    if family not in (socket.AF_INET, socket.AF_INET6):
        print(f"Failed to create socket: unsupported family {family!r}")
        sys.exit(1)
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
