r"""Bug: fetch_line() reads correctly up to the newline but returns line.strip(), which removes b"\r" (and spaces) as well as b"\n": the contract removes only the b"\n".

Should fail: a server sending b"hi\r\n" gets b"hi" back instead of b"hi\r"; lines without a b"\r" or edge spaces come back right.
Caught by: fetch_line_returns_only_the_first_line
"""

import socket

CHUNK_SIZE = 4096


def connect(host: str, port: int, timeout: float = 5.0) -> socket.socket:
    """Return a TCP socket connected to (host, port), trying every address of host."""
    return socket.create_connection((host, port), timeout)


def fetch_line(host: str, port: int, timeout: float = 5.0, max_line: int = 65536) -> bytes:
    """Connect, read the first line the server sends, close, return it without its b"\\n"."""
    with connect(host, port, timeout) as sock:
        buffer = b""
        while b"\n" not in buffer:
            if len(buffer) > max_line:
                raise ValueError(f"more than {max_line} bytes without a newline")
            chunk = sock.recv(CHUNK_SIZE)
            if not chunk:
                raise EOFError("server closed before a whole line")
            buffer += chunk
        line = buffer.split(b"\n", 1)[0]
        if len(line) > max_line:
            raise ValueError(f"line longer than {max_line} bytes")
        return line.strip()
