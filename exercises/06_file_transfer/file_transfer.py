"""Stage 6 — transfer a file over TCP: a header, streamed content, one answer line.

The sender sends a header (the file's name, size and SHA-256 digest), then exactly
`size` bytes of content; the receiver streams the content into a temporary file in the
destination directory, checks size and digest, renames the file into place, and answers
one line: b"OK\\n" or b"ERR <reason>\\n".

    header:  !H name length N (1..1024) | N bytes UTF-8 name | !Q size | 32-byte SHA-256
    content: exactly `size` bytes
    answer:  b"OK\\n" or b"ERR <reason>\\n"   (receiver -> sender)

Nothing here ever holds a whole file in memory, and nothing trusts the peer's file name.
"""

import hashlib  # noqa: F401  (unused in the stub until you write the functions)
import os
import socket
import struct  # noqa: F401  (unused in the stub until you write the functions)
import tempfile  # noqa: F401  (unused in the stub until you write the functions)
from pathlib import Path

# 64 KiB per read and per write: large enough that the per-call cost of Python and of
# the system call disappears next to the copying (throughput is close to what bigger
# chunks give), small enough that memory use stays flat whatever the file size.
CHUNK_SIZE = 64 * 1024

# The protocol allows file names of 1..1024 bytes (UTF-8 encoded). The limit is checked
# before the name is read, so a peer cannot make the receiver buffer 64 KiB of "name".
MAX_NAME = 1024

# SHA-256 digests are 32 raw bytes (not the 64-character hex string).
DIGEST_SIZE = 32

# The longest answer line send_file accepts, as the protocol says: "ERR " and a reason of a
# few hundred bytes at most. A peer that sends more without a newline is not speaking it.
MAX_ANSWER = 1024

# How long serve_uploads waits on one silent client before giving up on it: generous for
# a slow network, but finite, so one stalled sender cannot block the server forever.
CLIENT_TIMEOUT = 30.0


class TransferError(Exception):
    """A file transfer failed: the receiver answered ERR, or the upload was refused."""


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Helper: return exactly `n` bytes from `sock`; EOFError if the peer closes first."""
    raise NotImplementedError("loop on recv(n - len(data)) until n bytes; EOFError on b''")


def _check_name(name: str) -> None:
    """Helper: raise TransferError unless `name` is a safe plain file name.

    Refused: "", absolute names, and names containing "/", "\\\\", ".." or NUL.
    """
    raise NotImplementedError("TransferError for '', absolute, '/', '\\', '..' or NUL in the name")


def _read_answer(sock: socket.socket) -> bytes:
    """Helper: return the receiver's answer line without its b"\\n".

    Raises TransferError if the receiver closes before a complete line arrives.
    """
    raise NotImplementedError("recv until you have a newline; TransferError on EOF before it")


def _try_answer(sock: socket.socket, line: str) -> None:
    """Helper: send one answer line; a connection that is already gone is not an error."""
    raise NotImplementedError("sock.sendall(line as UTF-8 + newline); ignore OSError (peer gone)")


def send_file(sock: socket.socket, path: str | os.PathLike) -> None:
    """Send the file at `path` on the connected socket `sock`, then wait for the answer.

    Sends the header (name = the last component of `path`), then the content, streamed
    in chunks (never the whole file in memory). Returns when the receiver answers OK.
    Raises TransferError if it answers ERR or closes without answering, ValueError if
    the file name cannot be sent (longer than 1024 bytes in UTF-8). Does not close `sock`.
    """
    raise NotImplementedError("hash in chunks; send header, content in chunks; read the answer")


def receive_file(sock: socket.socket, dest_dir: str | os.PathLike) -> Path:
    """Receive one file from `sock` into the directory `dest_dir` and answer the sender.

    Refuses unsafe names ("", absolute, or containing "/", "\\\\", ".." or NUL) before
    touching the disk. Streams the content into a temporary file inside `dest_dir`,
    checks size and SHA-256 digest, then renames it to its final name (replacing a file
    of the same name), answers b"OK\\n" and returns the final path. On any failure:
    answers b"ERR <reason>\\n" if the connection still allows, leaves nothing new in
    `dest_dir`, and raises TransferError. Does not close `sock`.
    """
    raise NotImplementedError("read header exactly, check name, stream to temp, verify, replace")


def upload(host: str, port: int, path: str | os.PathLike, timeout: float = 30.0) -> None:
    """Connect to (host, port), send the file at `path` with send_file, and close.

    `timeout` (seconds) bounds the connect and every later blocking call (TimeoutError).
    Raises TransferError if the receiver refuses the file. The socket is closed on every
    path.
    """
    raise NotImplementedError("socket.create_connection(...) in a with block, then send_file")


def serve_uploads(listener: socket.socket, dest_dir: str | os.PathLike, clients: int) -> list[Path]:
    """Accept `clients` connections one after another and receive one file on each.

    Returns the paths of the files saved, in order. A failed upload is answered ERR,
    its connection closed, and the server goes on with the next client; it is not fatal.
    Each connection is closed after its upload; `listener` is never closed.
    """
    raise NotImplementedError("accept, receive_file, skip the client on TransferError, close it")
