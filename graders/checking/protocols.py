"""The course's wire formats as pure functions of bytes: no sockets here.

Reference peers build what they send and judge what they receive with these, and the
project's tests check them in memory. Rule: anything that decides what bytes mean lives
in this file, so a peer, a check and a test can never disagree about the protocol.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

FRAME_HEADER = struct.Struct("!I")
MAX_FRAME = 16 * 1024 * 1024


def encode_frame(payload: bytes) -> bytes:
    if len(payload) > MAX_FRAME:
        raise ValueError(f"frame of {len(payload)} bytes exceeds MAX_FRAME")
    return FRAME_HEADER.pack(len(payload)) + payload


def decode_frames(data: bytes) -> tuple[list[bytes], bytes]:
    """Every complete frame in `data`, and the bytes left over (an incomplete frame)."""
    frames, offset = [], 0
    while len(data) - offset >= FRAME_HEADER.size:
        (length,) = FRAME_HEADER.unpack_from(data, offset)
        end = offset + FRAME_HEADER.size + length
        if end > len(data):
            break
        frames.append(bytes(data[offset + FRAME_HEADER.size : end]))
        offset = end
    return frames, bytes(data[offset:])


# -- stage 06: the file-transfer header -----------------------------------------------
NAME_LENGTH = struct.Struct("!H")
CONTENT_SIZE = struct.Struct("!Q")
DIGEST_SIZE = 32


@dataclass(frozen=True)
class FileHeader:
    name: str
    size: int
    digest: bytes


def encode_file_header(name: str | bytes, size: int, digest: bytes) -> bytes:
    """The header; `name` may be raw bytes so that a peer can send hostile names."""
    raw = name.encode("utf-8") if isinstance(name, str) else name
    return NAME_LENGTH.pack(len(raw)) + raw + CONTENT_SIZE.pack(size) + digest


def file_message(name: str | bytes, content: bytes) -> bytes:
    """Header and content of one upload, as a correct sender would send them."""
    return encode_file_header(name, len(content), hashlib.sha256(content).digest()) + content


def parse_file_header(data: bytes) -> tuple[FileHeader, int] | None:
    """(header, bytes used) once `data` holds a whole header, else None."""
    if len(data) < NAME_LENGTH.size:
        return None
    (n,) = NAME_LENGTH.unpack_from(data)
    end = NAME_LENGTH.size + n + CONTENT_SIZE.size + DIGEST_SIZE
    if len(data) < end:
        return None
    name = data[2 : 2 + n].decode("utf-8", "replace")
    (size,) = CONTENT_SIZE.unpack_from(data, 2 + n)
    digest = bytes(data[2 + n + CONTENT_SIZE.size : end])
    return FileHeader(name, size, digest), end


def parse_upload(data: bytes) -> tuple[FileHeader, bytes] | None:
    """A whole upload (header and exactly `size` content bytes), or None if incomplete."""
    parsed = parse_file_header(data)
    if parsed is None:
        return None
    header, used = parsed
    if len(data) - used < header.size:
        return None
    return header, bytes(data[used : used + header.size])


# -- lines --------------------------------------------------------------------------
def split_lines(data: bytes) -> tuple[list[bytes], bytes]:
    """Complete b"\\n"-terminated lines (without the b"\\n") and the unterminated rest."""
    *lines, rest = data.split(b"\n")
    return lines, rest
