"""Correct, in the CPython docs' words: the family is checked against socket.AF_INET/AF_INET6 (enums or plain ints alike), names come from sock.family.name / sock.type.name, and errno.ENOTCONN is the one getpeername() error taken for "no peer"."""

import errno
import socket


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family."""
    if family != socket.AF_INET and family != socket.AF_INET6:
        raise ValueError(f"not an internet family: {family!r}")
    return socket.socket(family, socket.SOCK_STREAM)


def _pair(address: tuple) -> tuple:
    host, port = address[0], address[1]
    return (host, port)


def describe_socket(sock: socket.socket) -> dict[str, object]:
    """Describe what the kernel knows about sock, without changing or closing it."""
    name = sock.getsockname()
    try:
        peer = _pair(sock.getpeername())
    except OSError as exc:
        if exc.errno != errno.ENOTCONN:
            raise
        peer = None
    timeout = sock.gettimeout()
    return {
        "family": sock.family.name,
        "type": sock.type.name,
        "local": _pair(name) if name[1] else None,
        "peer": peer,
        "blocking": timeout != 0.0,
        "timeout": timeout,
    }
