"""Hostile: every function ends the whole process with os._exit(0), a "clean" exit status.

Expect: each call is reported as a crash, the stage is worth 0, the batch goes on.
"""

import os
import socket


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family."""
    os._exit(0)


def describe_socket(sock: socket.socket) -> dict[str, object]:
    """Describe what the kernel knows about sock, without changing or closing it."""
    os._exit(0)
