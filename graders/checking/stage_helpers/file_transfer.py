"""What stage 06's checks share (exercises/06_file_transfer and graders/hidden/06_file_transfer):
listing the disk before and after a call, receive_file's answers, and the big-file machinery.

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
from graders.checking.transcript import describe_difference
from graders.engine.calls import CallResult

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
    """receive_file(student, dest); a hang becomes a Failure that says what had arrived (and `why`)."""
    try:
        return lab.call("receive_file", student, dest, deadline=SHORT_DEADLINE, **options)
    except CallTimedOut as exc:
        raise CallTimedOut(f"{exc.message}, although {what} had arrived: it is waiting for bytes that will never "
                           f"come{why}", hint=hint) from None


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
        raise Failure(f"the file saved as {name!r} is not the content that was sent",
                      expected=f"{len(content)} bytes", actual=describe_difference(content, saved), hint=hint)
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
def call_send(call: Callable[[], CallResult], peer: Peer, sock: socket.socket, upload: bytes, *,
              hint: str) -> CallResult:
    """call() (a send_file call); a hang becomes a CallTimedOut that says how much of `upload` arrived."""
    try:
        return call()
    except CallTimedOut as exc:
        sock.shutdown(socket.SHUT_RDWR)  # ends the receiver's wait, so that it reports what it got
        peer.wait(DEADLINE)
        raise CallTimedOut(f"{exc.message}: the receiver got {len(peer.received)} of the {len(upload)} bytes of the "
                           "upload and was still waiting for the rest", hint=hint) from None


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
