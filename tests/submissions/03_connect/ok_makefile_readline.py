"""Correct, using a file object: sock.makefile("rb").readline(max_line + 1) does the buffering and bounds the read."""

import socket

CHUNK_SIZE = 4096


def connect(host: str, port: int, timeout: float = 5.0) -> socket.socket:
    """Return a TCP socket connected to (host, port).

    Tries every address that name resolution gives for `host`, in order, so that
    "localhost" works whichever family (IPv6 or IPv4) the server listens on.
    `timeout` (seconds) bounds each connect attempt and stays set on the returned
    socket. Nothing listening raises ConnectionRefusedError; every failed attempt's
    socket is closed.
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    for i, (family, type_, proto, _name, address) in enumerate(infos):
        sock = socket.socket(family, type_, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
        except OSError:
            sock.close()
            if i == len(infos) - 1:
                raise
        else:
            return sock
    raise OSError(f"no address for {host!r}")


def fetch_line(host: str, port: int, timeout: float = 5.0, max_line: int = 65536) -> bytes:
    """Connect to (host, port), read the first line the server sends, close, and
    return that line without its b"\\n".

    The line may arrive in any number of pieces. The server closing before a b"\\n"
    raises EOFError. More than `max_line` bytes without a b"\\n" raises ValueError.
    The socket is closed on every path, errors included.
    """
    with connect(host, port, timeout) as sock, sock.makefile("rb") as stream:
        # readline(limit) stops at b"\n" or after `limit` bytes, whichever comes first.
        line = stream.readline(max_line + 1)
    if line.endswith(b"\n"):
        return line[:-1]
    if len(line) > max_line:
        raise ValueError(f"more than {max_line} bytes without a newline")
    raise EOFError("server closed before a newline")
