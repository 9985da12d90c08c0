"""Bug: fetch_line() calls connect(host, port) without passing its own `timeout` on, so the socket gets connect()'s default of 5 s: a silent server is given up on after 5 s, not after the `timeout` the caller asked for.

Should fail: fetch_line(host, port, timeout=0.3) against a server that accepts and says nothing raises TimeoutError only after about 5 s instead of about 0.3 s.
Caught by: fetch_line_times_out_on_a_silent_server
"""

import socket

CHUNK_SIZE = 4096


def connect(host: str, port: int, timeout: float = 5.0) -> socket.socket:
    """Return a TCP socket connected to (host, port), trying every address of host."""
    return socket.create_connection((host, port), timeout)


def fetch_line(host: str, port: int, timeout: float = 5.0, max_line: int = 65536) -> bytes:
    """Connect, read the first line the server sends, close, return it without its b"\\n"."""
    with connect(host, port) as sock:
        buffer = bytearray()
        while True:
            newline = buffer.find(b"\n")
            if newline != -1:
                if newline > max_line:
                    raise ValueError(f"line longer than {max_line} bytes")
                return bytes(buffer[:newline])
            if len(buffer) > max_line:
                raise ValueError(f"more than {max_line} bytes without a newline")
            chunk = sock.recv(CHUNK_SIZE)
            if not chunk:
                raise EOFError("server closed before a whole line")
            buffer += chunk
