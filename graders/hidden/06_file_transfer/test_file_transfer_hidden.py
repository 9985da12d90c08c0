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
import time
from functools import cache
from pathlib import Path

from graders.api import (
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
)
from graders.checking.peers import unread_bytes
from graders.checking.protocols import encode_file_header, file_message

# Why 10 s: what a correct solution does here takes milliseconds; this bounds a hang only.
DEADLINE = 10.0
# Why 5 s: for calls that a correct solution ends in milliseconds and a wrong one never
# ends (it waits for bytes that are not coming): five seconds tell the two apart as well as ten.
SHORT_DEADLINE = 5.0
# Why 0.3 s: a socket timeout a correct solution waits out in full; short, to keep the stage fast.
SHORT_TIMEOUT = 0.3
BLOCK = 1 << 20
BIG_MIB = 128
MEMORY_LIMIT_KB = 32 * 1024
# Why 30 s: 128 MiB takes a correct solution well under a second (a few on a loaded machine);
# this bounds a hang, below the check's own 90 s backstop.
BIG_DEADLINE = 30.0
BIG_BACKSTOP = 90.0

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
SERVE_HINT = ("For each client: accept, `with conn:` (closed on every path), conn.settimeout(...), then "
              "try: saved.append(receive_file(conn, dest_dir)) except TransferError: continue. receive_file must "
              "turn every failure — EOF, reset, bad name, wrong digest — into TransferError.")


# -- helpers (the public checks have the same ones) -------------------------------------------------------------
def _until(predicate, timeout: float = DEADLINE) -> bool:
    """Polls `predicate` every few ms until it holds or `timeout` passes (never a fixed sleep)."""
    end = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > end:
            return False
        pause.wait(0.002)
    return True


def _tree(roots: dict[str, Path], skip: Path | None = None) -> dict[str, str]:
    """Every file and directory under each root (dotfiles too), named "<label>/<relative path>"."""
    out: dict[str, str] = {}
    for label, root in roots.items():
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if Path(dirpath) / d != skip]
            for name in dirnames + filenames:
                path = Path(dirpath) / name
                shown = f"{label}/{path.relative_to(root)}"
                st = path.lstat()
                if path.is_symlink():
                    out[shown] = f"a symlink to {os.readlink(path)}"
                elif path.is_dir():
                    out[shown] = "a directory"
                else:
                    out[shown] = f"{st.st_size} bytes, sha256 {_fingerprint(path, st.st_size)}"
    return out


def _fingerprint(path: Path, size: int) -> str:
    if size > BLOCK:
        return "(not computed for a big file)"
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12] + "…"
    except OSError as exc:  # a file the student made unreadable: still a change worth showing
        return f"(unreadable: {exc.strerror})"


def _changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    changes = [f"new: {p} ({after[p]})" + (" — a leftover temporary file?" if Path(p).name.startswith(".") else "")
               for p in sorted(after.keys() - before.keys())]
    changes += [f"gone: {p} (was {before[p]})" for p in sorted(before.keys() - after.keys())]
    changes += [f"changed: {p} (was {before[p]}; now {after[p]})"
                for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    return changes


def _expect_untouched(before: dict[str, str], after: dict[str, str], what: str, *, hint: str) -> None:
    changes = _changes(before, after)
    if changes:
        raise Failure(f"{what}, but the disk changed:\n  " + "\n  ".join(changes),
                      expected="no file created, changed or removed anywhere", actual=f"{len(changes)} change(s)",
                      hint=hint)


def _answer(peer, student: socket.socket) -> list[bytes]:
    """The lines the peer received. Half-closes the grader's copy first: an answer not yet sent never comes."""
    try:
        student.shutdown(socket.SHUT_WR)
    except OSError:
        pass
    peer.wait(DEADLINE)
    return list(peer.lines)


def _call_receive(lab, student: socket.socket, dest, *, what: str, hint: str, **options):
    """receive_file(student, dest); a hang becomes a Failure that says what had arrived."""
    try:
        return lab.call("receive_file", student, dest, deadline=SHORT_DEADLINE, **options)
    except CallTimedOut as exc:
        raise CallTimedOut(f"{exc.message}, although {what} had arrived: it is waiting for bytes that will never "
                           "come", hint=hint) from None


def _expect_saved(lab, result, peer, student: socket.socket, dest: Path, name: str, content: bytes,
                  before: dict[str, str], *, hint: str) -> None:
    """receive_file returned dest/name, saved `content` there, answered OK, created nothing else."""
    value = lab.returned(result, hint=hint)
    lab.expect_args_open(result)
    lines = _answer(peer, student)
    final = dest / name
    if not isinstance(value, (str, os.PathLike)) or Path(value) != final:
        raise Failure(f"{result.shown} returned the wrong value", expected=repr(final), actual=repr(value),
                      hint="Return the final path: Path(dest_dir) / name.")
    if not final.is_file():
        raise Failure(f"{result.shown} returned {final} but there is no such file", hint=hint)
    saved = final.read_bytes()
    if saved != content:
        raise Failure(f"the file saved as {name!r} is not the content that was sent",
                      expected=f"{len(content)} bytes", actual=describe_difference(content, saved), hint=hint)
    expected_tree = dict(before)
    expected_tree[f"dest_dir/{name}"] = _tree({"dest_dir": dest})[f"dest_dir/{name}"]
    changes = _changes(expected_tree, _tree({"dest_dir": dest}))
    if changes:
        raise Failure("the file was saved, but dest_dir holds something else too:\n  " + "\n  ".join(changes),
                      hint="Rename the temporary file to the final name (os.replace); leave nothing else.")
    if lines != [b"OK"]:
        raise Failure("the file was saved but the sender did not get the answer b'OK\\n'",
                      expected="[b'OK']", actual=repr(lines), hint="After os.replace(), send exactly b'OK\\n'.")


def _expect_refused(lab, result, peer, student: socket.socket, what: str, *, hint: str,
                    answer: bool = True, changes: list[str] = ()) -> None:
    """receive_file raised TransferError and (where the connection allows) answered ERR."""
    if result.status == "returned":
        lines = _answer(peer, student)
        written = ("; on disk:\n  " + "\n  ".join(changes)) if changes else ""
        raise Failure(f"{what} was accepted: {result.shown} returned {result.value!r}{written}",
                      expected="b'ERR <reason>\\n' answered and TransferError raised",
                      actual=f"answered {lines!r}", hint=hint)
    lab.expect_raises(result, "TransferError", hint=hint + " Whatever went wrong, raise TransferError "
                      "(chain the original: `raise TransferError(...) from exc`).")
    lab.expect_args_open(result)
    if answer:
        lines = _answer(peer, student)
        if not lines or not lines[0].startswith(b"ERR"):
            raise Failure(f"{what} raised TransferError but the sender was not told",
                          expected="the answer line b'ERR <reason>\\n'", actual=repr(lines),
                          hint="Send b'ERR <reason>\\n' before raising: the sender is waiting for an answer.")


def _file(lab, name: str, content: bytes) -> Path:
    path = lab.tmpdir() / name
    path.write_bytes(content)
    return path


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
    before = _tree({"dest_dir": dest})
    # faults=True: every recv in the student's code gets at most a few bytes, as TCP allows.
    result = _call_receive(lab, student, dest, what="the whole upload", hint=SPLIT_HINT, faults=True)
    _expect_saved(lab, result, peer, student, dest, "short reads.dat", content, before, hint=SPLIT_HINT)


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
        pending = lab.start("receive_file", student, str(dest), deadline=SHORT_DEADLINE)
        # The rest goes once the student has read the first piece: two recv()s at least.
        _until(lambda s=student, p=pending: unread_bytes(s) == 0 or p.done(), SHORT_DEADLINE)
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
    for name in names:
        before = _tree(places, skip=dest)
        peer, student = lab.connection([Send(file_message(name, b"not yours\n")), RecvLine()],
                                       name=f"sender {name!r}")
        result = _call_receive(lab, student, dest, what=f"the upload named {name!r}", hint=NAME_HINT)
        after = _tree(places, skip=dest)
        _expect_refused(lab, result, peer, student, f"the file name {name!r}", hint=NAME_HINT,
                        changes=_changes(before, after))
        _expect_untouched(before, after, f"the upload named {name!r} was refused", hint=NAME_HINT)


@check(points=0.5, hint=LENGTH_HINT)
def test_refuses_a_long_name_before_reading_it(lab):
    """receive_file() answers ERR to a name length of 2000 at once, without waiting for the name"""
    dest = lab.tmpdir()
    peer, student = lab.connection([Send((2000).to_bytes(2, "big") + b"x" * 100), RecvLine()])
    try:
        result = lab.call("receive_file", student, str(dest), deadline=SHORT_DEADLINE)
    except CallTimedOut as exc:
        raise CallTimedOut(f"{exc.message}: the header announced a 2000-byte name (the limit is 1024) and the "
                           "sender sent 100 bytes of it; receive_file waited for the rest instead of refusing",
                           hint=LENGTH_HINT) from None
    _expect_refused(lab, result, peer, student, "a name length of 2000", hint=LENGTH_HINT)
    _expect_untouched({}, _tree({"dest_dir": dest}), "a name length of 2000 was refused", hint=LENGTH_HINT)


@check(points=0.5, hint=CLEANUP_HINT)
def test_leaves_nothing_after_a_timeout(lab):
    """receive_file() on a socket with a 0.3 s timeout leaves nothing behind when the sender stalls mid-file"""
    dest = lab.tmpdir()
    (dest / "movie.bin").write_bytes(b"the old movie\n")
    content = os.urandom(50_000)
    upload = file_message("movie.bin", content)
    peer, student = lab.connection([Send(upload[: len(upload) - 20_000]), Stall()], name="sender (stalls)")
    student.settimeout(SHORT_TIMEOUT)  # the timeout travels with the socket to the student's code
    before = _tree({"dest_dir": dest})
    result = lab.call("receive_file", student, str(dest), deadline=SHORT_DEADLINE)
    _expect_refused(lab, result, peer, student, "an upload whose sender stalled", hint=CLEANUP_HINT, answer=False)
    _expect_untouched(before, _tree({"dest_dir": dest}), "the sender stalled and the socket timed out",
                      hint=CLEANUP_HINT)


# -- send_file and upload --------------------------------------------------------------------------------------
def _expect_sent(lab, call, peer, sock: socket.socket, upload: bytes, *, hint: str):
    """send_file returned after the receiver got exactly `upload`; a hang says how much arrived."""
    try:
        result = call()
    except CallTimedOut as exc:
        sock.shutdown(socket.SHUT_RDWR)  # ends the receiver's wait, so that it reports what it got
        peer.wait(DEADLINE)
        raise CallTimedOut(f"{exc.message}: the receiver got {len(peer.received)} of the {len(upload)} bytes of the "
                           "upload and was still waiting for the rest", hint=hint) from None
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
    path = _file(lab, "partial.bin", content)
    upload = file_message("partial.bin", content)
    peer, sock = lab.connection([Recv(len(upload)), Send(b"OK\n")], name="receiver")
    # faults=True: every send() in the student's code takes at most a few bytes, as TCP allows.
    _expect_sent(lab, lambda: lab.call("send_file", sock, str(path), faults=True, deadline=SHORT_DEADLINE),
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
    _expect_sent(lab, lambda: lab.call("send_file", sock, folder / "report.pdf", deadline=SHORT_DEADLINE),
                 peer, sock, upload, hint=LAST_COMPONENT_HINT)


@check(points=0.5, hint=REFUSED_EARLY_HINT)
def test_send_file_when_the_receiver_refuses_early(lab):
    """send_file() of 8 MiB raises TransferError or ConnectionError when the receiver answers ERR after the header and resets"""
    content = random.Random(63).randbytes(BLOCK) * 8
    path = _file(lab, "big.iso", content)
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
    path = _file(lab, "a.txt", b"a\n")
    upload = file_message("a.txt", b"a\n")
    peer, sock = lab.connection([Recv(len(upload)), Send(b"Y" * 65536), Stall()], name="receiver")
    try:
        result = lab.call("send_file", sock, str(path), deadline=SHORT_DEADLINE)
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
    path = _file(lab, "v6.txt", content)
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
                          deadline=SHORT_DEADLINE)
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
    before = _tree({"dest_dir's parent": root}, skip=dest)
    pending = lab.start("serve_uploads", listener, dest, len(clients_spec))
    address = listener.getsockname()[:2]
    end = time.monotonic() + DEADLINE
    clients = []
    for name, script, _ in clients_spec:
        # Each client connects once the one before is answered or done: the order is known.
        client = lab.client(address, script, name=name)
        clients.append(client)
        _until(lambda c=client: c.lines or c.finished.is_set() or pending.done(), end - time.monotonic())
    result = pending.wait()
    if result.status == "raised":
        tb = f"\n{result.error.traceback.rstrip()}" if result.error and result.error.traceback else ""
        raise Failure(f"{result.shown} raised {result.error}: one bad client ended the server{tb}", hint=SERVE_HINT)
    value = lab.returned(result, hint=SERVE_HINT)
    expected = [dest / "good.txt", dest / "empty"]
    if not isinstance(value, list) or [Path(v) if isinstance(v, (str, os.PathLike)) else v for v in value] != expected:
        raise Failure(f"{result.shown} returned the wrong list", expected=repr(expected), actual=repr(value),
                      hint=SERVE_HINT)
    end = time.monotonic() + DEADLINE
    for client in clients:  # a client may still be reading its answer when serve_uploads returns
        client.wait(max(0.0, end - time.monotonic()))
    for client, (name, _, wanted) in zip(clients, clients_spec, strict=True):
        if wanted and not (client.lines and client.lines[0].startswith(wanted.encode())):
            raise Failure(f"{name} got the wrong answer", expected=f"a line starting {wanted}",
                          actual=repr(client.lines), hint=SERVE_HINT)
    if sorted(os.listdir(dest)) != ["empty", "good.txt"]:
        raise Failure("dest_dir holds the wrong files", expected="['empty', 'good.txt']",
                      actual=repr(sorted(os.listdir(dest))), hint=SERVE_HINT)
    _expect_untouched(before, _tree({"dest_dir's parent": root}, skip=dest), "client 3 sent the name '../evil'",
                      hint=NAME_HINT)
    lab.expect_args_open(result)
    lab.expect_no_leaks(result, hint=SERVE_HINT)


# -- memory: sending 128 MiB -----------------------------------------------------------------------------------
@cache
def _block() -> bytes:
    """1 MiB of random-looking bytes (seeded): repeated, it makes big content with a real digest."""
    return random.Random(7).randbytes(BLOCK)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"the sender closed after {len(data)} of {n} bytes")
        data += chunk
    return bytes(data)


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
        length = int.from_bytes(_recv_exactly(self.sock, 2), "big")
        name = _recv_exactly(self.sock, length).decode("utf-8", "replace")
        size, digest = int.from_bytes(_recv_exactly(self.sock, 8), "big"), _recv_exactly(self.sock, 32)
        self.lab.transcript.add("receiver", f"received the header: name {name!r}, size {size}")
        if name != self.name or size != self.count * BLOCK:
            return f"header says {name!r} of {size} bytes, expected {self.name!r} of {self.count * BLOCK}"
        hasher = hashlib.sha256()
        buf = bytearray(BLOCK)
        view = memoryview(buf)
        for index in range(self.count):
            filled = 0
            while filled < BLOCK:
                got = self.sock.recv_into(view[filled:])
                if not got:
                    raise EOFError(f"the sender closed after {self.received + filled} content bytes")
                filled += got
            if buf != _block():
                return f"content block {index} (MiB {index}) differs from the file"
            hasher.update(buf)
            self.received += BLOCK
        self.lab.transcript.add("receiver", f"received {self.count} MiB of content, each block as in the file")
        return "" if hasher.digest() == digest else "the digest in the header does not match the content"


@check(points=1.5, hint=SEND_MEMORY_HINT, backstop=BIG_BACKSTOP)
def test_send_file_streams_in_constant_memory(lab):
    """send_file() of a 128 MiB file grows the worker's memory by less than 32 MiB"""
    path = lab.tmpdir() / "big.bin"
    with open(path, "wb") as f:
        for _ in range(BIG_MIB):
            f.write(_block())
    peer, sock = lab.connection(name="receiver")
    receiver = _BlockReceiver(lab, peer.sock, "big.bin", BIG_MIB)
    receiver.start()
    # fresh=True: a new worker, so that the peak memory measured is this call's alone.
    try:
        result = lab.call("send_file", sock, str(path), deadline=BIG_DEADLINE, fresh=True)
    except CallTimedOut as exc:
        raise CallTimedOut(f"{exc.message}: the receiver had {receiver.received // BLOCK} of {BIG_MIB} MiB; "
                           "send in big chunks (64 KiB) with sendall(), or with sock.sendfile(f)",
                           hint=SEND_MEMORY_HINT) from None
    receiver.join(DEADLINE)
    if receiver.problem:
        raise Failure(f"the upload of a {BIG_MIB} MiB file went wrong: {receiver.problem}",
                      hint="Send the header, then the file's bytes in order, exactly `size` of them.")
    lab.returned(result, hint=SEND_MEMORY_HINT)
    lab.expect_seen(result)
    grew = result.rss_growth_kb
    if grew >= MEMORY_LIMIT_KB:
        raise Failure(f"sending a {BIG_MIB} MiB file made the worker's memory grow by {grew / 1024:.0f} MiB: "
                      "the file was held in memory", expected=f"under {MEMORY_LIMIT_KB // 1024} MiB",
                      actual=f"{grew / 1024:.0f} MiB", hint=SEND_MEMORY_HINT)
