"""Correct, decode-as-you-go style: read_lines feeds every recv to codecs.getincrementaldecoder("utf-8"), which holds back a character split across reads, and splits the text on "\n".
"""

import codecs
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
    # The incremental decoder keeps the first bytes of a character split across reads
    # until the rest arrives, so each recv can be decoded as it comes.
    decoder = codecs.getincrementaldecoder("utf-8")()
    pending: list[str] = []  # decoded text after the last "\n"
    pending_bytes = 0  # its size in UTF-8 bytes
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        text = decoder.decode(chunk)
        if "\n" in text:
            *lines, rest = ("".join(pending) + text).split("\n")
            for line in lines:
                size = len(line.encode("utf-8"))
                if size > max_line:
                    raise ValueError(f"line of {size} bytes exceeds max_line ({max_line})")
                yield line
            pending = [rest]
            pending_bytes = len(rest.encode("utf-8"))
        else:
            pending.append(text)
            pending_bytes += len(text.encode("utf-8"))
        if pending_bytes > max_line:
            raise ValueError(f"no newline within max_line ({max_line}) bytes")
    # final=True: bytes of a character cut off by EOF raise UnicodeDecodeError.
    last = "".join(pending) + decoder.decode(b"", final=True)
    if last:
        yield last
