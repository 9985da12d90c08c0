"""Bug: connect() follows the classic tutorial client, `except socket.error: print('Failed to connect'); sys.exit()`, which ends the caller's whole program instead of letting ConnectionRefusedError (or TimeoutError) reach the caller.

Should fail: connect() to a port where nothing listens, or to a name whose addresses all refuse, or to a server that never answers the handshake, calls sys.exit(); the grader hints at letting the error propagate.
Caught by: nothing_listening_raises_connection_refused, closes_the_sockets_of_failed_attempts, connect_times_out
"""

import socket
import sys

CHUNK_SIZE = 4096


def connect(host: str, port: int, timeout: float = 5.0) -> socket.socket:
    """Return a TCP socket connected to (host, port), trying every address of host."""
    try:
        return socket.create_connection((host, port), timeout)
    except OSError as msg:
        print(f"Failed to connect to {host} port {port}: {msg}")
        sys.exit()


def fetch_line(host: str, port: int, timeout: float = 5.0, max_line: int = 65536) -> bytes:
    """Connect, read the first line the server sends, close, return it without its b"\\n"."""
    with connect(host, port, timeout) as sock:
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
