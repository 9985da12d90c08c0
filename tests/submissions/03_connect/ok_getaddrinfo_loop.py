"""Correct, written out by hand: a getaddrinfo loop that remembers every error, and a fetch_line that keeps a list of chunks."""

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
    errors: list[OSError] = []
    addresses = socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM)
    for family, type_, proto, _name, address in addresses:
        sock = socket.socket(family, type_, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
            return sock
        except OSError as error:
            errors.append(error)
            sock.close()
    if not errors:
        raise OSError(f"no address for {host!r}")
    error = errors[-1]
    errors.clear()  # no reference cycle through the traceback
    raise error


def fetch_line(host: str, port: int, timeout: float = 5.0, max_line: int = 65536) -> bytes:
    """Connect to (host, port), read the first line the server sends, close, and
    return that line without its b"\\n".

    The line may arrive in any number of pieces. The server closing before a b"\\n"
    raises EOFError. More than `max_line` bytes without a b"\\n" raises ValueError.
    The socket is closed on every path, errors included.
    """
    sock = connect(host, port, timeout)
    try:
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = sock.recv(CHUNK_SIZE)
            if not chunk:
                raise EOFError("EOF before newline")
            head, newline, _tail = chunk.partition(b"\n")
            chunks.append(head)
            size += len(head)
            if size > max_line:
                raise ValueError("line exceeds max_line")
            if newline:
                return b"".join(chunks)
    finally:
        sock.close()
