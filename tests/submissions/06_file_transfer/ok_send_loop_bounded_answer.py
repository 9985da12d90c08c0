"""Correct, in another style: send_file counts what each send() took over a memoryview instead of
calling sendall, and reads the answer one byte at a time (recv(1)) up to 1024 bytes; the receiver
keeps the whole header in one bytearray and parses it with struct.unpack_from.
"""

import hashlib
import os
import socket
import struct
import tempfile
from pathlib import Path

CHUNK_SIZE = 64 * 1024
MAX_NAME = 1024
DIGEST_SIZE = 32
MAX_ANSWER = 1024
CLIENT_TIMEOUT = 30.0


class TransferError(Exception):
    """A file transfer failed: the receiver answered ERR, or the upload was refused."""


def _send_all(sock: socket.socket, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[sock.send(view):]


def _recv_into(sock: socket.socket, buf: bytearray, n: int) -> None:
    """Appends exactly n bytes to buf."""
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise EOFError("peer closed mid-header")
        buf += chunk
        n -= len(chunk)


def send_file(sock: socket.socket, path: str | os.PathLike) -> None:
    path = Path(path)
    name = path.name.encode("utf-8")
    if not 1 <= len(name) <= MAX_NAME:
        raise ValueError("file name must be 1..1024 bytes")
    hasher = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK_SIZE), b""):
            hasher.update(block)
        size = f.tell()
        f.seek(0)
        _send_all(sock, struct.pack("!H", len(name)) + name + struct.pack("!Q", size) + hasher.digest())
        for block in iter(lambda: f.read(CHUNK_SIZE), b""):
            _send_all(sock, block)
    answer = bytearray()
    while not answer.endswith(b"\n"):
        if len(answer) >= MAX_ANSWER:
            raise TransferError("answer line too long")
        byte = sock.recv(1)
        if not byte:
            raise TransferError("receiver closed without answering")
        answer += byte
    if answer != b"OK\n":
        raise TransferError(answer.decode("utf-8", "replace").strip())


def _answer(sock: socket.socket, line: str) -> None:
    try:
        sock.sendall(line.replace("\n", " ").encode("utf-8", "replace") + b"\n")
    except OSError:
        pass


def receive_file(sock: socket.socket, dest_dir: str | os.PathLike) -> Path:
    dest = Path(dest_dir)
    header = bytearray()
    tmp = None
    try:
        _recv_into(sock, header, 2)
        (length,) = struct.unpack_from("!H", header)
        if not 1 <= length <= MAX_NAME:
            raise TransferError("bad name length")
        _recv_into(sock, header, length + 8 + DIGEST_SIZE)
        name = bytes(header[2:2 + length]).decode("utf-8")
        if (not name or os.path.isabs(name) or "/" in name or "\\" in name or ".." in name or "\0" in name
                or name == "."):
            raise TransferError("unsafe file name")
        size, digest = struct.unpack_from("!Q32s", header, 2 + length)
        fd, tmp = tempfile.mkstemp(dir=dest, prefix=".upload-")
        hasher = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            left = size
            while left:
                chunk = sock.recv(min(CHUNK_SIZE, left))
                if not chunk:
                    raise EOFError("sender closed mid-file")
                hasher.update(chunk)
                out.write(chunk)
                left -= len(chunk)
        if hasher.digest() != digest:
            raise TransferError("digest mismatch")
        final = dest / name
        os.replace(tmp, final)
        tmp = None
    except (TransferError, EOFError, OSError, ValueError) as exc:
        if tmp is not None:
            os.unlink(tmp)
        _answer(sock, f"ERR {exc}")
        if isinstance(exc, TransferError):
            raise
        raise TransferError(str(exc)) from exc
    _answer(sock, "OK")
    return final


def upload(host: str, port: int, path: str | os.PathLike, timeout: float = 30.0) -> None:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        send_file(sock, path)


def serve_uploads(listener: socket.socket, dest_dir: str | os.PathLike, clients: int) -> list[Path]:
    saved = []
    for _ in range(clients):
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(CLIENT_TIMEOUT)
            try:
                saved.append(receive_file(conn, dest_dir))
            except TransferError:
                pass
    return saved
