"""Hostile: leaves a daemon behind — double fork, setsid, listening on a port, sleeping forever.

The daemon is neither the worker's child nor in its process group or session, so
killing the worker's group misses it.
Expect: the daemon is gone when the batch ends, and its port with it; the stage is worth 0.
"""

import os
import socket
import sys

MARKER = "tcplab-hostile-marker"
DAEMON = f"""
import socket, time  # {MARKER}
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 47476))
s.listen(1)
while True:
    time.sleep(60)
"""


def escape() -> None:
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            for fd in range(3):
                os.dup2(os.open(os.devnull, os.O_RDWR), fd)
            os.execv(sys.executable, [sys.executable, "-c", DAEMON])
        os._exit(0)


escape()


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family."""
    escape()
    raise NotImplementedError("hostile: nothing here")


def describe_socket(sock: socket.socket) -> dict[str, object]:
    """Describe what the kernel knows about sock, without changing or closing it."""
    raise NotImplementedError("hostile: nothing here")
