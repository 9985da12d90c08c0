"""Bug: open_listener() picks the family with ipaddress.ip_address(host), which parses literals only, so a host given as a name (which the contract allows, e.g. "localhost") raises ValueError before any socket is made.

Should fail: open_listener("localhost") raises ValueError ("'localhost' does not appear to be an IPv4 or IPv6 address") instead of returning a listener on localhost's address; "127.0.0.1" and "::1" work.
Caught by: opens_a_listener_for_a_name
"""

import ipaddress
import socket


def open_listener(host: str = "127.0.0.1", port: int = 0, backlog: int = 128) -> socket.socket:
    """Return a TCP socket bound to (host, port) and listening, with SO_REUSEADDR set."""
    family = socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def accept_one(listener: socket.socket, timeout: float | None = None) -> tuple[socket.socket, tuple]:
    """Wait for one connection on listener and return (conn, address)."""
    saved = listener.gettimeout()
    listener.settimeout(timeout)
    try:
        return listener.accept()
    finally:
        listener.settimeout(saved)
