"""Bug: recv_frame returns None whenever the peer closes, even in the middle of a header or payload, so a truncated message looks like a normal end of stream and the loss goes unnoticed.

Should fail: a peer that sends a header announcing 10 bytes, then 3 bytes, then closes gets None instead of EOFError (same for 2 header bytes then close).
Caught by: recv_frame_raises_eoferror_in_header, recv_frame_raises_eoferror_in_payload
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


def _recv_exactly(sock: socket.socket, n: int) -> bytes | None:
    """Exactly n bytes from sock; None if the peer closes first."""
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(min(n - len(data), 65536))
        if not chunk:
            return None  # closed
        data += chunk
    return bytes(data)


def recv_frame(sock: socket.socket) -> bytes | None:
    header = _recv_exactly(sock, 4)
    if header is None:  # the peer closed: no more frames
        return None
    (length,) = struct.unpack("!I", header)
    if length > MAX_FRAME:
        raise ValueError(f"frame announces {length} bytes, more than MAX_FRAME ({MAX_FRAME})")
    return _recv_exactly(sock, length)


def read_lines(sock: socket.socket, max_line: int = 65536) -> Iterator[str]:
    buf = bytearray()
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        # Every piece but the last ended with b"\n"; the last is the start of the next line.
        *lines, buf = buf.split(b"\n")
        for line in lines:
            if len(line) > max_line:
                raise ValueError(f"line of {len(line)} bytes exceeds max_line ({max_line})")
            yield line.decode("utf-8")
        if len(buf) > max_line:
            raise ValueError(f"no newline within max_line ({max_line}) bytes")
    if buf:
        yield buf.decode("utf-8")
