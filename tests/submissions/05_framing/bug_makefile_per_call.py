"""Bug: recv_frame wraps the socket in a new sock.makefile("rb") on every call; its BufferedReader reads ahead up to 8 KiB, and the bytes of the next frame it swallowed are thrown away with the file object.

Should fail: two frames arriving glued in one segment: the first is returned, the second recv_frame returns None (peer closed) or blocks, because its bytes were lost.
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
        chunk = sock.recv(min(n - len(data), 65536))
        if not chunk:
            raise EOFError(f"peer closed after {len(data)} of {n} bytes")
        data += chunk
    return bytes(data)


def recv_frame(sock: socket.socket) -> bytes | None:
    # A file object reads exactly n bytes for us: read(n) loops until it has them.
    with sock.makefile("rb") as f:
        header = f.read(4)
        if not header:
            return None
        if len(header) < 4:
            raise EOFError(f"peer closed after {len(header)} of the 4 header bytes")
        (length,) = struct.unpack("!I", header)
        if length > MAX_FRAME:
            raise ValueError(f"frame announces {length} bytes, more than MAX_FRAME ({MAX_FRAME})")
        payload = f.read(length)
        if len(payload) < length:
            raise EOFError(f"peer closed after {len(payload)} of the {length} payload bytes")
        return payload


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
