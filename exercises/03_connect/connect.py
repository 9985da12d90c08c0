"""Stage 03 — connect as a client: reach a server by name, then read one line from it.

Read exercises/03_connect/README.md first; `tcplab check 3` checks your work.
"""

import socket

# How much one recv() asks for. Any size is correct (TCP may hand back fewer bytes
# anyway); 4 KiB keeps the number of calls low without holding much memory.
CHUNK_SIZE = 4096


def connect(host: str, port: int, timeout: float = 5.0) -> socket.socket:
    """Return a TCP socket connected to (host, port).

    Tries every address that name resolution gives for `host`, in order, so that
    "localhost" works whichever family (IPv6 or IPv4) the server listens on.
    `timeout` (seconds) bounds each connect attempt and stays set on the returned
    socket. Nothing listening raises ConnectionRefusedError; every failed attempt's
    socket is closed.
    """
    raise NotImplementedError(
        "loop over socket.getaddrinfo(host, port, type=socket.SOCK_STREAM): socket, settimeout, connect; close failures, re-raise the last"
    )


def fetch_line(host: str, port: int, timeout: float = 5.0, max_line: int = 65536) -> bytes:
    """Connect to (host, port), read the first line the server sends, close, and
    return that line without its b"\\n".

    The line may arrive in any number of pieces. The server closing before a b"\\n"
    raises EOFError. More than `max_line` bytes without a b"\\n" raises ValueError.
    The socket is closed on every path, errors included.
    """
    raise NotImplementedError(
        "with connect(...) as sock: recv and append until a b'\\n' arrives; b'' -> EOFError, too long -> ValueError"
    )
