"""Hostile: create_tcp_socket() spins forever (burning a CPU) instead of returning an IPv4 socket.

Expect: the call times out, its worker is killed, the stage is worth 0, the batch goes on.
"""

import socket


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family."""
    while family == socket.AF_INET:
        pass
    raise NotImplementedError("hostile: nothing here")


def describe_socket(sock: socket.socket) -> dict[str, object]:
    """Describe what the kernel knows about sock, without changing or closing it."""
    raise NotImplementedError("hostile: nothing here")
