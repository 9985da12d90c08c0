"""Hidden checks for stage 06: the public checks' ideas with other splits, names, failures and families.

As in the public checks: uploads are built by graders.checking.protocols, the disk is judged by
listing whole directory trees (dotfiles included) before and after each call, and the
grader half-closes its copy of the student's socket after receive_file returns, so that a
missing answer shows at once.

Each check tests a sentence of exercises/06_file_transfer/README.md, named in its comment, and
a public check already catches that rule's most common violation: these add depth (IPv6,
every split point, more names and failures), never a rule of their own.
"""

import os
import random
import socket
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
    encode_file_header,
    file_message,
    unread_bytes,
    wait_until,
)
from graders.api import file_transfer as shared  # what the public checks of this stage use too

SHORT_TIMEOUT = shared.SHORT_TIMEOUT

SPLIT_HINT = ("recv(n) returns whatever has arrived, 1 to n bytes, cut anywhere: in the middle of the length, "
              "of the name, of the size, of the digest. Read every field with a loop that asks for the bytes "
              "still missing.")
NAME_HINT = ("Refuse (answer ERR, raise TransferError) a name that is empty, absolute, or contains '/', '\\\\', "
             "'..' or a NUL byte, and a name that is not valid UTF-8 (.decode('utf-8') raises "
             "UnicodeDecodeError, a ValueError) — before anything touches the disk.")
CLEANUP_HINT = ("A TimeoutError (a socket timeout) is a failure like any other: delete the temporary file, answer "
                "ERR, raise TransferError. One try/except around the whole receive (and a finally) covers them all.")
LAST_COMPONENT_HINT = shared.LAST_COMPONENT_HINT
REFUSED_EARLY_HINT = ("A receiver that refuses your upload may close while you are still sending: sendall() then "
                      "raises BrokenPipeError or ConnectionResetError. Let it propagate, or first try to read the "
                      "ERR line and raise TransferError — but never return as if the upload had worked.")
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
    # README: "receive_file" — read the header exactly (concept 2: it may arrive in pieces).
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
    # README: "receive_file" — read the header exactly (concept 2: it may arrive in pieces).
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
    # README: "receive_file" — refuse unsafe names (empty, absolute, "/", "\\", "..", NUL, not UTF-8)
    # before touching the disk.
    root = lab.tmpdir()
    dest = root / "dest"
    (dest / "sub").mkdir(parents=True)
    places = {"dest_dir": dest, "dest_dir's parent": root}
    # b"\xc0\xafetc": "/" in an overlong (invalid) UTF-8 encoding, which lenient decoders let through.
    names: list[str | bytes] = ["", "/", "\\", "..\\x", "sub/../x", "x\0", b"\xc0\xafetc"]
    shared.expect_names_refused(lab, names, places, dest, dest, hint=NAME_HINT, why="")


@check(points=0.5, hint=CLEANUP_HINT)
def test_leaves_nothing_after_a_timeout(lab):
    """receive_file() on a socket with a 0.3 s timeout leaves nothing behind when the sender stalls mid-file"""
    # README: "receive_file" — on any failure (concept 7: a timeout is one) leave nothing new in
    # dest_dir and raise TransferError.
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
@check(points=0.5, hint=LAST_COMPONENT_HINT)
def test_send_file_sends_only_the_file_name(lab):
    """send_file(sock, Path(".../sub/dir/report.pdf")) sends the name "report.pdf", not the path"""
    # README: "send_file" — the name is the last component of path (a str or a Path).
    folder = lab.tmpdir() / "sub" / "dir"
    folder.mkdir(parents=True)
    content = b"%PDF-1.7 not really\n"
    (folder / "report.pdf").write_bytes(content)
    upload = file_message("report.pdf", content)
    peer, sock = lab.connection([Recv(len(upload)), Send(b"OK\n")], name="receiver")
    shared.expect_upload(lab, lambda: lab.call("send_file", sock, folder / "report.pdf",
                                               deadline=shared.SHORT_DEADLINE),
                         peer, sock, "report.pdf", upload, hint=LAST_COMPONENT_HINT)


@check(points=0.5, hint=REFUSED_EARLY_HINT)
def test_send_file_when_the_receiver_refuses_early(lab):
    """send_file() of 8 MiB raises TransferError or ConnectionError when the receiver answers ERR after the header and resets"""
    # README: "send_file" — return on b"OK\n" only; concept 7: a receiver that refuses early may
    # reset while you send (a ConnectionError), its ERR line may still be readable.
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


@check(points=0.5, hint=UPLOAD_HINT)
def test_upload_over_ipv6_and_timeout(lab):
    """upload("::1", ...) works over IPv6; upload(timeout=0.3) to a silent server raises TimeoutError; no socket leaks"""
    # README: "upload" — host may be an IPv6 address; the timeout bounds the connect and every later
    # call; the socket is closed on every path.
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
    # README: "serve_uploads" — a failed upload is skipped, not fatal; return the saved paths in order.
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
    shared.expect_good_uploads_saved(clients, good=[3, 5])
    shared.expect_paths(result, value, [dest / "good.txt", dest / "empty"], hint=SERVE_HINT)
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
