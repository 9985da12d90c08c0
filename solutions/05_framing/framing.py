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
    # Refuse on the way out what we would refuse on the way in: a peer running this
    # module would reject the frame anyway, and '!I' could not even hold a length of
    # 4 GiB or more (struct.error instead of a clear message).
    if len(payload) > MAX_FRAME:
        raise ValueError(f"payload of {len(payload)} bytes exceeds MAX_FRAME ({MAX_FRAME} bytes)")
    # '!' = network byte order (big-endian, most significant byte first), standard sizes
    # and no padding; 'I' = unsigned int, exactly 4 bytes under '!'.
    return struct.pack("!I", len(payload)) + payload


def send_frame(sock: socket.socket, payload: bytes) -> None:
    """Send one frame carrying `payload` on the connected socket `sock`.

    Raises ValueError (before sending anything) if the payload is longer than MAX_FRAME.
    """
    # One buffer, one sendall: sendall loops over the partial sends for us, and
    # the header and the payload leave together instead of as two tiny segments.
    # encode_frame checks MAX_FRAME first, so nothing is sent for an oversized payload.
    sock.sendall(encode_frame(payload))


def recv_frame(sock: socket.socket) -> bytes | None:
    """Receive the next frame from `sock` and return its payload (b"" for an empty frame).

    Returns None if the peer closed the connection cleanly, before any byte of a new frame.
    Raises EOFError if the peer closed in the middle of a frame (header or payload).
    Raises ValueError, before reading or allocating the payload, if the announced length
    is larger than MAX_FRAME. Never reads a byte of the next frame from the socket.
    """
    # 1. The 4-byte header. It may arrive in pieces (even one byte at a time), so loop,
    #    asking only for what is still missing: asking for more could take bytes of the
    #    payload, and this function keeps no buffer to put them in.
    header = b""
    while len(header) < 4:
        chunk = sock.recv(4 - len(header))
        if not chunk:
            if not header:
                # EOF *between* frames: the peer finished normally.
                return None
            # EOF *inside* the header: the peer vanished mid-message.
            raise EOFError(f"peer closed after {len(header)} of the 4 header bytes")
        header += chunk

    (length,) = struct.unpack("!I", header)

    # 2. Never believe a length before checking it. A hostile or buggy peer can announce
    #    0xFFFFFFFF (4 GiB); reading or allocating that much first is how servers die.
    if length > MAX_FRAME:
        raise ValueError(f"frame announces {length} bytes, more than MAX_FRAME ({MAX_FRAME})")

    # 3. The payload: exactly `length` bytes, again asking only for what is missing, so
    #    the next frame's bytes stay in the socket for the next call. A zero-length frame
    #    skips the loop and returns b"" — an empty message, not the end of the stream.
    body = bytearray()
    while len(body) < length:
        chunk = sock.recv(min(length - len(body), 65536))
        if not chunk:
            raise EOFError(f"peer closed after {len(body)} of the {length} payload bytes")
        body += chunk
    return bytes(body)


def read_lines(sock: socket.socket, max_line: int = 65536) -> Iterator[str]:
    """Yield the newline-terminated UTF-8 lines arriving on `sock`, each without its "\\n".

    Stops at EOF; a non-empty last line that has no "\\n" is still yielded. Raises
    ValueError if a line (not counting its "\\n") is longer than `max_line` bytes — even
    before its newline arrives. Multi-byte characters may arrive split across reads.
    Invalid UTF-8 raises UnicodeDecodeError (a ValueError).
    """
    # One buffer for the whole connection: bytes after the last newline of a recv are
    # the start of the next line and must be kept for the next round.
    buf = bytearray()
    scanned = 0  # bytes of buf already searched for b"\n": don't scan them again
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        buf += chunk
        while (newline := buf.find(b"\n", scanned)) != -1:
            line = buf[:newline]
            del buf[: newline + 1]
            scanned = 0
            if len(line) > max_line:
                raise ValueError(f"line of {len(line)} bytes exceeds max_line ({max_line})")
            # Decode complete lines only: a UTF-8 character never contains the byte
            # b"\n", so a complete line holds only complete characters, however the
            # bytes were split between reads.
            yield line.decode("utf-8")
        scanned = len(buf)
        # No newline in sight and already too long: fail now rather than buffer a
        # peer's endless line until memory runs out.
        if len(buf) > max_line:
            raise ValueError(f"line longer than max_line ({max_line} bytes) without a newline")

    # EOF. A last line without its newline is still a line; an empty buffer is not one.
    if buf:
        yield buf.decode("utf-8")
