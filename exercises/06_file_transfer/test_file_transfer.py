"""Public checks for stage 06: a header, streamed content, one answer line — and hostile peers.

How these checks stay honest:
- every upload a check sends is built by graders.checking.protocols (the same bytes a correct sender
  sends); what reaches the disk is judged by listing the whole directory tree, dotfiles
  included, before and after the call;
- after receive_file returns, the grader half-closes its copy of the student's socket, so
  a peer waiting for an answer line that never came sees EOF at once instead of hanging;
- the throughput check compares with a reference receiver timed in the same run, on the
  same machine, and allows ten times its time (at least 3 s): load can only make both
  slower, and only a byte-at-a-time loop is that slow;
- the 128 MiB memory check never holds the file in the grader either: the content is one
  1 MiB block sent 128 times, whose digest is computed once per run, in the background.
"""

import hashlib
import os
import socket
import threading
import time
from pathlib import Path

from graders.api import (
    DEADLINE,
    CallTimedOut,
    Close,
    Failure,
    Recv,
    RecvLine,
    Reset,
    Send,
    ShutWr,
    check,
    connected_pair,
    describe_difference,
    dribble,
    encode_file_header,
    file_message,
    unread_bytes,
    wait_until,
)
from graders.api import file_transfer as shared  # what these checks share with the hidden ones

# Content with every byte value, NUL and newlines included, plus a CRLF: text-mode mistakes
# (decoding, stripping, newline translation) all change it.
BINARY = bytes(range(256)) * 12 + b"\r\n\0\n"
# A name with non-ASCII characters: 'é' and 'ü' take two bytes in UTF-8, 'データ' three each,
# so the name length in bytes (what the header carries) differs from len(name).
NAME = "Grüße-データ.bin"
# Why 8 MiB: a correct receiver moves it in a few hundredths of a second; a recv(1) loop
# needs 8 million system calls, about 20 s (measured: 2.2 s per MiB for the bare loop).
SPEED_MIB = 8
# The time the student gets for SPEED_MIB: SPEED_FACTOR × the reference's, never under SPEED_FLOOR.
SPEED_FACTOR = 10
SPEED_FLOOR = 3.0

GLUED_HINT = ("TCP has no message boundaries: the header and the start of the content may come in one recv(). "
              "Read each header field with a loop that asks only for the bytes still missing (recv_exactly), "
              "or keep whatever you read past the header as the first piece of the content.")
DRIBBLE_HINT = ("recv(n) returns 1 to n bytes: a 2-byte length may come in two pieces. Loop until each field is "
                "complete. Then read exactly `size` bytes of content: the sender keeps the connection open, "
                "waiting for your answer, so there is no EOF to wait for.")
EMPTY_HINT = ("An empty file is a valid file: loop `while remaining:` (not do-while), so that for size 0 you "
              "never call recv(0) — it returns b'' at once, which looks exactly like the sender's EOF.")
NAME_HINT = ("Never trust a name from the network: refuse (answer ERR, raise TransferError) a name that is empty "
             "or absolute, or contains '/', '\\\\', '..' or a NUL byte — before anything touches the disk. "
             "Path(dest_dir) / '/etc/x' is '/etc/x', and os.path.basename() lets '\\\\' through.")
REPLACE_HINT = ("os.replace(tmp, final) replaces an existing file of the same name atomically: readers see the "
                "old file or the new one, never half a file. Don't refuse a name because the file exists.")
CLEANUP_HINT = ("Stream into a temporary file in dest_dir (tempfile.mkstemp(dir=dest_dir)), os.replace() it to the "
                "real name only once the whole content arrived and the digest matched, and delete it on EVERY "
                "failure path (EOF, reset, timeout, wrong digest): try/except/finally.")
DIGEST_HINT = ("Hash the content as it arrives (hashlib.sha256(), .update(chunk)) and compare .digest() with the "
               "header's 32 bytes before renaming: on a mismatch answer ERR, delete the temporary, raise "
               "TransferError.")
SEND_HINT = ("The header is struct.pack('!H', len(name_bytes)) + name_bytes + struct.pack('!Q', size) + the "
             "32-byte SHA-256 digest (.digest(), not .hexdigest()), where name_bytes = Path(path).name.encode() — "
             "the length counts BYTES, not characters. Then the content, with sendall().")
ANSWER_HINT = ("After the content, read the answer line (loop until b'\\n'): return only on b'OK\\n'; raise "
               "TransferError on b'ERR ...\\n' and when recv() returns b'' before a whole line arrived.")
SEND_EMPTY_HINT = ("A 0-byte file sends the header (size 0) and no content. sock.sendfile(f, count=0) raises "
                   "ValueError: pass no count, or skip the content for an empty file.")
UPLOAD_HINT = ("upload: `with socket.create_connection((host, port), timeout=timeout) as sock: send_file(sock, "
               "path)` — the with closes the socket whether send_file returns or raises.")
SERVE_HINT = ("For each client: accept, `with conn:` (closed on every path), conn.settimeout(...), then "
              "try: saved.append(receive_file(conn, dest_dir)) except TransferError: continue. Never close "
              "the listener: it belongs to the caller.")
SPEED_HINT = ("Read the content in big chunks: sock.recv(min(64 * 1024, remaining)) never reads past the end "
              "either, and needs 16 system calls per MiB instead of a million with recv(1).")
MEMORY_HINT = ("Stream: hash and write each chunk as it arrives (hasher.update(chunk); f.write(chunk)), never "
               "collect the chunks in a list or a bytes object. Memory must stay flat whatever the file size.")


# -- receive_file ----------------------------------------------------------------------------------------------
@check(points=1.5, hint=GLUED_HINT)
def test_receives_header_and_content_glued(lab):
    """receive_file() saves a file whose header and binary content arrive glued in one segment"""
    dest = lab.tmpdir()
    upload = file_message(NAME, BINARY)
    # One Send: the header and the content leave in one segment, then FIN (the sender is done
    # sending; it still reads the answer). Whatever one recv() reads past the header is content.
    peer, student = lab.connection([Send(upload), ShutWr(), RecvLine()])
    wait_until(lambda: unread_bytes(student) >= len(upload), DEADLINE)  # all of it waiting before the call starts
    before = shared.tree({"dest_dir": dest})
    result = shared.call_receive(lab, student, str(dest), what="the whole upload", hint=GLUED_HINT)
    shared.expect_saved(lab, result, peer, student, dest, NAME, BINARY, before, hint=GLUED_HINT)


@check(points=1.5, hint=DRIBBLE_HINT)
def test_receives_a_dribbled_header(lab):
    """receive_file() saves a file whose header arrives one byte at a time"""
    dest = lab.tmpdir()
    content = b"line one\nline two\n\0\xff"
    header = encode_file_header("notes.txt", len(content), hashlib.sha256(content).digest())
    peer, student = lab.connection([dribble(header), Send(content), RecvLine()])
    before = shared.tree({"dest_dir": dest})
    result = shared.call_receive(lab, student, str(dest), what="the header and all 20 content bytes",
                                 hint=DRIBBLE_HINT)
    shared.expect_saved(lab, result, peer, student, dest, "notes.txt", content, before, hint=DRIBBLE_HINT)


@check(points=0.5, hint=EMPTY_HINT)
def test_receives_an_empty_file(lab):
    """receive_file() saves an empty (0-byte) file"""
    dest = lab.tmpdir()
    peer, student = lab.connection([Send(file_message("empty.txt", b"")), ShutWr(), RecvLine()])
    before = shared.tree({"dest_dir": dest})
    result = shared.call_receive(lab, student, str(dest), what="the header of a 0-byte file", hint=EMPTY_HINT)
    shared.expect_saved(lab, result, peer, student, dest, "empty.txt", b"", before, hint=EMPTY_HINT)


@check(points=1.5, hint=NAME_HINT)
def test_refuses_names_that_escape_dest_dir(lab):
    """receive_file() answers ERR to "../x", "/abs/x", "a/b", "..", "a\\b" and "x\\0y", and writes nothing anywhere"""
    root = lab.tmpdir()  # dest_dir's parent: where "../x" lands
    dest = root / "dest"
    (dest / "a").mkdir(parents=True)  # exists, so that "a/b" could really be written
    elsewhere = lab.tmpdir()  # stands in for /etc: an absolute name points here, never at a real system path
    names = ["../x", str(elsewhere / "x"), "a/b", "..", "a\\b", "x\0y"]
    places = {"dest_dir": dest, "dest_dir's parent": root, "another directory": elsewhere}
    shared.expect_names_refused(lab, names, places, dest, str(dest), hint=NAME_HINT)


@check(points=1.5, hint=CLEANUP_HINT)
def test_leaves_nothing_when_the_sender_dies(lab):
    """receive_file() leaves no file and no temporary when the sender closes or resets mid-file"""
    old = b"the old report, which must survive\n"
    dest, content, upload = shared.upload_over_an_old_file(lab, "report.txt", old, 100_000)
    half = len(upload) - len(content) // 2
    how = {
        "closes": [Send(upload[:half]), Close()],
        # In two pieces, the second sent once the first was read: the temporary file exists
        # by the time the reset comes.
        "resets": [Send(upload[:half], piece=half - 30_000, barrier=True), Reset()],
    }
    for what, script in how.items():
        before = shared.tree({"dest_dir": dest})
        peer, student = lab.connection(script, name=f"sender ({what})")
        result = shared.call_receive(lab, student, str(dest),
                                     what="half of the content and then the end of the connection", hint=CLEANUP_HINT)
        shared.expect_refused(lab, result, peer, student, f"an upload whose sender {what} the connection halfway",
                              hint=CLEANUP_HINT, answer=False)
        shared.expect_untouched(before, shared.tree({"dest_dir": dest}),
                                f"the sender {what} the connection halfway through the content", hint=CLEANUP_HINT)


@check(points=1, hint=DIGEST_HINT)
def test_refuses_a_wrong_digest(lab):
    """receive_file() answers ERR to content that does not match its SHA-256, and changes nothing on disk"""
    dest = lab.tmpdir()
    (dest / "data.bin").write_bytes(b"the old data, which must survive\n")
    content = b"the content as it arrived\n"
    wrong = hashlib.sha256(b"the content as it was sent\n").digest()
    upload = encode_file_header("data.bin", len(content), wrong) + content
    peer, student = lab.connection([Send(upload), ShutWr(), RecvLine()])
    before = shared.tree({"dest_dir": dest})
    result = shared.call_receive(lab, student, str(dest), what="the whole upload", hint=DIGEST_HINT)
    shared.expect_refused(lab, result, peer, student, "content whose SHA-256 does not match the header",
                          hint=DIGEST_HINT)
    shared.expect_untouched(before, shared.tree({"dest_dir": dest}), "the digest did not match", hint=DIGEST_HINT)


@check(points=0.5, hint=REPLACE_HINT)
def test_replaces_an_existing_file(lab):
    """receive_file() replaces an existing file of the same name (dest_dir given as a Path)"""
    dest = lab.tmpdir()
    (dest / "log.txt").write_bytes(b"the old version, longer than the new one\n")
    (dest / "other.txt").write_bytes(b"left alone\n")
    content = b"the new version\n"
    peer, student = lab.connection([Send(file_message("log.txt", content)), ShutWr(), RecvLine()])
    before = shared.tree({"dest_dir": dest})
    result = shared.call_receive(lab, student, dest, what="the whole upload", hint=REPLACE_HINT)
    shared.expect_saved(lab, result, peer, student, dest, "log.txt", content, before, hint=REPLACE_HINT)


# -- send_file and upload --------------------------------------------------------------------------------------
@check(points=1, hint=SEND_HINT)
def test_send_file_sends_header_and_content(lab):
    """send_file() sends the header (non-ASCII name, size, SHA-256) and the binary content, and returns on OK"""
    path = shared.file_in_tmpdir(lab, NAME, BINARY)
    upload = file_message(NAME, BINARY)
    peer, sock = lab.connection([Recv(len(upload)), Send(b"OK\n")], name="receiver")
    result = shared.call_send(lambda: lab.call("send_file", sock, str(path)), peer, sock, upload, hint=SEND_HINT)
    lab.returned(result, hint=SEND_HINT)
    lab.expect_args_open(result)
    peer.wait(DEADLINE)  # a send_file that returns before the answer may be ahead of the receiver
    got = bytes(peer.received)
    if got != upload:
        header = upload[: len(upload) - len(BINARY)]
        part = "header" if got[: len(header)] != header else "content"
        raise Failure(f"the receiver got the wrong bytes: the {part} differs",
                      expected=f"{len(header)} header bytes, then {len(BINARY)} content bytes",
                      actual=describe_difference(upload, got), hint=SEND_HINT)


@check(points=1, hint=ANSWER_HINT)
def test_send_file_raises_unless_ok(lab):
    """send_file() raises TransferError when the receiver answers ERR, or closes without answering"""
    content = b"some content\n"
    path = shared.file_in_tmpdir(lab, "a.txt", content)
    upload = file_message("a.txt", content)
    for what, script in {"answers b'ERR disk full\\n'": [Recv(len(upload)), Send(b"ERR disk full\n")],
                         "closes without answering": [Recv(len(upload)), Close()]}.items():
        peer, sock = lab.connection(script, name="receiver")
        result = lab.call("send_file", sock, str(path))
        if result.status == "returned":
            raise Failure(f"the receiver {what}, yet {result.shown} returned as if the upload had succeeded",
                          expected="TransferError raised", actual=f"returned {result.value!r}", hint=ANSWER_HINT)
        lab.expect_raises(result, "TransferError", hint=ANSWER_HINT)


@check(points=0.5, hint=SEND_EMPTY_HINT)
def test_send_file_sends_an_empty_file(lab):
    """send_file() of an empty (0-byte) file sends the header alone and returns on OK"""
    path = shared.file_in_tmpdir(lab, "empty.txt", b"")
    upload = file_message("empty.txt", b"")
    peer, sock = lab.connection([Recv(len(upload)), Send(b"OK\n")], name="receiver")
    result = lab.call("send_file", sock, str(path))
    lab.returned(result, hint=SEND_EMPTY_HINT)
    peer.wait(DEADLINE)  # a send_file that returns before the answer may be ahead of the receiver
    if bytes(peer.received) != upload:
        raise Failure("the receiver got the wrong bytes for an empty file", expected=repr(upload),
                      actual=repr(bytes(peer.received)), hint=SEND_EMPTY_HINT)


@check(points=1, hint=UPLOAD_HINT)
def test_upload_closes_its_socket(lab):
    """upload() returns on OK, raises TransferError on ERR, and closes its socket either way"""
    content = b"uploaded\n"
    path = shared.file_in_tmpdir(lab, "up.txt", content)
    upload = file_message("up.txt", content)
    for answer in (b"OK\n", b"ERR no space left\n"):
        server = lab.server([Recv(len(upload)), Send(answer), Recv(1)])  # Recv(1): sees the EOF of upload's close
        result = lab.call("upload", *server.address, str(path), kwargs={"timeout": DEADLINE})
        if answer == b"OK\n":
            lab.returned(result, hint=UPLOAD_HINT)
        else:
            lab.expect_raises(result, "TransferError", hint=ANSWER_HINT)
        lab.expect_no_leaks(result, hint=UPLOAD_HINT)
        peer = server.first_served(DEADLINE)
        if peer is None or bytes(peer.received) != upload:
            raise Failure("the server did not receive the upload", expected=f"{len(upload)} bytes",
                          actual=repr(bytes(peer.received)) if peer else "no connection", hint=UPLOAD_HINT)


# -- serve_uploads ---------------------------------------------------------------------------------------------
@check(points=1.5, hint=SERVE_HINT)
def test_serve_uploads_survives_a_failed_upload(lab):
    """serve_uploads(listener, dest_dir, 3) saves two good uploads around a bad one and returns their paths"""
    dest = lab.tmpdir()
    listener = lab.listener()
    pending = lab.start("serve_uploads", listener, str(dest), 3)
    address = listener.getsockname()[:2]
    wrong = encode_file_header("bad.txt", 4, hashlib.sha256(b"good").digest()) + b"evil"
    uploads = [("client 1", file_message("one.txt", b"first\n")), ("client 2 (wrong digest)", wrong),
               ("client 3", file_message("three.txt", b"third\n"))]
    # Each client connects once the one before got its answer, so the order is known.
    # Recv(1) at the end: the client sees the server close the connection.
    scripts = [(name, [Send(upload), ShutWr(), RecvLine(), Recv(1)]) for name, upload in uploads]
    clients = shared.clients_in_turn(lab, address, pending, scripts)
    result = pending.wait()
    shared.expect_not_raised(result, " at client 2's bad upload: one bad client ended the server, and client 3 "
                             "was never served", hint=SERVE_HINT)
    value = lab.returned(result, hint=SERVE_HINT)
    shared.expect_paths(result, value, [dest / "one.txt", dest / "three.txt"],
                        hint="Return the paths receive_file returned, in order; a failed upload adds nothing.")
    shared.wait_for_clients(clients)  # a client may still be reading its answer when serve_uploads returns
    answers = [c.lines[:1] for c in clients]
    if answers[0] != [b"OK"] or answers[2] != [b"OK"] or not answers[1] or not answers[1][0].startswith(b"ERR"):
        raise Failure("the clients got the wrong answers", expected="[b'OK'], [b'ERR ...'], [b'OK']",
                      actual=", ".join(map(repr, answers)), hint=SERVE_HINT)
    if sorted(os.listdir(dest)) != ["one.txt", "three.txt"]:
        raise Failure("dest_dir holds the wrong files", expected="['one.txt', 'three.txt']",
                      actual=repr(sorted(os.listdir(dest))), hint=CLEANUP_HINT)
    lab.expect_args_open(result, hint="The listener belongs to the caller, who may serve more clients on it: "
                         "don't close it (no `with listener:` in serve_uploads).")
    lab.expect_no_leaks(result, hint=SERVE_HINT)
    for client in clients:
        if not (client.saw_eof or client.saw_reset):
            raise Failure(f"{client.name}'s connection was not closed after its upload", hint=SERVE_HINT)


# -- speed and memory ------------------------------------------------------------------------------------------
# The seed of the 1 MiB block that the big uploads here repeat.
BLOCK_SEED = 6


def _block() -> bytes:
    return shared.seeded_block(BLOCK_SEED)


def _digest_of_blocks(count: int) -> bytes:
    hasher = hashlib.sha256()
    for _ in range(count):
        hasher.update(_block())
    return hasher.digest()


class _BigDigest(threading.Thread):
    """The SHA-256 of shared.BIG_MIB blocks, computed in the background from the moment the checks load.

    Hashing 128 MiB takes the grader about 0.1 s; started early, it overlaps the first checks
    (which wait on the network, not the CPU) instead of adding to the stage's time.
    """

    def __init__(self) -> None:
        super().__init__(daemon=True, name="128 MiB digest")
        self.digest = b""
        self.start()

    def run(self) -> None:
        self.digest = _digest_of_blocks(shared.BIG_MIB)

    def value(self) -> bytes:
        self.join()
        return self.digest


_BIG_DIGEST = _BigDigest()


def _digest(count: int) -> bytes:
    return _BIG_DIGEST.value() if count == shared.BIG_MIB else _digest_of_blocks(count)


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


@check(points=1, hint=SPEED_HINT, depends="receives_a_dribbled_header")
def test_receive_keeps_up_with_the_reference(lab):
    """receive_file() takes in 8 MiB at no less than a tenth of the reference solution's speed"""
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
