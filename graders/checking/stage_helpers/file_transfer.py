"""What stage 06's checks share (exercises/06_file_transfer and graders/hidden/06_file_transfer):
listing the disk before and after a call, receive_file's answers, the big-file machinery, and
the hints a failure picks from what it saw.

The disk is judged by listing whole directory trees, dotfiles included, before and after a
call. After receive_file returns, the grader half-closes its copy of the student's socket,
so that a peer waiting for an answer line that never came sees EOF at once instead of
hanging. Big content is one seeded 1 MiB block sent again and again: the grader never holds
a whole big file in memory either.
"""

from __future__ import annotations

import hashlib
import os
import random
import socket
import time
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from graders.checking.declare import CallTimedOut, Failure
from graders.checking.helpers import DEADLINE, half_close, shown_traceback, wait_until
from graders.checking.lab import Lab, LabCall
from graders.checking.peers import Action, ClientPeer, Peer, RecvLine, Send
from graders.checking.protocols import file_message
from graders.checking.stage_helpers.framing import (
    byte_difference,
    is_short_header,
    skipped_or_repeated,
)
from graders.engine.calls import CallResult

# Why 0.3 s: a socket timeout a correct solution waits out in full; short, to keep the stage fast.
SHORT_TIMEOUT = 0.3
# Why 5 s: the deadline of a call that a correct solution ends in milliseconds and a wrong
# one never ends (it waits for bytes that are not coming): five seconds tell the two apart
# as well as ten, and a student with the bug waits less.
SHORT_DEADLINE = 5.0
# 1 MiB: the unit of big content, and the largest file a listing fingerprints.
BLOCK = 1 << 20
# The memory checks: 128 MiB through the worker, whose peak RSS may grow by at most 32 MiB.
BIG_MIB = 128
MEMORY_LIMIT_KB = 32 * 1024
# Why 30 s: 128 MiB takes a correct solution well under a second (a few on a loaded machine);
# this bounds a hang, below the check's own 90 s backstop.
BIG_DEADLINE = 30.0
BIG_BACKSTOP = 90.0

# What keeps receive_file waiting, told when it hangs (the public checks' explanation).
NEVER_COMING = (" (bytes it read too far and lost, or an EOF the sender never sends — the sender waits for "
                "your answer with the connection open)")
NOTHING_ELSE_HINT = ("Rename the temporary file to the final name (os.replace); delete nothing else, "
                     "leave nothing else.")
ANSWER_OK_HINT = "After os.replace(), send exactly b'OK\\n' — the sender is waiting for it."

# -- hints a failure picks from what it saw (else the check's own hint) --------------------------------------
SPLIT_FIELD_HINT = ("struct.unpack got fewer bytes than the field has: a header field arrived in pieces and one "
                    "recv() returned only part of it. Read every field with a loop that asks for the bytes still "
                    "missing (recv_exactly).")
SHORT_SEND_HINT = ("send() took only part of what it was given (the grader made it return short counts, as a full "
                   "send buffer does) and the rest was never sent: use sock.sendall(data), or loop on the rest. "
                   "The bytes a short send did not take are lost otherwise.")
RESEND_HINT = ("After a short send, send what is still missing — data[sent:] — not the same bytes again: keep a "
               "count of what send() took (or use sock.sendall(data)).")
NAME_BYTES_HINT = ("The name length counts BYTES of the UTF-8 name, not characters: name_bytes = "
                   "Path(path).name.encode('utf-8'), then struct.pack('!H', len(name_bytes)) + name_bytes.")
HEXDIGEST_HINT = ("The digest is the 32 raw bytes of hashlib.sha256(...).digest(), not the 64-character "
                  ".hexdigest() string.")
LAST_COMPONENT_HINT = ("The name in the header is the file's name only — Path(path).name — never the directory it "
                       "sits in: the receiver refuses any name with a '/'.")
EOF_ANSWER_HINT = ("recv() returning b'' means the receiver closed: before a whole answer line that is a failure — "
                   "raise TransferError. A loop that doesn't check for b'' waits (or spins) forever.")


def sent_hint(lab: Lab, name: str, expected: bytes, got: bytes) -> str | None:
    """The hint for a receiver that got `got` instead of the upload `expected` (of a file called
    `name`), when the bytes say which mistake it was; None when they do not."""
    raw = name.encode("utf-8")
    header_size = 2 + len(raw) + 8 + 32
    announced = int.from_bytes(got[:2], "big") if len(got) >= 2 else None
    if len(got) < len(expected) and expected.startswith(got):
        return SHORT_SEND_HINT if lab.faults_used else None
    if announced is not None and announced != len(raw):
        if announced == len(name):
            return NAME_BYTES_HINT
        if b"/" in got[2:2 + announced]:
            return LAST_COMPONENT_HINT
    digest = expected[header_size - 32:header_size]
    if got.startswith(expected[:header_size - 32]) and got[header_size - 32:].startswith(digest.hex().encode()):
        return HEXDIGEST_HINT
    how = skipped_or_repeated(expected, got)
    if how == "repeated":
        return RESEND_HINT
    return SHORT_SEND_HINT if how == "skipped" and lab.faults_used else None


def expect_sent(lab: Lab, name: str, expected: bytes, got: bytes, *, hint: str) -> None:
    """The receiver got exactly the upload `expected` of the file `name`: header, then content."""
    if got == expected:
        return
    header_size = 2 + len(name.encode("utf-8")) + 8 + 32
    part = "header" if got[:header_size] != expected[:header_size] else "content"
    if len(got) < len(expected) and expected.startswith(got):
        message = f"the receiver got only {len(got)} of the {len(expected)} bytes of the upload"
    else:
        message = f"the receiver got the wrong bytes: the {part} differs"
    where, want, have = byte_difference(expected, got)
    raise Failure(f"{message} ({where}; the header is {header_size} bytes)",
                  expected=want, actual=have, hint=sent_hint(lab, name, expected, got) or hint)


# -- the disk ---------------------------------------------------------------------------------------------------
def tree(roots: dict[str, Path], skip: Path | None = None) -> dict[str, str]:
    """Every file and directory under each root (dotfiles too), named "<label>/<relative path>",
    with a short fingerprint of each. `skip` (a directory inside a root, listed under its own
    label) is left out of the walk."""
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


def changes(before: dict[str, str], after: dict[str, str]) -> list[str]:
    """What differs between two listings made by tree(), one line for each change."""
    found = [f"new: {p} ({after[p]})" + (" — a leftover temporary file?" if Path(p).name.startswith(".") else "")
             for p in sorted(after.keys() - before.keys())]
    found += [f"gone: {p} (was {before[p]})" for p in sorted(before.keys() - after.keys())]
    found += [f"changed: {p} (was {before[p]}; now {after[p]})"
              for p in sorted(before.keys() & after.keys()) if before[p] != after[p]]
    return found


def expect_untouched(before: dict[str, str], after: dict[str, str], what: str, *, hint: str) -> None:
    """Nothing on disk changed between the two listings."""
    found = changes(before, after)
    if found:
        raise Failure(f"{what}, but the disk changed:\n  " + "\n  ".join(found),
                      expected="no file created, changed or removed anywhere", actual=f"{len(found)} change(s)",
                      hint=hint)


def file_in_tmpdir(lab: Lab, name: str, content: bytes) -> Path:
    """A file to send, in a directory of its own that the lab removes at the end."""
    path = lab.tmpdir() / name
    path.write_bytes(content)
    return path


def upload_over_an_old_file(lab: Lab, name: str, old: bytes, size: int) -> tuple[Path, bytes, bytes]:
    """(dest_dir, content, upload): dest_dir already holds a file `name` holding `old`, which a
    failed upload must leave as it was; the upload brings `size` random bytes under that name."""
    dest = lab.tmpdir()
    (dest / name).write_bytes(old)
    content = os.urandom(size)
    return dest, content, file_message(name, content)


# -- receive_file -----------------------------------------------------------------------------------------------
def answer_lines(peer: Peer, student: socket.socket) -> list[bytes]:
    """The lines the peer received. Half-closes the grader's copy first: an answer not yet sent never comes."""
    half_close(student)
    peer.wait(DEADLINE)
    return list(peer.lines)


def call_receive(lab: Lab, student: socket.socket, dest: Any, *, what: str, hint: str,
                 why: str = NEVER_COMING, **options: Any) -> CallResult:
    """receive_file(student, dest); a hang becomes a Failure that says what had arrived (and `why`),
    and struct.unpack's complaint about a short field is told as the split field it is."""
    try:
        result = lab.call("receive_file", student, dest, deadline=SHORT_DEADLINE, **options)
    except CallTimedOut as exc:
        raise CallTimedOut(f"{exc.message}, although {what} had arrived: it is waiting for bytes that will never "
                           f"come{why}", hint=hint) from None
    if result.status == "raised" and is_short_header(result.error):
        lab.returned(result, hint=SPLIT_FIELD_HINT)
    return result


def expect_saved(lab: Lab, result: CallResult, peer: Peer, student: socket.socket, dest: Path, name: str,
                 content: bytes, before: dict[str, str], *, hint: str, list_dest: bool = True,
                 nothing_else_hint: str = NOTHING_ELSE_HINT, ok_hint: str = ANSWER_OK_HINT) -> None:
    """receive_file returned dest/name, saved `content` there, answered OK, created nothing else.

    list_dest: a missing file's failure lists what dest_dir holds instead.
    """
    value = lab.returned(result, hint=hint)
    lab.expect_args_open(result)
    lines = answer_lines(peer, student)
    final = dest / name
    if not isinstance(value, (str, os.PathLike)) or Path(value) != final:
        raise Failure(f"{result.shown} returned the wrong value", expected=repr(final), actual=repr(value),
                      hint="Return the final path: Path(dest_dir) / name.")
    if not final.is_file():
        raise Failure(f"{result.shown} returned {final} but there is no such file",
                      actual=(", ".join(sorted(os.listdir(dest))) or "dest_dir is empty") if list_dest else None,
                      hint=hint)
    saved = final.read_bytes()
    if saved != content:
        where, want, have = byte_difference(content, saved)
        raise Failure(f"the file saved as {name!r} is not the content that was sent: {where}",
                      expected=want, actual=have, hint=hint)
    expected_tree = dict(before)
    expected_tree[f"dest_dir/{name}"] = tree({"dest_dir": dest})[f"dest_dir/{name}"]
    extra = changes(expected_tree, tree({"dest_dir": dest}))
    if extra:
        raise Failure("the file was saved, but dest_dir holds something else too:\n  " + "\n  ".join(extra),
                      hint=nothing_else_hint)
    if lines != [b"OK"]:
        raise Failure("the file was saved but the sender did not get the answer b'OK\\n'",
                      expected="[b'OK']", actual=repr(lines), hint=ok_hint)


def expect_refused(lab: Lab, result: CallResult, peer: Peer, student: socket.socket, what: str, *, hint: str,
                   answer: bool = True, changes: Sequence[str] = ()) -> None:
    """receive_file raised TransferError and (where the connection allows) answered ERR.

    `changes`: what the call did to the disk, told along with an acceptance.
    """
    if result.status == "returned":
        lines = answer_lines(peer, student)
        written = ("; on disk:\n  " + "\n  ".join(changes)) if changes else ""
        raise Failure(f"{what} was accepted: {result.shown} returned {result.value!r}{written}",
                      expected="b'ERR <reason>\\n' answered and TransferError raised",
                      actual=f"answered {lines!r}", hint=hint)
    lab.expect_raises(result, "TransferError", hint=hint + " Whatever went wrong, raise TransferError "
                      "(chain the original: `raise TransferError(...) from exc`).")
    lab.expect_args_open(result)
    if answer:
        lines = answer_lines(peer, student)
        if not lines or not lines[0].startswith(b"ERR"):
            raise Failure(f"{what} raised TransferError but the sender was not told",
                          expected="the answer line b'ERR <reason>\\n'", actual=repr(lines),
                          hint="Send b'ERR <reason>\\n' before raising: the sender is waiting for an answer.")


def expect_names_refused(lab: Lab, names: Sequence[str | bytes], places: dict[str, Path], dest: Path,
                         dest_arg: str | Path, *, hint: str, why: str = NEVER_COMING) -> None:
    """receive_file(sock, dest_arg) refuses an upload under each name, and nothing changes in `places`.

    dest is dest_dir (its own tree is left out of the listings); dest_arg is how it is passed,
    a str or a Path.
    """
    for name in names:
        before = tree(places, skip=dest)
        peer, student = lab.connection([Send(file_message(name, b"not yours\n")), RecvLine()],
                                       name=f"sender {name!r}")
        result = call_receive(lab, student, dest_arg, what=f"the upload named {name!r}", hint=hint, why=why)
        after = tree(places, skip=dest)
        expect_refused(lab, result, peer, student, f"the file name {name!r}", hint=hint,
                       changes=changes(before, after))
        expect_untouched(before, after, f"the upload named {name!r} was refused", hint=hint)


# -- send_file and upload ---------------------------------------------------------------------------------------
def call_send(lab: Lab, call: Callable[[], CallResult], peer: Peer, sock: socket.socket, name: str, upload: bytes,
              *, hint: str) -> CallResult:
    """call() (a send_file call of the file `name`); a hang becomes a CallTimedOut that says how
    much of `upload` arrived, with the hint those bytes point to."""
    try:
        return call()
    except CallTimedOut as exc:
        sock.shutdown(socket.SHUT_RDWR)  # ends the receiver's wait, so that it reports what it got
        peer.wait(DEADLINE)
        got = bytes(peer.received)
        raise CallTimedOut(f"{exc.message}: the receiver got {len(got)} of the {len(upload)} bytes of the "
                           "upload and was still waiting for the rest",
                           hint=sent_hint(lab, name, upload, got) or hint) from None


def expect_upload(lab: Lab, call: Callable[[], CallResult], peer: Peer, sock: socket.socket, name: str,
                  upload: bytes, *, hint: str) -> CallResult:
    """send_file (run by `call`) returned on OK after the receiver got exactly `upload`."""
    result = call_send(lab, call, peer, sock, name, upload, hint=hint)
    lab.returned(result, hint=hint)
    lab.expect_args_open(result)
    peer.wait(DEADLINE)  # a send_file that returns before the answer may be ahead of the receiver
    expect_sent(lab, name, upload, bytes(peer.received), hint=hint)
    return result


# -- serve_uploads ----------------------------------------------------------------------------------------------
def clients_in_turn(lab: Lab, address: tuple, pending: LabCall,
                    scripts: Sequence[tuple[str, Sequence[Action]]]) -> list[ClientPeer]:
    """One client per (name, script), each connecting once the one before is answered or done
    (or serve_uploads has ended), so that the order is known."""
    end = time.monotonic() + DEADLINE
    clients = []
    for name, script in scripts:
        client = lab.client(address, script, name=name)
        clients.append(client)
        wait_until(lambda c=client: c.lines or c.finished.is_set() or pending.done(), end - time.monotonic())
    return clients


def expect_not_raised(result: CallResult, why: str, *, hint: str) -> None:
    """serve_uploads did not let one bad client end it: `why` says what that cost."""
    if result.status == "raised":
        raise Failure(f"{result.shown} raised {result.error}{why}{shown_traceback(result)}", hint=hint)


RECEIVE_FIRST_HINT = ("serve_uploads calls receive_file for each client: a correct upload answered ERR means "
                      "receive_file fails on it. Make the receive_file checks pass first.")


def expect_good_uploads_saved(clients: Sequence[ClientPeer], good: Sequence[int]) -> None:
    """The clients at the indexes `good` sent correct uploads: none of them may have been refused.
    Told before the list serve_uploads returned, whose fault it would otherwise seem to be."""
    wait_for_clients(clients)  # a client may still be reading its answer when serve_uploads returns
    for index in good:
        answer = clients[index].lines[:1]
        if answer and answer[0].startswith(b"ERR"):
            raise Failure(f"the correct upload of {clients[index].name} was refused", expected="[b'OK']",
                          actual=repr(answer), hint=RECEIVE_FIRST_HINT)


def expect_paths(result: CallResult, value: Any, expected: list[Path], *, hint: str) -> None:
    """serve_uploads returned the list of the saved files' paths (str or Path), in order."""
    if not isinstance(value, list) or [Path(v) if isinstance(v, (str, os.PathLike)) else v for v in value] != expected:
        raise Failure(f"{result.shown} returned the wrong list", expected=repr(expected), actual=repr(value),
                      hint=hint)


def wait_for_clients(clients: Sequence[Peer]) -> None:
    """Waits (DEADLINE in all) for clients that may still be reading their answer."""
    end = time.monotonic() + DEADLINE
    for client in clients:
        client.wait(max(0.0, end - time.monotonic()))


# -- big files --------------------------------------------------------------------------------------------------
@cache
def seeded_block(seed: int) -> bytes:
    """1 MiB of random-looking bytes (seeded): repeated, it makes big content with a real digest."""
    return random.Random(seed).randbytes(BLOCK)


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """n bytes from the grader's own socket; EOFError if the other end closes first."""
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError(f"the sender closed after {len(data)} of {n} bytes")
        data += chunk
    return bytes(data)


def call_on_a_big_file(lab: Lab, func: str, sock: socket.socket, where: str, *, progress: Callable[[], str],
                       hint: str) -> CallResult:
    """func(sock, where) moving BIG_MIB MiB, in a fresh worker so that the peak memory measured is
    this call's alone; a hang becomes a CallTimedOut that says how far the transfer got."""
    try:
        return lab.call(func, sock, where, deadline=BIG_DEADLINE, fresh=True)
    except CallTimedOut as exc:
        raise CallTimedOut(f"{exc.message}: {progress()}", hint=hint) from None


def expect_flat_memory(lab: Lab, result: CallResult, doing: str, held: str, *, hint: str) -> None:
    """The call moved BIG_MIB MiB, and the worker's peak memory grew by less than MEMORY_LIMIT_KB."""
    lab.expect_seen(result)
    grew = result.rss_growth_kb
    if grew >= MEMORY_LIMIT_KB:
        raise Failure(f"{doing} a {BIG_MIB} MiB file made the worker's memory grow by {grew / 1024:.0f} MiB: "
                      f"the {held} was held in memory", expected=f"under {MEMORY_LIMIT_KB // 1024} MiB",
                      actual=f"{grew / 1024:.0f} MiB", hint=hint)
