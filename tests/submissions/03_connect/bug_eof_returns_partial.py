r"""Bug: fetch_line() loops over recv() correctly but stops at b"" (EOF) and returns whatever it holds, so a server that closes before its newline is taken to have sent a whole line.

Should fail: a server that sends b"abc" and closes gets b"abc" back (and one that closes at once gets b""), instead of EOFError; the grader's hint is about raising EOFError at EOF, not about looping, since the loop is there.
Caught by: fetch_line_raises_eof_when_the_server_closes_early
"""

import socket

CHUNK_SIZE = 4096


def connect(host: str, port: int, timeout: float = 5.0) -> socket.socket:
    """Return a TCP socket connected to (host, port), trying every address of host."""
    return socket.create_connection((host, port), timeout)


def fetch_line(host: str, port: int, timeout: float = 5.0, max_line: int = 65536) -> bytes:
    """Connect, read the first line the server sends, close, return it without its b"\\n"."""
    with connect(host, port, timeout) as sock:
        buffer = bytearray()
        while b"\n" not in buffer:
            if len(buffer) > max_line:
                raise ValueError(f"more than {max_line} bytes without a newline")
            chunk = sock.recv(CHUNK_SIZE)
            if not chunk:
                break
            buffer += chunk
        line = bytes(buffer).split(b"\n", 1)[0]
        if len(line) > max_line:
            raise ValueError(f"line longer than {max_line} bytes")
        return line
