"""Correct, in the style of Foundations of Python Network Programming: a recvall() helper, a
send loop that counts what send() took (over a memoryview, so nothing is copied), and
read_lines built on bytes.partition.
"""

import socket
import struct
from collections.abc import Iterator

MAX_FRAME = 16 * 1024 * 1024
header_struct = struct.Struct("!I")  # messages up to 2**32 - 1 in length


def encode_frame(payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME:
        raise ValueError("payload too long for one frame")
    return header_struct.pack(len(payload)) + payload


def send_frame(sock: socket.socket, payload: bytes) -> None:
    view = memoryview(encode_frame(payload))
    while view:
        sent = sock.send(view)
        view = view[sent:]


def recvall(sock: socket.socket, length: int, *, started: bool = True) -> bytes | None:
    blocks = []
    while length:
        block = sock.recv(length)
        if not block:
            if not blocks and not started:
                return None
            raise EOFError(f"socket closed with {length} bytes left in this block")
        length -= len(block)
        blocks.append(block)
        started = True
    return b"".join(blocks)


def recv_frame(sock: socket.socket) -> bytes | None:
    data = recvall(sock, header_struct.size, started=False)
    if data is None:
        return None
    (block_length,) = header_struct.unpack(data)
    if block_length > MAX_FRAME:
        raise ValueError(f"peer announced {block_length} bytes")
    return recvall(sock, block_length)


def read_lines(sock: socket.socket, max_line: int = 65536) -> Iterator[str]:
    pending = b""
    while True:
        data = sock.recv(4096)
        if not data:
            break
        pending += data
        while True:
            line, found, rest = pending.partition(b"\n")
            if not found:
                break
            if len(line) > max_line:
                raise ValueError("line too long")
            yield line.decode()
            pending = rest
        if len(pending) > max_line:
            raise ValueError("line too long")
    if pending:
        yield pending.decode()
