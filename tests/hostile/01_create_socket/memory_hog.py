"""Hostile: grabs all the memory it can (touching every page), keeps it, then does nothing useful.

Expect: the worker's memory bound stops it (MemoryError, or the worker is killed), the
stage is worth 0, the machine and the batch go on.
"""

import socket

HOARD = []
try:
    while True:
        HOARD.append(b"x" * (64 * 1024 * 1024))  # bytes are filled: the pages are really used
except MemoryError:
    pass


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family."""
    HOARD.append(bytearray(b"y" * (512 * 1024 * 1024)))
    raise NotImplementedError("hostile: nothing here")


def describe_socket(sock: socket.socket) -> dict[str, object]:
    """Describe what the kernel knows about sock, without changing or closing it."""
    raise NotImplementedError("hostile: nothing here")
