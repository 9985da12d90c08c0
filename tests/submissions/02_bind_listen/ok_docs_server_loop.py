"""Correct, after the CPython socket docs' "Echo server program" (IPv4 and IPv6): a getaddrinfo loop over AF_UNSPEC/AI_PASSIVE results that keeps the first address that binds, re-raising the last error; accept_one borrows the listener's timeout in try/finally."""

import socket


def open_listener(host: str = "127.0.0.1", port: int = 0, backlog: int = 128) -> socket.socket:
    """Return a TCP socket bound to (host, port) and listening, with SO_REUSEADDR set."""
    error: OSError | None = None
    for res in socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM, 0, socket.AI_PASSIVE):
        af, socktype, proto, _canonname, sa = res
        try:
            s = socket.socket(af, socktype, proto)
        except OSError as msg:
            error = msg
            continue
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(sa)
            s.listen(backlog)
        except OSError as msg:
            s.close()
            error = msg
            continue
        return s
    raise error if error is not None else OSError(f"no address for {host!r}")


def accept_one(listener: socket.socket, timeout: float | None = None) -> tuple[socket.socket, tuple]:
    """Wait for one connection on listener and return (conn, address)."""
    old = listener.gettimeout()
    try:
        listener.settimeout(timeout)
        return listener.accept()
    finally:
        listener.settimeout(old)
