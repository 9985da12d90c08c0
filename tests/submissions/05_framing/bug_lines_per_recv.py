"""Bug: read_lines splits each recv on its own, as if every recv delivered whole lines, so a line that arrives in pieces comes out as several lines.

Should fail: b"hello\n" dribbled one byte at a time yields "h", "e", "l", "l", "o", "" instead of "hello"; a split multi-byte character raises UnicodeDecodeError.
Caught by: read_lines_joins_dribbled_line
"""

import socket
import struct
from collections.abc import Iterator

MAX_FRAME = 16 * 1024 * 1024


def encode_frame(payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME:
        raise ValueError(f"payload of {len(payload)} bytes exceeds MAX_FRAME ({MAX_FRAME})")
    return struct.pack("!I", len(payload)) + payload


def send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(encode_frame(payload))


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Exactly n bytes from sock; EOFError if the peer closes first."""
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(min(n - len(data), 65536))
        if not chunk:
            raise EOFError(f"peer closed after {len(data)} of {n} bytes")
        data += chunk
    return bytes(data)


def recv_frame(sock: socket.socket) -> bytes | None:
    # The first recv tells a clean EOF (b"" before any byte) from a frame that started.
    first = sock.recv(4)
    if not first:
        return None
    header = first + _recv_exactly(sock, 4 - len(first))
    (length,) = struct.unpack("!I", header)
    if length > MAX_FRAME:
        raise ValueError(f"frame announces {length} bytes, more than MAX_FRAME ({MAX_FRAME})")
    return _recv_exactly(sock, length)


def read_lines(sock: socket.socket, max_line: int = 65536) -> Iterator[str]:
    while True:
        data = sock.recv(65536)
        if not data:
            break
        lines = data.split(b"\n")
        if lines[-1] == b"":
            lines.pop()  # data ended with a newline
        for line in lines:
            if len(line) > max_line:
                raise ValueError(f"line of {len(line)} bytes exceeds max_line ({max_line})")
            yield line.decode("utf-8")
