"""Bug: _recv_exactly asks recv for a whole 64 KiB each time and cuts the result to n bytes, so when frames arrive glued together the bytes after this frame, the start of the next one, are read out of the socket and thrown away.

Should fail: two frames glued in one segment: the first is returned, the second is lost (the next recv_frame returns None at EOF, or blocks); after one recv_frame nothing of the next frame is left in the socket.
Caught by: recv_frame_separates_glued_frames, recv_frame_leaves_next_frame_in_socket
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
        chunk = sock.recv(65536)  # read a good big chunk...
        if not chunk:
            raise EOFError(f"peer closed after {len(data)} of {n} bytes")
        data += chunk
    return bytes(data[:n])  # ...and keep the n bytes we wanted


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
