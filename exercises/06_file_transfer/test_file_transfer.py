"""Public checks for stage 06: a header, streamed content, one answer line — and hostile peers.
(Speed and memory: test_file_transfer_streaming.py.)

How these checks stay honest:
- every upload a check sends is built by graders.checking.protocols (the same bytes a correct sender
  sends); what reaches the disk is judged by listing the whole directory tree, dotfiles
  included, before and after the call;
- after receive_file returns, the grader half-closes its copy of the student's socket, so
  a peer waiting for an answer line that never came sees EOF at once instead of hanging.

Every rule of exercises/06_file_transfer/README.md ("Your task") has a check here (or in the
streaming file) that catches its most common violation; each check names the README rule it
relies on. The hidden checks add depth — IPv6, every split point, more names — never a rule.
"""

import hashlib
import os
import random

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
    Stall,
    check,
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
GLUED_HINT = ("TCP has no message boundaries: the header and the start of the content may come in one recv(). "
              "Read each header field with a loop that asks only for the bytes still missing (recv_exactly), "
              "or keep whatever you read past the header as the first piece of the content.")
DRIBBLE_HINT = ("recv(n) returns 1 to n bytes: a 2-byte length may come in two pieces. Loop until each field is "
                "complete. Then read exactly `size` bytes of content: the sender keeps the connection open, "
                "waiting for your answer, so there is no EOF to wait for.")
EMPTY_HINT = ("An empty file is a valid file: loop `while remaining:` (not do-while), so that for size 0 you "
              "never call recv(0) — it returns b'' at once, which looks exactly like the sender's EOF.")
NAME_HINT = ("Never trust a name from the network: refuse (answer ERR, raise TransferError) a name that is empty "
             "or absolute, or contains '/', '\\\\', '..' or a NUL byte, or is not valid UTF-8 (decode it strictly) "
             "— before anything touches the disk. Path(dest_dir) / '/etc/x' is '/etc/x', and os.path.basename() "
             "lets '\\\\' through.")
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
LENGTH_HINT = ("Check the name length (1..1024) as soon as you have its 2 bytes, BEFORE reading the name: a "
               "length of 2000 is refused at once, without waiting for 2000 bytes that may never come.")
SHORT_SEND_HINT = shared.SHORT_SEND_HINT
ENDLESS_HINT = ("Bound the answer line: an answer longer than 1024 bytes without a newline is not this protocol. "
                "Raise TransferError as soon as your buffer holds more than that without a b'\\n', instead of "
                "waiting (and buffering) for a newline that may never come.")
UPLOAD_TIMEOUT_HINT = ("socket.create_connection((host, port), timeout=timeout) bounds the connect AND leaves the "
                       "timeout on the socket, so that send_file's recv() of the answer raises TimeoutError instead "
                       "of waiting forever for a silent receiver.")


# -- receive_file ----------------------------------------------------------------------------------------------
@check(points=1.5, hint=GLUED_HINT)
def test_receives_header_and_content_glued(lab):
    """receive_file() saves a file whose header and binary content arrive glued in one segment"""
    # README: "receive_file" — read the header exactly (concept 2: glued to the content, or in pieces).
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
    # README: "receive_file" — read the header exactly, then the content (the sender waits, no EOF).
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
    # README: "receive_file" — an empty file (size 0) is a valid file.
    dest = lab.tmpdir()
    peer, student = lab.connection([Send(file_message("empty.txt", b"")), ShutWr(), RecvLine()])
    before = shared.tree({"dest_dir": dest})
    result = shared.call_receive(lab, student, str(dest), what="the header of a 0-byte file", hint=EMPTY_HINT)
    shared.expect_saved(lab, result, peer, student, dest, "empty.txt", b"", before, hint=EMPTY_HINT)


@check(points=1.5, hint=NAME_HINT)
def test_refuses_names_that_escape_dest_dir(lab):
    """receive_file() answers ERR to "../x", "/abs/x", "a/b", "..", "a\\b", "x\\0y" and a name that is not UTF-8, and writes nothing anywhere"""
    # README: "receive_file" — refuse unsafe names before touching the disk; on failure answer ERR,
    # raise TransferError, leave nothing new.
    root = lab.tmpdir()  # dest_dir's parent: where "../x" lands
    dest = root / "dest"
    (dest / "a").mkdir(parents=True)  # exists, so that "a/b" could really be written
    elsewhere = lab.tmpdir()  # stands in for /etc: an absolute name points here, never at a real system path
    names: list[str | bytes] = ["../x", str(elsewhere / "x"), "a/b", "..", "a\\b", "x\0y", b"caf\xe9.txt"]
    places = {"dest_dir": dest, "dest_dir's parent": root, "another directory": elsewhere}
    shared.expect_names_refused(lab, names, places, dest, str(dest), hint=NAME_HINT)


@check(points=0.5, hint=LENGTH_HINT)
def test_refuses_a_long_name_before_reading_it(lab):
    """receive_file() answers ERR to a name length of 2000 at once, without waiting for the name"""
    # README: "receive_file" — a name length outside 1..1024 is refused as soon as its 2 bytes are in,
    # before the name is read.
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


@check(points=1.5, hint=CLEANUP_HINT)
def test_leaves_nothing_when_the_sender_dies(lab):
    """receive_file() leaves no file and no temporary when the sender closes or resets mid-file"""
    # README: "receive_file" — stream into a temporary file; on any failure leave nothing new in
    # dest_dir, raise TransferError.
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
    # README: "receive_file" — check the digest; on failure answer ERR, raise TransferError, leave
    # nothing new.
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
    # README: "receive_file" — os.replace it to dest_dir/name (replacing an existing file).
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
    # README: "send_file" — send the header (the name is the last component of path), then the
    # content; return on b"OK\n"; do not close sock.
    path = shared.file_in_tmpdir(lab, NAME, BINARY)
    upload = file_message(NAME, BINARY)
    peer, sock = lab.connection([Recv(len(upload)), Send(b"OK\n")], name="receiver")
    shared.expect_upload(lab, lambda: lab.call("send_file", sock, str(path)), peer, sock, NAME, upload,
                         hint=SEND_HINT)


@check(points=0.5, hint=SHORT_SEND_HINT)
def test_send_file_with_short_sends(lab):
    """send_file() delivers every byte while every send() takes only a few bytes"""
    # README: "send_file" — send every byte: send() may take only part of what it is given.
    content = random.Random(62).randbytes(2000)
    path = shared.file_in_tmpdir(lab, "partial.bin", content)
    upload = file_message("partial.bin", content)
    peer, sock = lab.connection([Recv(len(upload)), Send(b"OK\n")], name="receiver")
    # faults=True: every send() in the student's code takes at most a few bytes, as TCP allows.
    shared.expect_upload(lab, lambda: lab.call("send_file", sock, str(path), faults=True,
                                               deadline=shared.SHORT_DEADLINE),
                         peer, sock, "partial.bin", upload, hint=SHORT_SEND_HINT)


@check(points=1, hint=ANSWER_HINT)
def test_send_file_raises_unless_ok(lab):
    """send_file() raises TransferError when the receiver answers ERR, or closes without answering"""
    # README: "send_file" — raise TransferError on ERR, and if the receiver closes without a whole
    # answer line.
    content = b"some content\n"
    path = shared.file_in_tmpdir(lab, "a.txt", content)
    upload = file_message("a.txt", content)
    for what, script in {"answers b'ERR disk full\\n'": [Recv(len(upload)), Send(b"ERR disk full\n")],
                         "closes without answering": [Recv(len(upload)), Close()]}.items():
        peer, sock = lab.connection(script, name="receiver")
        try:
            result = lab.call("send_file", sock, str(path), deadline=shared.SHORT_DEADLINE)
        except CallTimedOut as exc:
            raise CallTimedOut(f"{exc.message}: the receiver {what}, and send_file kept waiting for an answer "
                               "that could never come", hint=shared.EOF_ANSWER_HINT) from None
        if result.status == "returned":
            raise Failure(f"the receiver {what}, yet {result.shown} returned as if the upload had succeeded",
                          expected="TransferError raised", actual=f"returned {result.value!r}", hint=ANSWER_HINT)
        lab.expect_raises(result, "TransferError", hint=ANSWER_HINT if what.startswith("answers")
                          else shared.EOF_ANSWER_HINT)


@check(points=0.5, hint=ENDLESS_HINT)
def test_send_file_refuses_an_endless_answer(lab):
    """send_file() raises TransferError when the answer is 64 KiB without a newline"""
    # README: "send_file" — TransferError on an answer line longer than 1024 bytes without its newline
    # (never wait for an endless one).
    path = shared.file_in_tmpdir(lab, "a.txt", b"a\n")
    upload = file_message("a.txt", b"a\n")
    peer, sock = lab.connection([Recv(len(upload)), Send(b"Y" * 65536), Stall()], name="receiver")
    try:
        result = lab.call("send_file", sock, str(path), deadline=shared.SHORT_DEADLINE)
    except CallTimedOut as exc:
        raise CallTimedOut(f"{exc.message}: the receiver sent 64 KiB without a newline and went silent; "
                           "send_file kept waiting for a newline", hint=ENDLESS_HINT) from None
    if result.status == "returned":
        raise Failure(f"{result.shown} returned although the answer was 64 KiB of b'Y' and no newline, not OK",
                      expected="TransferError raised", actual=f"returned {result.value!r}", hint=ENDLESS_HINT)
    lab.expect_raises(result, "TransferError", hint=ENDLESS_HINT)


@check(points=0.5, hint=SEND_EMPTY_HINT)
def test_send_file_sends_an_empty_file(lab):
    """send_file() of an empty (0-byte) file sends the header alone and returns on OK"""
    # README: "send_file" — the header, then the content (none for an empty file); return on OK.
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
    """upload() returns on OK, raises TransferError on ERR and TimeoutError from a silent server, and closes its socket every time"""
    # README: "upload" — connect (the timeout bounds the connect and every later call), send_file,
    # close the socket on every path.
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
    silent = lab.server([Recv(len(upload)), Stall()])
    try:
        result = lab.call("upload", *silent.address, str(path), kwargs={"timeout": shared.SHORT_TIMEOUT},
                          deadline=shared.SHORT_DEADLINE)
    except CallTimedOut as exc:
        raise CallTimedOut(f"{exc.message}: the server read the upload and went silent; upload(timeout="
                           f"{shared.SHORT_TIMEOUT:g}) should have raised TimeoutError after about "
                           f"{shared.SHORT_TIMEOUT:g} s", hint=UPLOAD_TIMEOUT_HINT) from None
    lab.expect_raises(result, TimeoutError, hint=UPLOAD_TIMEOUT_HINT)
    lab.expect_no_leaks(result, hint=UPLOAD_HINT)


# -- serve_uploads ---------------------------------------------------------------------------------------------
@check(points=1.5, hint=SERVE_HINT)
def test_serve_uploads_survives_a_failed_upload(lab):
    """serve_uploads(listener, dest_dir, 3) saves two good uploads around a bad one and returns their paths"""
    # README: "serve_uploads" — receive_file on each connection, close each; a failed upload is skipped,
    # not fatal; return the saved paths in order; never close listener.
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
    shared.expect_good_uploads_saved(clients, good=[0, 2])
    shared.expect_paths(result, value, [dest / "one.txt", dest / "three.txt"],
                        hint="Return the paths receive_file returned, in order; a failed upload adds nothing.")
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
