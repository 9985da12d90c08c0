"""Bug: accept_one() waits with select.select and computes its deadline as time.monotonic() + timeout, which fails for timeout=None ("waits as long as it takes", the default), so the default call raises TypeError.

Should fail: accept_one(listener, None) with a client already waiting raises TypeError (unsupported operand type(s) for +: 'float' and 'NoneType') instead of returning (conn, address); any number works.
Caught by: accept_one_returns_the_connection
"""

import select
import socket
import time


def open_listener(host: str = "127.0.0.1", port: int = 0, backlog: int = 128) -> socket.socket:
    """Return a TCP socket bound to (host, port) and listening, with SO_REUSEADDR set."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def accept_one(listener: socket.socket, timeout: float | None = None) -> tuple[socket.socket, tuple]:
    """Wait for one connection on listener and return (conn, address)."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no connection arrived in time")
        ready, _, _ = select.select([listener], [], [], left)
        if ready:
            try:
                conn, address = listener.accept()
            except BlockingIOError:
                continue  # the client went away between select and accept
            conn.setblocking(True)
            return conn, address
