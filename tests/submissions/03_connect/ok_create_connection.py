"""Correct, in the shortest style: socket.create_connection does the address loop, and fetch_line grows a bytes buffer."""

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
    # create_connection resolves the name, tries each address in turn with `timeout`,
    # closes the failures, leaves the timeout set, and re-raises the last error.
    return socket.create_connection((host, port), timeout=timeout)


def fetch_line(host: str, port: int, timeout: float = 5.0, max_line: int = 65536) -> bytes:
    """Connect to (host, port), read the first line the server sends, close, and
    return that line without its b"\\n".

    The line may arrive in any number of pieces. The server closing before a b"\\n"
    raises EOFError. More than `max_line` bytes without a b"\\n" raises ValueError.
    The socket is closed on every path, errors included.
    """
    with connect(host, port, timeout) as sock:
        data = b""
        while b"\n" not in data:
            if len(data) > max_line:
                raise ValueError("line too long")
            chunk = sock.recv(CHUNK_SIZE)
            if chunk == b"":
                raise EOFError("server closed before sending a whole line")
            data += chunk
        line = data.split(b"\n", 1)[0]
        if len(line) > max_line:
            raise ValueError("line too long")
        return line
