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
    # One recv returns whatever has arrived: maybe 1 byte of a 2-byte field, maybe the
    # field and the start of the next one. Asking only for what is still missing means
    # we never take bytes that belong to the next field (there is nowhere to keep them).
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"peer closed after {len(data)} of {n} bytes")
        data += chunk
    return bytes(data)


def _check_name(name: str) -> None:
    """Helper: raise TransferError unless `name` is a safe plain file name.

    Refused: "", absolute names, and names containing "/", "\\\\", ".." or NUL.
    """
    # Refuse, never "clean up": a name that needs cleaning is either an attack or a bug
    # in the sender, and a silently rewritten name would surprise both ends. Each rule
    # closes one way out of dest_dir:
    #   "/" and absolute names: dest_dir / "/etc/passwd" is "/etc/passwd" in pathlib;
    #   "..": "../x" climbs out of dest_dir (and ".." alone names the parent itself);
    #   "\\": a path separator on Windows, and on the disk of anyone who copies the file there;
    #   NUL: C APIs end the string there, so the OS would see a different name than we check.
    if not name:
        raise TransferError("empty file name")
    if os.path.isabs(name) or "/" in name or "\\" in name:
        raise TransferError(f"file name {name!r} is a path, not a plain name")
    if ".." in name:
        raise TransferError(f"file name {name!r} contains '..'")
    if "\0" in name:
        raise TransferError(f"file name {name!r} contains a NUL byte")
    if name == ".":
        # "." is the directory itself: no file could be written under that name.
        raise TransferError("file name '.' names the directory itself")


def _read_answer(sock: socket.socket) -> bytes:
    """Helper: return the receiver's answer line without its b"\\n".

    Raises TransferError if the receiver closes before a complete line arrives.
    """
    # The answer is the last thing on the connection, so reading more than one line's
    # worth cannot steal anything from a later message: there is none.
    buf = bytearray()
    while b"\n" not in buf:
        if len(buf) > MAX_ANSWER:
            raise TransferError(f"answer longer than {MAX_ANSWER} bytes without a newline")
        chunk = sock.recv(1024)
        if not chunk:
            raise TransferError(f"receiver closed before answering (got {bytes(buf)!r})")
        buf += chunk
    return bytes(buf[: buf.index(b"\n")])


def _try_answer(sock: socket.socket, line: str) -> None:
    """Helper: send one answer line; a connection that is already gone is not an error."""
    # Keep the answer on one line whatever the reason text holds.
    text = line.replace("\n", " ").replace("\r", " ")
    try:
        sock.sendall(text.encode("utf-8", "replace") + b"\n")
    except OSError:
        pass


def send_file(sock: socket.socket, path: str | os.PathLike) -> None:
    """Send the file at `path` on the connected socket `sock`, then wait for the answer.

    Sends the header (name = the last component of `path`), then the content, streamed
    in chunks (never the whole file in memory). Returns when the receiver answers OK.
    Raises TransferError if it answers ERR or closes without answering, ValueError if
    the file name cannot be sent (longer than 1024 bytes in UTF-8). Does not close `sock`.
    """
    path = Path(path)
    name = path.name.encode("utf-8")
    if not 1 <= len(name) <= MAX_NAME:
        raise ValueError(f"file name must be 1..{MAX_NAME} bytes in UTF-8, not {len(name)}")

    with open(path, "rb") as f:
        # The digest goes in the header, before the content, so the file is read twice:
        # once to hash it, once to send it. Both passes are chunked, so memory stays flat.
        # (hashlib.file_digest does the first pass too, but only from Python 3.11.)
        digest = hashlib.sha256()
        size = 0
        while chunk := f.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)

        header = struct.pack("!H", len(name)) + name + struct.pack("!Q", size) + digest.digest()
        f.seek(0)
        try:
            sock.sendall(header)
            # sendall, not send: send may take only part of a chunk and return the count.
            while chunk := f.read(CHUNK_SIZE):
                sock.sendall(chunk)
        except ConnectionError as exc:
            # A receiver that refuses the upload answers ERR and closes without reading
            # the rest, so our sending can fail with a reset or a broken pipe. Its ERR
            # line may still be waiting in our receive buffer: that is the useful error.
            try:
                answer = _read_answer(sock)
            except (OSError, TransferError):
                raise exc from None
            reason = answer.decode("utf-8", "replace")
            raise TransferError(f"receiver refused the upload: {reason!r}") from exc

    answer = _read_answer(sock)
    if answer != b"OK":
        reason = answer.decode("utf-8", "replace")
        raise TransferError(f"receiver answered {reason!r}")


def receive_file(sock: socket.socket, dest_dir: str | os.PathLike) -> Path:
    """Receive one file from `sock` into the directory `dest_dir` and answer the sender.

    Refuses unsafe names ("", absolute, or containing "/", "\\\\", ".." or NUL) before
    touching the disk. Streams the content into a temporary file inside `dest_dir`,
    checks size and SHA-256 digest, then renames it to its final name (replacing a file
    of the same name), answers b"OK\\n" and returns the final path. On any failure:
    answers b"ERR <reason>\\n" if the connection still allows, leaves nothing new in
    `dest_dir`, and raises TransferError. Does not close `sock`.
    """
    dest = Path(dest_dir)
    tmp_path: Path | None = None
    try:
        # 1. The header, field by field, each read exactly: the fields may arrive in
        #    pieces, or glued to each other and to the content.
        (name_len,) = struct.unpack("!H", _recv_exactly(sock, 2))
        if not 1 <= name_len <= MAX_NAME:
            raise TransferError(f"name length {name_len} is not in 1..{MAX_NAME}")
        # Strict UTF-8: a name we cannot decode is a name we cannot check.
        name = _recv_exactly(sock, name_len).decode("utf-8")
        # 2. Judge the name before anything touches the disk.
        _check_name(name)
        size, digest = struct.unpack("!Q32s", _recv_exactly(sock, 8 + DIGEST_SIZE))

        # 3. Stream into a temporary file in dest_dir itself. Same directory = same file
        #    system, which is what makes the final os.replace atomic: readers see the old
        #    file or the complete new one, never half a file. mkstemp picks a fresh name
        #    (no clash with a concurrent upload) and creates it with O_EXCL; the "."
        #    prefix keeps it out of a plain `ls`.
        fd, tmp = tempfile.mkstemp(dir=dest, prefix=".", suffix=".part")
        tmp_path = Path(tmp)
        hasher = hashlib.sha256()
        with open(fd, "wb") as f:
            remaining = size
            while remaining:
                # Ask for at most what is still missing: bytes after the content are not
                # the file's. (Size 0 skips the loop: an empty file is a valid file.)
                chunk = sock.recv(min(CHUNK_SIZE, remaining))
                if not chunk:
                    raise EOFError(f"sender closed after {size - remaining} of {size} bytes")
                hasher.update(chunk)
                f.write(chunk)
                remaining -= len(chunk)
            # No os.fsync(f.fileno()) here: it would make the data survive a power cut,
            # at the price of waiting for the disk on every upload. A server that promises
            # durability adds it (and fsyncs the directory after the rename); this course
            # keeps the lesson on the network side.

        # 4. Verify before the file becomes visible under its real name. (The size needs
        #    no check of its own: the loop above read exactly `size` bytes or raised.)
        if hasher.digest() != digest:
            raise TransferError("SHA-256 digest mismatch: the content is not what was announced")

        # 5. The atomic rename. os.replace (unlike os.rename on Windows) also replaces an
        #    existing file of the same name.
        final = dest / name
        os.replace(tmp_path, final)
        tmp_path = None  # it is the real file now: the cleanup below must not touch it
    except (TransferError, OSError, EOFError, ValueError) as exc:
        # OSError: the disk (full, no permission) or the socket (reset, TimeoutError);
        # EOFError: the sender vanished mid-file; ValueError: a name that is not UTF-8.
        # Clean up FIRST, answer second: a sender that reads our ERR may look at
        # dest_dir at once, and must find nothing of its failed upload there.
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)
            tmp_path = None
        if isinstance(exc, OSError):
            # Say what went wrong, but not where: exc's file names are our server's paths.
            reason = f"cannot receive the file: {exc.strerror or type(exc).__name__}"
        else:
            reason = str(exc)
        _try_answer(sock, f"ERR {reason}")
        if isinstance(exc, TransferError):
            raise
        # Whatever went wrong, the caller catches one exception type; the original
        # stays attached as __cause__ for the traceback.
        raise TransferError(reason) from exc
    finally:
        # Failures nobody foresaw (KeyboardInterrupt, a bug) pass here too: the
        # half-written temporary must never stay behind in dest_dir.
        if tmp_path is not None:
            tmp_path.unlink(missing_ok=True)

    # The file is safely in place; now tell the sender. If the sender has already gone,
    # the upload still succeeded: the answer is for the sender, the file is for us.
    _try_answer(sock, "OK")
    return final


def upload(host: str, port: int, path: str | os.PathLike, timeout: float = 30.0) -> None:
    """Connect to (host, port), send the file at `path` with send_file, and close.

    `timeout` (seconds) bounds the connect and every later blocking call (TimeoutError).
    Raises TransferError if the receiver refuses the file. The socket is closed on every
    path.
    """
    # create_connection tries every address the name resolves to (IPv6 and IPv4) and
    # sets the timeout for the connect and everything after it.
    with socket.create_connection((host, port), timeout=timeout) as sock:
        send_file(sock, path)


def serve_uploads(listener: socket.socket, dest_dir: str | os.PathLike, clients: int) -> list[Path]:
    """Accept `clients` connections one after another and receive one file on each.

    Returns the paths of the files saved, in order. A failed upload is answered ERR,
    its connection closed, and the server goes on with the next client; it is not fatal.
    Each connection is closed after its upload; `listener` is never closed.
    """
    saved: list[Path] = []
    for _ in range(clients):
        conn, _address = listener.accept()
        with conn:  # closes the connection whatever happens below
            # A sender that goes silent must not hold the server forever.
            conn.settimeout(CLIENT_TIMEOUT)
            try:
                saved.append(receive_file(conn, dest_dir))
            except TransferError:
                # receive_file has already answered ERR and cleaned up; this client is
                # done, the next one deserves service.
                continue
    return saved
