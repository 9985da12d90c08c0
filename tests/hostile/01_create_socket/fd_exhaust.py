"""Hostile: opens files and sockets until the process has no file descriptor left, and keeps them.

The grader then cannot hand this worker a socket (the fd that carries it has nowhere to go).
Expect: the worker's own RLIMIT_NOFILE is what runs out, not the grader's; the stage is worth 0.
"""

import os
import socket

HELD = []
while True:
    try:
        HELD.append(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
        HELD.append(os.open(os.devnull, os.O_RDONLY))
    except OSError:
        break


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family."""
    return socket.socket(family, socket.SOCK_STREAM)  # fails: no fd left


def describe_socket(sock: socket.socket) -> dict[str, object]:
    """Describe what the kernel knows about sock, without changing or closing it."""
    raise NotImplementedError("hostile: nothing here")
