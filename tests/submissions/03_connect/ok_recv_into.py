"""Correct, allocation-free reading: recv_into a preallocated bytearray through a memoryview, scanning only the new bytes."""

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
    last: OSError | None = None
    for family, type_, proto, _name, address in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        sock = socket.socket(family, type_, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError as error:
            sock.close()
            last = error
        else:
            return sock
    try:
        raise last if last is not None else OSError(f"no address for {host!r}")
    finally:
        last = None


def fetch_line(host: str, port: int, timeout: float = 5.0, max_line: int = 65536) -> bytes:
    """Connect to (host, port), read the first line the server sends, close, and
    return that line without its b"\\n".

    The line may arrive in any number of pieces. The server closing before a b"\\n"
    raises EOFError. More than `max_line` bytes without a b"\\n" raises ValueError.
    The socket is closed on every path, errors included.
    """
    # Room for max_line bytes plus the newline: a full buffer without one is too long.
    buffer = bytearray(max_line + 1)
    view = memoryview(buffer)
    filled = 0
    with connect(host, port, timeout) as sock:
        while filled < len(buffer):
            got = sock.recv_into(view[filled:], min(CHUNK_SIZE, len(buffer) - filled))
            if got == 0:
                raise EOFError("server closed before a newline")
            end = buffer.find(b"\n", filled, filled + got)
            if end != -1:
                return bytes(view[:end])
            filled += got
    raise ValueError(f"more than {max_line} bytes without a newline")
