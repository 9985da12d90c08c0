"""Public checks for stage 06, streaming: receive_file keeps up with the reference solution, and
receive_file and send_file move a 128 MiB file in constant memory.

How these checks stay honest:
- the throughput check compares with a reference receiver timed in the same run, on the
  same machine, and allows ten times its time (at least 3 s): load can only make both
  slower, and only a byte-at-a-time loop is that slow;
- the 128 MiB memory checks never hold the file in the grader either: the content is one
  1 MiB block sent (or written) 128 times, whose digest is computed once per run, in the
  background; the receiver of send_file's upload compares each block as it arrives;
- each memory check runs its call in a fresh worker, so that the peak measured is its own;
- each check here depends on a basic check of the same function: a receive_file or send_file
  that does not work at all is told so once, not again at 128 MiB.

README rules: "receive_file" — stream the content into a temporary file (concept 3: stream,
don't load; the chunk size matters for speed); "send_file" — the content in chunks, never the
whole file in memory.
"""

import functools
import hashlib
import os
import socket
import threading
import time
from pathlib import Path

from graders.api import (
    DEADLINE,
    CallTimedOut,
    Failure,
    check,
    connected_pair,
    encode_file_header,
)
from graders.api import file_transfer as shared  # what the checks of this stage share

# Why 8 MiB: a correct receiver moves it in a few hundredths of a second; a recv(1) loop
# needs 8 million system calls, about 20 s (measured: 2.2 s per MiB for the bare loop).
SPEED_MIB = 8
# The time the student gets for SPEED_MIB: SPEED_FACTOR × the reference's, never under SPEED_FLOOR.
SPEED_FACTOR = 10
SPEED_FLOOR = 3.0

SPEED_HINT = ("Read the content in big chunks: sock.recv(min(64 * 1024, remaining)) never reads past the end "
              "either, and needs 16 system calls per MiB instead of a million with recv(1).")
MEMORY_HINT = ("Stream: hash and write each chunk as it arrives (hasher.update(chunk); f.write(chunk)), never "
               "collect the chunks in a list or a bytes object. Memory must stay flat whatever the file size.")
SEND_MEMORY_HINT = ("Stream the file twice in chunks — once to hash it, once to send it (f.seek(0) in between) — "
                    "or use sock.sendfile(f). f.read() with no size reads the whole file into memory.")


# -- the big content -------------------------------------------------------------------------------------------
# The seed of the 1 MiB block that the big uploads here repeat.
BLOCK_SEED = 6


def _block() -> bytes:
    return shared.seeded_block(BLOCK_SEED)


def _digest_of_blocks(count: int) -> bytes:
    hasher = hashlib.sha256()
    for _ in range(count):
        hasher.update(_block())
    return hasher.digest()


@functools.cache
def _digest(count: int) -> bytes:
    """The SHA-256 of `count` blocks; 128 MiB of them take the grader about 0.1 s, once per process.

    Not computed ahead in a thread of its own: checks run in forked processes
    (graders/grading/fanout.py), and a fork gets no copy of the threads it was forked from.
    """
    return _digest_of_blocks(count)


def _reference_receive(sock: socket.socket, path: Path) -> None:
    """The reference receiver's content loop, in the grader: what a correct solution does."""
    shared.recv_exactly(sock, int.from_bytes(shared.recv_exactly(sock, 2), "big"))  # the name
    header = shared.recv_exactly(sock, 40)
    remaining, digest = int.from_bytes(header[:8], "big"), header[8:]
    hasher = hashlib.sha256()
    with open(path, "wb") as f:
        while remaining:
            chunk = sock.recv(min(65536, remaining))
            if not chunk:
                raise EOFError
            hasher.update(chunk)
            f.write(chunk)
            remaining -= len(chunk)
    if hasher.digest() != digest:
        raise RuntimeError("the reference receiver got a wrong digest")


class _BlockSender(threading.Thread):
    """Sends an upload of `count` 1 MiB blocks from the grader's end, then reads the answer line.

    The content is sent block by block: the grader never builds the whole file in memory.
    """

    def __init__(self, lab, sock: socket.socket, name: str, count: int) -> None:
        super().__init__(daemon=True, name="block sender")
        self.lab, self.sock, self.name, self.count = lab, sock, name, count
        self.sent = 0
        self.answer = b""
        self.problem = ""

    def run(self) -> None:
        size = self.count * shared.BLOCK
        try:
            self.sock.sendall(encode_file_header(self.name, size, _digest(self.count)))
            view = memoryview(_block())
            for _ in range(self.count):
                self.sock.sendall(view)
                self.sent += shared.BLOCK
            self.lab.transcript.add("sender", f"sent the header and {self.count} MiB of content ({self.name!r})")
            while not self.answer.endswith(b"\n") and len(self.answer) < 4096:
                chunk = self.sock.recv(4096)
                if not chunk:
                    break
                self.answer += chunk
            self.lab.transcript.add("sender", "received the answer", self.answer)
        except OSError as exc:
            self.problem = f"{type(exc).__name__}: {exc}"
            self.lab.transcript.add("sender", f"stopped after {self.sent // shared.BLOCK} MiB: {self.problem}")


def _reference_seconds(lab, mib: int) -> float:
    """How long the reference receiver takes for `mib` MiB on this machine, now."""
    a, b = connected_pair()
    with a, b:
        sender = _BlockSender(lab, a, "reference.bin", mib)
        started = time.perf_counter()
        sender.start()
        _reference_receive(b, lab.tmpdir() / "reference.bin")
        b.sendall(b"OK\n")
        elapsed = time.perf_counter() - started
        sender.join(DEADLINE)
    lab.transcript.add("grader", f"the reference receiver took {elapsed:.3f} s for {mib} MiB")
    return elapsed


def _check_saved_blocks(path: Path, count: int, *, hint: str) -> None:
    if not path.is_file():
        raise Failure(f"receive_file() returned, but there is no file {path.name!r} in dest_dir",
                      actual=repr(sorted(os.listdir(path.parent))), hint=hint)
    size = path.stat().st_size
    if size != count * shared.BLOCK:
        raise Failure(f"the saved file has {size} bytes", expected=f"{count * shared.BLOCK} bytes", hint=hint)
    with open(path, "rb") as f:
        for index in range(count):
            if f.read(shared.BLOCK) != _block():
                raise Failure(f"the saved file differs from what was sent in its MiB number {index}", hint=hint)


# -- receive_file: speed and memory ----------------------------------------------------------------------------
@check(points=1, hint=SPEED_HINT, depends="receives_a_dribbled_header")
def test_receive_keeps_up_with_the_reference(lab):
    """receive_file() takes in 8 MiB at no less than a tenth of the reference solution's speed"""
    # README: "receive_file" — stream the content (concept 3: the chunk size matters for speed).
    reference = _reference_seconds(lab, SPEED_MIB)
    limit = max(SPEED_FLOOR, SPEED_FACTOR * reference)
    dest = lab.tmpdir()
    peer, student = lab.connection(name="sender")
    sender = _BlockSender(lab, peer.sock, "fast.bin", SPEED_MIB)
    sender.start()
    try:
        result = lab.call("receive_file", student, str(dest), deadline=limit)
    except CallTimedOut:
        raise Failure(f"receive_file() had not taken in {SPEED_MIB} MiB after {limit:.1f} s; the reference "
                      f"solution took {reference:.2f} s for the same on this machine just now",
                      expected=f"under {limit:.1f} s ({SPEED_FACTOR} × the reference, at least {SPEED_FLOOR:.0f} s)",
                      actual=f"still receiving after {limit:.1f} s", hint=SPEED_HINT) from None
    lab.returned(result, hint=SPEED_HINT)
    sender.join(DEADLINE)
    _check_saved_blocks(dest / "fast.bin", SPEED_MIB, hint=MEMORY_HINT)


@check(points=1.5, hint=MEMORY_HINT, depends="receive_keeps_up_with_the_reference", backstop=shared.BIG_BACKSTOP)
def test_receive_streams_in_constant_memory(lab):
    """receive_file() of a 128 MiB file grows the worker's memory by less than 32 MiB"""
    # README: "receive_file" — stream the content into a temporary file (concept 3: stream, don't load).
    dest = lab.tmpdir()
    peer, student = lab.connection(name="sender")
    sender = _BlockSender(lab, peer.sock, "big.bin", shared.BIG_MIB)
    sender.start()
    result = shared.call_on_a_big_file(
        lab, "receive_file", student, str(dest), hint=SPEED_HINT,
        progress=lambda: f"the sender had sent {sender.sent // shared.BLOCK} of {shared.BIG_MIB} MiB")
    lab.returned(result, hint=MEMORY_HINT)
    sender.join(DEADLINE)
    shared.expect_flat_memory(lab, result, "receiving", "content", hint=MEMORY_HINT)
    if sender.answer != b"OK\n":
        raise Failure("the sender did not get b'OK\\n'", actual=repr(sender.answer), hint=MEMORY_HINT)
    _check_saved_blocks(dest / "big.bin", shared.BIG_MIB, hint=MEMORY_HINT)


# -- send_file: memory ---------------------------------------------------------------------------------------
class _BlockReceiver(threading.Thread):
    """Receives an upload of `count` 1 MiB blocks, compares each block as it arrives, answers OK or ERR.

    It hashes as it goes, to check the digest the sender announced; memory stays at one block.
    """

    def __init__(self, lab, sock: socket.socket, name: str, count: int) -> None:
        super().__init__(daemon=True, name="block receiver")
        self.lab, self.sock, self.name, self.count = lab, sock, name, count
        self.problem = ""
        self.received = 0

    def run(self) -> None:
        try:
            self.problem = self._receive()
            self.sock.sendall(b"ERR " + self.problem.encode() + b"\n" if self.problem else b"OK\n")
            self.lab.transcript.add("receiver", f"answered {'ERR: ' + self.problem if self.problem else 'OK'}")
        except (OSError, EOFError) as exc:
            self.problem = f"{type(exc).__name__}: {exc}"
            self.lab.transcript.add("receiver", f"stopped after {self.received} content bytes: {self.problem}")

    def _receive(self) -> str:
        length = int.from_bytes(shared.recv_exactly(self.sock, 2), "big")
        name = shared.recv_exactly(self.sock, length).decode("utf-8", "replace")
        size, digest = int.from_bytes(shared.recv_exactly(self.sock, 8), "big"), shared.recv_exactly(self.sock, 32)
        self.lab.transcript.add("receiver", f"received the header: name {name!r}, size {size}")
        if name != self.name or size != self.count * shared.BLOCK:
            return f"header says {name!r} of {size} bytes, expected {self.name!r} of {self.count * shared.BLOCK}"
        hasher = hashlib.sha256()
        buf = bytearray(shared.BLOCK)
        view = memoryview(buf)
        for index in range(self.count):
            filled = 0
            while filled < shared.BLOCK:
                got = self.sock.recv_into(view[filled:])
                if not got:
                    raise EOFError(f"the sender closed after {self.received + filled} content bytes")
                filled += got
            if buf != _block():
                return f"content block {index} (MiB {index}) differs from the file"
            hasher.update(buf)
            self.received += shared.BLOCK
        self.lab.transcript.add("receiver", f"received {self.count} MiB of content, each block as in the file")
        return "" if hasher.digest() == digest else "the digest in the header does not match the content"


@check(points=1.5, hint=SEND_MEMORY_HINT, depends="send_file_sends_header_and_content", backstop=shared.BIG_BACKSTOP)
def test_send_file_streams_in_constant_memory(lab):
    """send_file() of a 128 MiB file grows the worker's memory by less than 32 MiB"""
    # README: "send_file" — the content in chunks, never the whole file in memory.
    path = lab.tmpdir() / "big.bin"
    with open(path, "wb") as f:
        for _ in range(shared.BIG_MIB):
            f.write(_block())
    peer, sock = lab.connection(name="receiver")
    receiver = _BlockReceiver(lab, peer.sock, "big.bin", shared.BIG_MIB)
    receiver.start()
    result = shared.call_on_a_big_file(
        lab, "send_file", sock, str(path), hint=SEND_MEMORY_HINT,
        progress=lambda: f"the receiver had {receiver.received // shared.BLOCK} of {shared.BIG_MIB} MiB; send in big "
        "chunks (64 KiB) with sendall(), or with sock.sendfile(f)")
    receiver.join(DEADLINE)
    if receiver.problem:
        raise Failure(f"the upload of a {shared.BIG_MIB} MiB file went wrong: {receiver.problem}",
                      hint="Send the header, then the file's bytes in order, exactly `size` of them.")
    lab.returned(result, hint=SEND_MEMORY_HINT)
    shared.expect_flat_memory(lab, result, "sending", "file", hint=SEND_MEMORY_HINT)
