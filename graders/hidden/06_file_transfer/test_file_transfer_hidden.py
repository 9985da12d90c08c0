"""Hidden checks for stage 06: the public checks' ideas with other splits, names, failures and sizes.

As in the public checks: uploads are built by graders.checking.protocols, the disk is judged by
listing whole directory trees (dotfiles included) before and after each call, and the
grader half-closes its copy of the student's socket after receive_file returns, so that a
missing answer shows at once. The 128 MiB send is checked block by block as it arrives:
the grader never holds the file either.
"""

import hashlib
import os
import random
import socket
import threading
from pathlib import Path

from graders.api import (
    DEADLINE,
    CallTimedOut,
    Failure,
    Recv,
    RecvLine,
    Reset,
    Send,
    ShutWr,
    Stall,
    check,
    describe_difference,
    encode_file_header,
    file_message,
    unread_bytes,
    wait_until,
)
from graders.api import file_transfer as shared  # what the public checks of this stage use too

# Why 0.3 s: a socket timeout a correct solution waits out in full; short, to keep the stage fast.
SHORT_TIMEOUT = 0.3

SPLIT_HINT = ("recv(n) returns whatever has arrived, 1 to n bytes, cut anywhere: in the middle of the length, "
              "of the name, of the size, of the digest. Read every field with a loop that asks for the bytes "
              "still missing.")
NAME_HINT = ("Refuse (answer ERR, raise TransferError) a name that is empty, absolute, or contains '/', '\\\\', "
             "'..' or a NUL byte, and a name that is not valid UTF-8 (.decode('utf-8') raises "
             "UnicodeDecodeError, a ValueError) — before anything touches the disk.")
LENGTH_HINT = ("Check the name length (1..1024) as soon as you have its 2 bytes, BEFORE reading the name: a "
               "length of 2000 is refused at once, without waiting for 2000 bytes that may never come.")
CLEANUP_HINT = ("A TimeoutError (a socket timeout) is a failure like any other: delete the temporary file, answer "
                "ERR, raise TransferError. One try/except around the whole receive (and a finally) covers them all.")
SHORT_SEND_HINT = ("sock.send(data) may send only part of `data` and returns how many bytes it took: use "
                   "sock.sendall(data), or loop on the rest. The bytes a short send did not take are lost otherwise.")
LAST_COMPONENT_HINT = ("The name in the header is the file's name only — Path(path).name — never the directory it "
                       "sits in: the receiver refuses any name with a '/'.")
SEND_MEMORY_HINT = ("Stream the file twice in chunks — once to hash it, once to send it (f.seek(0) in between) — "
                    "or use sock.sendfile(f). f.read() with no size reads the whole file into memory.")
REFUSED_EARLY_HINT = ("A receiver that refuses your upload may close while you are still sending: sendall() then "
                      "raises BrokenPipeError or ConnectionResetError. Let it propagate, or first try to read the "
                      "ERR line and raise TransferError — but never return as if the upload had worked.")
ENDLESS_HINT = ("Bound the answer line: an answer longer than MAX_ANSWER bytes without a newline is not this "
                "protocol. Raise TransferError instead of waiting (and buffering) for a newline that may never come.")
UPLOAD_HINT = ("upload: `with socket.create_connection((host, port), timeout=timeout) as sock: send_file(sock, "
               "path)` — create_connection tries IPv6 and IPv4 addresses, the timeout bounds every later call, "
               "and the with closes the socket however send_file ends.")
NOTHING_ELSE_HINT = "Rename the temporary file to the final name (os.replace); leave nothing else."
ANSWER_OK_HINT = "After os.replace(), send exactly b'OK\\n'."
SERVE_HINT = ("For each client: accept, `with conn:` (closed on every path), conn.settimeout(...), then "
              "try: saved.append(receive_file(conn, dest_dir)) except TransferError: continue. receive_file must "
              "turn every failure — EOF, reset, bad name, wrong digest — into TransferError.")


# -- receive_file ----------------------------------------------------------------------------------------------
@check(points=0.5, hint=SPLIT_HINT)
def test_receives_with_short_reads_over_ipv6(lab):
    """receive_file() saves a file over IPv6 while every recv() returns only a few bytes"""
    dest = lab.tmpdir()
    content = random.Random(61).randbytes(3000) + b"\n\0\n"
    # ShutWr: the sender is done; a receiver that waits for EOF instead of `size` bytes is
    # caught by the public checks, this one is about short reads.
    peer, student = lab.connection([Send(file_message("short reads.dat", content)), ShutWr(), RecvLine()],
                                   family=socket.AF_INET6)
    before = shared.tree({"dest_dir": dest})
    # faults=True: every recv in the student's code gets at most a few bytes, as TCP allows.
    result = shared.call_receive(lab, student, dest, what="the whole upload", hint=SPLIT_HINT, why="", faults=True)
    shared.expect_saved(lab, result, peer, student, dest, "short reads.dat", content, before, hint=SPLIT_HINT,
                        list_dest=False, nothing_else_hint=NOTHING_ELSE_HINT, ok_hint=ANSWER_OK_HINT)


@check(points=0.5, hint=SPLIT_HINT)
def test_receives_a_header_split_anywhere(lab):
    """receive_file() saves a file whose upload is cut in two at every position of the header"""
    dest = lab.tmpdir()
    content = b"0123456789"
    upload = file_message("cut.txt", content)
    header_size = len(upload) - len(content)
    for cut in range(1, header_size + 1):
        (dest / "cut.txt").unlink(missing_ok=True)  # each cut must save the file anew
        peer, student = lab.connection(name=f"sender (cut at {cut})")
        sock = peer.sock
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(upload[:cut])
        lab.transcript.add(peer.name, f"sent the first {cut} bytes", upload[:cut])
        pending = lab.start("receive_file", student, str(dest), deadline=shared.SHORT_DEADLINE)
        # The rest goes once the student has read the first piece: two recv()s at least.
        wait_until(lambda s=student, p=pending: unread_bytes(s) == 0 or p.done(), shared.SHORT_DEADLINE)
        sock.sendall(upload[cut:])
        sock.shutdown(socket.SHUT_WR)  # done sending: a receiver that lost bytes fails at once, not by a hang
        lab.transcript.add(peer.name, f"sent the other {len(upload) - cut} bytes, then FIN", upload[cut:])
        try:
            result = pending.wait()
        except CallTimedOut as exc:
            raise CallTimedOut(f"{exc.message}: the upload was cut after byte {cut} of its {header_size}-byte "
                               "header, and all of it had arrived", hint=SPLIT_HINT) from None
        value = lab.returned(result, hint=SPLIT_HINT)
        answer = b""
        student.shutdown(socket.SHUT_WR)
        while chunk := sock.recv(64):
            answer += chunk
        saved = (dest / "cut.txt").read_bytes() if (dest / "cut.txt").is_file() else None
        if not isinstance(value, (str, os.PathLike)) or Path(value) != dest / "cut.txt" or saved != content \
                or answer != b"OK\n":
            raise Failure(f"with the upload cut after byte {cut} of the header, the file was not saved right",
                          expected=f"returned {dest / 'cut.txt'}, saved {content!r}, answered b'OK\\n'",
                          actual=f"returned {value!r}, saved {saved!r}, answered {answer!r}", hint=SPLIT_HINT)


@check(points=0.5, hint=NAME_HINT)
def test_refuses_more_unsafe_names(lab):
    """receive_file() answers ERR to "", "/", "\\", "..\\x", "sub/../x", "x\\0" and a name that is not UTF-8"""
    root = lab.tmpdir()
    dest = root / "dest"
    (dest / "sub").mkdir(parents=True)
    places = {"dest_dir": dest, "dest_dir's parent": root}
    names: list[str | bytes] = ["", "/", "\\", "..\\x", "sub/../x", "x\0", b"caf\xe9.txt"]
    shared.expect_names_refused(lab, names, places, dest, dest, hint=NAME_HINT, why="")


@check(points=0.5, hint=LENGTH_HINT)
def test_refuses_a_long_name_before_reading_it(lab):
    """receive_file() answers ERR to a name length of 2000 at once, without waiting for the name"""
    dest = lab.tmpdir()
    peer, student = lab.connection([Send((2000).to_bytes(2, "big") + b"x" * 100), RecvLine()])
    try:
        result = lab.call("receive_file", student, str(dest), deadline=shared.SHORT_DEADLINE)
    except CallTimedOut as exc:
        raise CallTimedOut(f"{exc.message}: the header announced a 2000-byte name (the limit is 1024) and the "
                           "sender sent 100 bytes of it; receive_file waited for the rest instead of refusing",
                           hint=LENGTH_HINT) from None
    shared.expect_refused(lab, result, peer, student, "a name length of 2000", hint=LENGTH_HINT)
    shared.expect_untouched({}, shared.tree({"dest_dir": dest}), "a name length of 2000 was refused", hint=LENGTH_HINT)


@check(points=0.5, hint=CLEANUP_HINT)
def test_leaves_nothing_after_a_timeout(lab):
    """receive_file() on a socket with a 0.3 s timeout leaves nothing behind when the sender stalls mid-file"""
    dest, _content, upload = shared.upload_over_an_old_file(lab, "movie.bin", b"the old movie\n", 50_000)
    peer, student = lab.connection([Send(upload[: len(upload) - 20_000]), Stall()], name="sender (stalls)")
    student.settimeout(SHORT_TIMEOUT)  # the timeout travels with the socket to the student's code
    before = shared.tree({"dest_dir": dest})
    result = lab.call("receive_file", student, str(dest), deadline=shared.SHORT_DEADLINE)
    shared.expect_refused(lab, result, peer, student, "an upload whose sender stalled", hint=CLEANUP_HINT,
                          answer=False)
    shared.expect_untouched(before, shared.tree({"dest_dir": dest}), "the sender stalled and the socket timed out",
                            hint=CLEANUP_HINT)


# -- send_file and upload --------------------------------------------------------------------------------------
def _expect_sent(lab, call, peer, sock: socket.socket, upload: bytes, *, hint: str):
    """send_file returned after the receiver got exactly `upload`; a hang says how much arrived."""
    result = shared.call_send(call, peer, sock, upload, hint=hint)
    lab.returned(result, hint=hint)
    got = bytes(peer.received)
    if got != upload:
        raise Failure("the receiver got the wrong bytes", expected=f"{len(upload)} bytes",
                      actual=describe_difference(upload, got), hint=hint)
    return result


@check(points=0.5, hint=SHORT_SEND_HINT)
def test_send_file_with_short_sends(lab):
    """send_file() delivers every byte while every send() takes only a few bytes"""
    content = random.Random(62).randbytes(2000)
    path = shared.file_in_tmpdir(lab, "partial.bin", content)
    upload = file_message("partial.bin", content)
    peer, sock = lab.connection([Recv(len(upload)), Send(b"OK\n")], name="receiver")
    # faults=True: every send() in the student's code takes at most a few bytes, as TCP allows.
    _expect_sent(lab, lambda: lab.call("send_file", sock, str(path), faults=True, deadline=shared.SHORT_DEADLINE),
                 peer, sock, upload, hint=SHORT_SEND_HINT)


@check(points=0.5, hint=LAST_COMPONENT_HINT)
def test_send_file_sends_only_the_file_name(lab):
    """send_file(sock, Path(".../sub/dir/report.pdf")) sends the name "report.pdf", not the path"""
    folder = lab.tmpdir() / "sub" / "dir"
    folder.mkdir(parents=True)
    content = b"%PDF-1.7 not really\n"
    (folder / "report.pdf").write_bytes(content)
    upload = file_message("report.pdf", content)
    peer, sock = lab.connection([Recv(len(upload)), Send(b"OK\n")], name="receiver")
    _expect_sent(lab, lambda: lab.call("send_file", sock, folder / "report.pdf", deadline=shared.SHORT_DEADLINE),
                 peer, sock, upload, hint=LAST_COMPONENT_HINT)


@check(points=0.5, hint=REFUSED_EARLY_HINT)
def test_send_file_when_the_receiver_refuses_early(lab):
    """send_file() of 8 MiB raises TransferError or ConnectionError when the receiver answers ERR after the header and resets"""
    content = random.Random(63).randbytes(shared.BLOCK) * 8
    path = shared.file_in_tmpdir(lab, "big.iso", content)
    header_size = len(encode_file_header("big.iso", len(content), b"\0" * 32))
    # The receiver reads only the header, answers, and resets: the sender is still sending.
    peer, sock = lab.connection([Recv(header_size), Send(b"ERR too big\n"), Reset()], name="receiver")
    result = lab.call("send_file", sock, str(path))
    if result.status == "returned":
        raise Failure(f"the receiver answered ERR and reset the connection, yet {result.shown} returned as if "
                      "the upload had succeeded", expected="TransferError or a ConnectionError raised",
                      actual=f"returned {result.value!r}", hint=REFUSED_EARLY_HINT)
    lab.expect_raises(result, "TransferError", ConnectionError, hint=REFUSED_EARLY_HINT)


@check(points=0.5, hint=ENDLESS_HINT)
def test_send_file_refuses_an_endless_answer(lab):
    """send_file() raises TransferError when the answer is 64 KiB without a newline"""
    path = shared.file_in_tmpdir(lab, "a.txt", b"a\n")
    upload = file_message("a.txt", b"a\n")
    peer, sock = lab.connection([Recv(len(upload)), Send(b"Y" * 65536), Stall()], name="receiver")
    try:
        result = lab.call("send_file", sock, str(path), deadline=shared.SHORT_DEADLINE)
    except CallTimedOut as exc:
        raise CallTimedOut(f"{exc.message}: the receiver sent 64 KiB without a newline and went silent; "
                           "send_file kept waiting for a newline", hint=ENDLESS_HINT) from None
    if result.status == "returned":
        raise Failure(f"{result.shown} returned although the answer was not OK", expected="TransferError",
                      hint=ENDLESS_HINT)
    lab.expect_raises(result, "TransferError", hint=ENDLESS_HINT)


@check(points=0.5, hint=UPLOAD_HINT)
def test_upload_over_ipv6_and_timeout(lab):
    """upload("::1", ...) works over IPv6; upload(timeout=0.3) to a silent server raises TimeoutError; no socket leaks"""
    content = b"over IPv6\n"
    path = shared.file_in_tmpdir(lab, "v6.txt", content)
    upload = file_message("v6.txt", content)
    server = lab.server([Recv(len(upload)), Send(b"OK\n"), Recv(1)], family=socket.AF_INET6)
    result = lab.call("upload", "::1", server.address[1], str(path), kwargs={"timeout": DEADLINE})
    lab.returned(result, hint=UPLOAD_HINT)
    lab.expect_no_leaks(result, hint=UPLOAD_HINT)
    peer = server.first_served(DEADLINE)
    if peer is None or bytes(peer.received) != upload:
        raise Failure("the IPv6 server did not receive the upload", expected=f"{len(upload)} bytes",
                      actual=repr(bytes(peer.received)) if peer else "no connection", hint=UPLOAD_HINT)
    silent = lab.server([Recv(len(upload)), Stall()])
    try:
        result = lab.call("upload", *silent.address, str(path), kwargs={"timeout": SHORT_TIMEOUT},
                          deadline=shared.SHORT_DEADLINE)
    except CallTimedOut as exc:
        raise CallTimedOut(f"{exc.message}: the server read the upload and went silent; upload(timeout=0.3) "
                           "should have raised TimeoutError after about 0.3 s", hint=UPLOAD_HINT) from None
    lab.expect_raises(result, TimeoutError, hint=UPLOAD_HINT)
    lab.expect_no_leaks(result, hint=UPLOAD_HINT)


# -- serve_uploads ---------------------------------------------------------------------------------------------
@check(points=1, hint=SERVE_HINT)
def test_serve_uploads_survives_every_kind_of_failure(lab):
    """serve_uploads() over IPv6 goes on after clients that close at once, reset, send a bad name or length"""
    root = lab.tmpdir()
    dest = root / "dest"
    dest.mkdir()
    listener = lab.listener(socket.AF_INET6)
    good = file_message("good.txt", b"good\n")
    # The answers of clients 3 and 5 are not judged: a server that refuses after the first
    # header field closes with the rest of the upload unread, the kernel then resets the
    # connection, and a reset may destroy the ERR line before the client reads it. Only the
    # good uploads must be answered (their OK comes before a clean close).
    # Every client half-closes after its upload (ShutWr), so that a receiver that loses bytes
    # fails at once instead of by a hang (the public checks catch one waiting for EOF).
    clients_spec = [
        ("client 1 (closes at once)", [ShutWr(), RecvLine(), Recv(1)], None),
        ("client 2 (resets mid-file)", [Send(good[:-2]), Reset()], None),
        ("client 3 (name '../evil')", [Send(file_message("../evil", b"x")), ShutWr(), RecvLine(), Recv(1)], None),
        ("client 4", [Send(good), ShutWr(), RecvLine(), Recv(1)], "OK"),
        ("client 5 (name length 0)", [Send(b"\0\0" + good[2:]), ShutWr(), RecvLine(), Recv(1)], None),
        ("client 6 (an empty file)", [Send(file_message("empty", b"")), ShutWr(), RecvLine(), Recv(1)], "OK"),
    ]
    before = shared.tree({"dest_dir's parent": root}, skip=dest)
    pending = lab.start("serve_uploads", listener, dest, len(clients_spec))
    address = listener.getsockname()[:2]
    # Each client connects once the one before is answered or done: the order is known.
    clients = shared.clients_in_turn(lab, address, pending, [(name, script) for name, script, _ in clients_spec])
    result = pending.wait()
    shared.expect_not_raised(result, ": one bad client ended the server", hint=SERVE_HINT)
    value = lab.returned(result, hint=SERVE_HINT)
    shared.expect_paths(result, value, [dest / "good.txt", dest / "empty"], hint=SERVE_HINT)
    shared.wait_for_clients(clients)  # a client may still be reading its answer when serve_uploads returns
    for client, (name, _, wanted) in zip(clients, clients_spec, strict=True):
        if wanted and not (client.lines and client.lines[0].startswith(wanted.encode())):
            raise Failure(f"{name} got the wrong answer", expected=f"a line starting {wanted}",
                          actual=repr(client.lines), hint=SERVE_HINT)
    if sorted(os.listdir(dest)) != ["empty", "good.txt"]:
        raise Failure("dest_dir holds the wrong files", expected="['empty', 'good.txt']",
                      actual=repr(sorted(os.listdir(dest))), hint=SERVE_HINT)
    shared.expect_untouched(before, shared.tree({"dest_dir's parent": root}, skip=dest),
                            "client 3 sent the name '../evil'", hint=NAME_HINT)
    lab.expect_args_open(result)
    lab.expect_no_leaks(result, hint=SERVE_HINT)


# -- memory: sending 128 MiB -----------------------------------------------------------------------------------
# The seed of the 1 MiB block that the big upload here repeats.
BLOCK_SEED = 7


def _block() -> bytes:
    return shared.seeded_block(BLOCK_SEED)


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


@check(points=1.5, hint=SEND_MEMORY_HINT, backstop=shared.BIG_BACKSTOP)
def test_send_file_streams_in_constant_memory(lab):
    """send_file() of a 128 MiB file grows the worker's memory by less than 32 MiB"""
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
