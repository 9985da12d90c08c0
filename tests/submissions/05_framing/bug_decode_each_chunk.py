"""Bug: read_lines decodes each recv on its own with chunk.decode("utf-8"), which raises UnicodeDecodeError when a multi-byte character is split between two reads.

Should fail: b"caf\xc3" then b"\xa9\n" in separate segments raises UnicodeDecodeError instead of yielding "café"; pure ASCII input works.
Caught by: read_lines_decodes_split_characters, read_lines_split_at_every_position
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
    text = ""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        text += chunk.decode("utf-8")
        *lines, text = text.split("\n")
        for line in lines:
            if len(line.encode("utf-8")) > max_line:
                raise ValueError(f"line longer than max_line ({max_line}) bytes")
            yield line
        if len(text.encode("utf-8")) > max_line:
            raise ValueError(f"no newline within max_line ({max_line}) bytes")
    if text:
        yield text
