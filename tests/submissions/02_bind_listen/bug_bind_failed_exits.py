"""Bug: open_listener() handles a failed bind() as the classic tutorial server does, `print('Bind failed. Error Code : ...'); sys.exit()`, which ends the caller's whole program instead of letting the OSError (EADDRINUSE) reach the caller.

Should fail: open_listener on a port that is already in use calls sys.exit(); the grader reports that a function must return or raise, and hints at closing the socket and letting the OSError propagate (not at returning None or picking another port).
Caught by: busy_port_raises_eaddrinuse, busy_ipv6_port_raises_eaddrinuse
"""

import socket
import sys


def open_listener(host: str = "127.0.0.1", port: int = 0, backlog: int = 128) -> socket.socket:
    """Return a TCP socket bound to (host, port) and listening, with SO_REUSEADDR set."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    s = socket.socket(family, kind, proto)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        s.bind(address)
    except OSError as msg:
        print("Bind failed. Error Code : " + str(msg.errno) + " Message " + msg.strerror)
        s.close()
        sys.exit()
    s.listen(backlog)
    return s


def accept_one(listener: socket.socket, timeout: float | None = None) -> tuple[socket.socket, tuple]:
    """Wait for one connection on listener and return (conn, address)."""
    saved = listener.gettimeout()
    listener.settimeout(timeout)
    try:
        return listener.accept()
    finally:
        listener.settimeout(saved)
