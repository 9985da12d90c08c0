"""Hostile: listens on every port it can guess (well-known ones, then the ephemeral range).

The listeners stay open for as long as the worker lives, so a grader that shared its
network with this submission would find its ports taken.
Expect: the squatting stays inside this submission's own network namespace; the
submissions graded beside it pass; no port is left listening afterwards.
"""

import random
import socket

GUESSES = [47474, 47475, 8000, 8080, 5000, 9000, 12345, 50000]
SQUATTED = []


def squat(family: int, host: str, port: int) -> None:
    try:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen(1)
        SQUATTED.append(s)
    except OSError:
        pass


try:
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low, high = map(int, f.read().split())
except (OSError, ValueError):
    low, high = 32768, 60999
ports = GUESSES + random.sample(range(low, high + 1), 150)
for port in ports:
    squat(socket.AF_INET, "0.0.0.0", port)
    squat(socket.AF_INET6, "::", port)


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family."""
    raise NotImplementedError(f"hostile: squatting {len(SQUATTED)} ports")


def describe_socket(sock: socket.socket) -> dict[str, object]:
    """Describe what the kernel knows about sock, without changing or closing it."""
    raise NotImplementedError("hostile: nothing here")
