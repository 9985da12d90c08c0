"""Bug: recv_frame never compares the announced length with MAX_FRAME and preallocates bytearray(length), so a hostile header of 0xFFFFFFFF makes it allocate 4 GiB before reading a byte.

Should fail: a header announcing MAX_FRAME + 1 (or 0xFFFFFFFF) does not raise ValueError at once: the call blocks for the body (TimeoutError), raises EOFError when the peer closes, or MemoryError / huge peak RSS for 0xFFFFFFFF.
Caught by: recv_frame_refuses_length_above_max_frame, recv_frame_does_not_allocate_announced_length
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


def _recv_into(sock: socket.socket, view: memoryview) -> int:
    """Fill view from sock; return how many bytes arrived (fewer only if the peer closed)."""
    got = 0
    while got < len(view):
        n = sock.recv_into(view[got:])
        if n == 0:
            break
        got += n
    return got


def recv_frame(sock: socket.socket) -> bytes | None:
    header = bytearray(4)
    got = _recv_into(sock, memoryview(header))
    if got == 0:
        return None
    if got < 4:
        raise EOFError(f"peer closed after {got} of the 4 header bytes")
    (length,) = struct.unpack("!I", header)
    body = bytearray(length)
    got = _recv_into(sock, memoryview(body))
    if got < length:
        raise EOFError(f"peer closed after {got} of the {length} payload bytes")
    return bytes(body)


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
