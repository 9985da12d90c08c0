"""Stage 5 — frame messages on a TCP byte stream: length-prefixed frames and UTF-8 lines.

TCP delivers a stream of bytes, not messages: one send may arrive in many recv calls and
several sends may arrive in one. A protocol has to mark where each message ends. This
module does it twice: with a 4-byte big-endian length in front of each payload (frames),
and with a newline after each line of text (lines).
"""

import socket
import struct  # noqa: F401  (unused in the stub until you write the functions)
from collections.abc import Iterator

MAX_FRAME = 16 * 1024 * 1024  # largest payload a frame may announce: 16 MiB


def encode_frame(payload: bytes) -> bytes:
    """Return `payload` framed: its length as 4 bytes (unsigned, big-endian), then the payload.

    Raises ValueError if the payload is longer than MAX_FRAME bytes.
    """
    raise NotImplementedError("length as '!I' (struct.pack) + payload; ValueError above MAX_FRAME")


def send_frame(sock: socket.socket, payload: bytes) -> None:
    """Send one frame carrying `payload` on the connected socket `sock`.

    Raises ValueError (before sending anything) if the payload is longer than MAX_FRAME.
    """
    raise NotImplementedError("send all of encode_frame(payload): one send() may take only part")


def recv_frame(sock: socket.socket) -> bytes | None:
    """Receive the next frame from `sock` and return its payload (b"" for an empty frame).

    Returns None if the peer closed the connection cleanly, before any byte of a new frame.
    Raises EOFError if the peer closed in the middle of a frame (header or payload).
    Raises ValueError, before reading or allocating the payload, if the announced length
    is larger than MAX_FRAME. Never reads a byte of the next frame from the socket.
    """
    raise NotImplementedError("read exactly 4 header bytes, check MAX_FRAME, read exactly the body")


def read_lines(sock: socket.socket, max_line: int = 65536) -> Iterator[str]:
    """Yield the newline-terminated UTF-8 lines arriving on `sock`, each without its "\\n".

    Stops at EOF; a non-empty last line that has no "\\n" is still yielded. Raises
    ValueError if a line (not counting its "\\n") is longer than `max_line` bytes — even
    before its newline arrives. Multi-byte characters may arrive split across reads.
    Invalid UTF-8 raises UnicodeDecodeError (a ValueError).
    """
    raise NotImplementedError("one buffer: add each recv, yield complete lines, keep the remainder")
