"""Messages between the grader and a worker: length-prefixed JSON over a Unix socket, fds beside.

Each message is an 8-byte header (`!II`: body length, fd count) sent with `sendmsg` so the
fds ride on the header's first byte (SCM_RIGHTS), followed by the JSON body. The body is
bounded: a worker cannot make the grader allocate more than MAX_BODY.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

HEADER = struct.Struct("!II")
# Why: results carry at most a few MiB of bytes (base64); anything bigger is a hostile or
# broken worker, and refusing it keeps the grader's memory bounded.
MAX_BODY = 64 * 1024 * 1024
MAX_FDS = 64


class WireClosed(EOFError):
    """The other side closed the channel (for the grader: the worker died)."""


def send_message(chan: socket.socket, data: Any, fds: list[int] | None = None) -> None:
    body = json.dumps(data, separators=(",", ":")).encode("utf-8")
    fds = list(fds or [])
    header = HEADER.pack(len(body), len(fds))
    if fds:
        socket.send_fds(chan, [header], fds)
    else:
        chan.sendall(header)
    chan.sendall(body)


def recv_message(chan: socket.socket) -> tuple[Any, list[int]]:
    """One message and the fds that came with it (the caller owns and must close them)."""
    header, fds = _recv_header(chan)
    length, nfds = HEADER.unpack(header)
    if length > MAX_BODY or nfds != len(fds):
        for fd in fds:
            _close_fd(fd)
        raise ValueError(f"malformed message from the worker (length {length}, fds {nfds}/{len(fds)})")
    body = bytearray()
    while len(body) < length:
        chunk = chan.recv(min(length - len(body), 1 << 20))
        if not chunk:
            for fd in fds:
                _close_fd(fd)
            raise WireClosed("channel closed inside a message")
        body += chunk
    try:
        return json.loads(body), fds
    except ValueError:
        for fd in fds:
            _close_fd(fd)
        raise


def _recv_header(chan: socket.socket) -> tuple[bytes, list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(chan, HEADER.size, MAX_FDS)
    if not data:
        raise WireClosed("channel closed")
    data = bytearray(data)
    while len(data) < HEADER.size:
        more = chan.recv(HEADER.size - len(data))
        if not more:
            raise WireClosed("channel closed inside a header")
        data += more
    return bytes(data), list(fds)


def _close_fd(fd: int) -> None:
    import os

    try:
        os.close(fd)
    except OSError:
        pass
