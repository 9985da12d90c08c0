"""Correct, file-object style: read_lines keeps one sock.makefile("rb") for the whole generator and bounds each readline(max_line + 1).
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
    # One buffered reader for the whole generator: whatever it reads ahead stays in its
    # buffer for the next readline. (The file object does not close the socket.)
    with sock.makefile("rb") as reader:
        while True:
            # At most max_line + 1 bytes: a full-length line plus its b"\n" still fits,
            # and anything longer shows up as max_line + 1 bytes with no newline.
            line = reader.readline(max_line + 1)
            if not line:
                return
            if line.endswith(b"\n"):
                yield line[:-1].decode("utf-8")
            elif len(line) > max_line:
                raise ValueError(f"no newline within max_line ({max_line}) bytes")
            else:
                yield line.decode("utf-8")  # the unterminated last line, at EOF
