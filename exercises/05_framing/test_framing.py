"""Public checks for stage 05: length-prefixed frames and UTF-8 lines on a TCP byte stream.

The peers here create what real networks do to a byte stream: frames glued into one
segment, headers dribbled one byte at a time, torn frames, hostile lengths, a peer that
never sends its newline, and `send` calls that accept only a few bytes.

Every rule of exercises/05_framing/README.md ("The task") has a check here that catches its
most common violation; each check names the README rule it relies on. The hidden checks
(graders/hidden/05_framing) add depth — more split points, sizes, positions — never a rule.
"""

import socket

from graders.api import (
    MAX_FRAME,
    Close,
    Failure,
    RecvAll,
    Send,
    check,
    dribble,
    encode_frame,
    show_bytes,
    unread_bytes,
    wait_until,
)
from graders.api import framing as shared  # what these checks share with the hidden ones

FRAME_HINT = ("A frame is 4 bytes of length, unsigned and big-endian (struct.pack('!I', n) or "
              "n.to_bytes(4, 'big')), then exactly n bytes of payload.")
LOOP_HINT = ("TCP is a byte stream: recv(n) returns whatever has arrived, 1 to n bytes. Loop until you "
             "have all 4 header bytes, then loop until you have all `length` payload bytes, asking only "
             "for what is still missing.")
NEXT_FRAME_HINT = ("recv_frame keeps nothing between calls, so it must never take a byte of the next frame "
                   "out of the socket: ask recv only for the bytes still missing, and do not wrap the socket "
                   "in a new sock.makefile() on each call — its buffer reads ahead and is thrown away.")
EOF_HINT = ("recv() returning b'' is EOF. Before the first header byte it is the normal end: return None. "
            "After some bytes of a frame (header or payload) the message is torn: raise EOFError.")
MAX_HINT = ("Check the announced length against MAX_FRAME right after unpacking the header, before you "
            "read or allocate the payload: `if length > MAX_FRAME: raise ValueError(...)`.")
LINES_HINT = ("Keep one buffer for the whole connection: append each recv to it, cut complete lines at "
              "b'\\n', and keep the rest (the start of the next line) for the next round.")


# -- helpers ------------------------------------------------------------------------------
def _unread(sock: socket.socket) -> bytes:
    """The bytes still waiting in the student's socket, read through the grader's own copy."""
    want = unread_bytes(sock)
    sock.settimeout(shared.PEER_TIMEOUT)
    got = bytearray()
    while len(got) < want:
        chunk = sock.recv(want - len(got))
        if not chunk:
            break
        got += chunk
    return bytes(got)


def _frames(lab, sock, expected, *, hint, what="frame"):
    """Calls recv_frame once per expected payload, in order, and compares each."""
    for index, payload in enumerate(expected, 1):
        shared.expect_frame(lab, sock, payload, message=f"call {index} of recv_frame returned the wrong {what}",
                            hint=hint)


def _expect_lines(lab, result, expected, *, hint=None, given="", sent=b""):
    """The lines of a consumed read_lines call must be `expected`, with no exception part-way."""
    shared.expect_lines(lab, result, expected, message=f"read_lines{given} yielded the wrong lines", hint=hint,
                        sent=sent)


# -- encode_frame and send_frame ----------------------------------------------------------
@check(points=0.5, hint=FRAME_HINT + " '<I' and 'I' are little-endian on most machines; '!H' is only 2 bytes.")
def test_encode_frame_writes_big_endian_length(lab):
    """encode_frame puts a 4-byte big-endian length in front of the payload"""
    # README: "encode_frame" — the 4-byte unsigned big-endian length of payload, then payload.
    cases = [b"abc", b"", bytes(range(256)) + b"." * 44, b"z" * 70000]  # 300 = 00 00 01 2c
    for payload in cases:
        result = lab.call("encode_frame", payload)
        value = lab.returned(result)
        expected = len(payload).to_bytes(4, "big") + payload
        if value != expected:
            raise Failure(f"encode_frame of a {len(payload)}-byte payload returned the wrong bytes",
                          expected=show_bytes(expected[:12]) + f" … ({len(expected)} bytes)",
                          actual=(show_bytes(value[:12]) + f" … ({len(value)} bytes)")
                          if isinstance(value, bytes) else repr(value))


TOO_BIG_HINT = ("Compare len(payload) with MAX_FRAME first: `if len(payload) > MAX_FRAME: raise ValueError(...)`, "
                "in encode_frame, and in send_frame before anything is sent (send_frame can simply call "
                "encode_frame first).")


@check(points=0.5, hint=TOO_BIG_HINT)
def test_frame_functions_refuse_a_payload_above_max_frame(lab):
    """encode_frame and send_frame raise ValueError for a payload of MAX_FRAME + 1 bytes, and send nothing"""
    # README: "encode_frame" — ValueError if len(payload) > MAX_FRAME; "send_frame" — ValueError
    # before sending anything if the payload is too big.
    payload = bytes(MAX_FRAME + 1)
    result = lab.call("encode_frame", payload)
    if result.status == "returned":
        size = len(result.value) if isinstance(result.value, bytes) else None
        raise Failure("encode_frame accepted a payload of MAX_FRAME + 1 bytes"
                      + (f" and returned a frame of {size} bytes" if size is not None else ""),
                      expected="ValueError raised", actual=f"returned {shared.show_payload(result.value)}",
                      hint=TOO_BIG_HINT)
    lab.expect_raises(result, ValueError, hint=TOO_BIG_HINT)
    peer, sock = lab.connection([RecvAll()])
    result = lab.call("send_frame", sock, payload)
    sock.shutdown(socket.SHUT_WR)  # our copy of the student's socket: the peer now sees EOF
    peer.wait(shared.PEER_TIMEOUT)
    sent = len(peer.received)
    if result.status == "returned":
        raise Failure(f"send_frame accepted a payload of MAX_FRAME + 1 bytes: the peer received {sent} bytes",
                      expected="ValueError raised, nothing sent", actual="returned None", hint=TOO_BIG_HINT)
    lab.expect_raises(result, ValueError, hint=TOO_BIG_HINT)
    if sent:
        raise Failure(f"send_frame raised ValueError only after sending {sent} bytes of the frame",
                      expected="ValueError before anything is sent", actual=f"{sent} bytes sent first",
                      hint=TOO_BIG_HINT)


@check(points=1, hint="send() may accept only part of what you give it and returns how many bytes it "
       "took: use sock.sendall(frame), or loop on send() until every byte is sent.")
def test_send_frame_sends_whole_frame_under_short_sends(lab):
    """send_frame delivers the whole frame even when each send() accepts only a few bytes"""
    # README: "send_frame" — send the whole frame; send may accept only part of a buffer. Do not
    # close sock.
    payload = bytes(range(256)) * 2 + b"the end of a 600-byte payload" + b"." * 59
    peer, sock = lab.connection([RecvAll()])
    result = lab.call("send_frame", sock, payload, faults=True)
    lab.returned(result)
    lab.expect_args_open(result)
    sock.shutdown(socket.SHUT_WR)  # our copy of the student's socket: the peer now sees EOF
    peer.wait(shared.PEER_TIMEOUT)
    shared.expect_received_frame(lab, encode_frame(payload), bytes(peer.received), "the peer",
                                 header_hint=FRAME_HINT)


# -- recv_frame: boundaries -------------------------------------------------------------------
@check(points=0.5, hint=FRAME_HINT)
def test_recv_frame_reads_reference_frame(lab):
    """recv_frame reads a frame sent by a correct peer (a 300-byte payload)"""
    # README: "recv_frame" — return the payload of the next frame.
    payload = bytes(range(256)) + b"-" * 44  # 300 bytes: header 00 00 01 2c
    _, sock = lab.connection([Send(encode_frame(payload)), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _frames(lab, sock, [payload], hint=FRAME_HINT + " Header 00 00 01 2c announces 300 bytes.")


@check(points=1, hint=NEXT_FRAME_HINT)
def test_recv_frame_separates_glued_frames(lab):
    """recv_frame returns three frames that arrive glued together in one segment, one per call"""
    # README: "recv_frame" — never reads a byte of the next frame (call it again and it is there).
    payloads = [b"first frame", b"\x00\x01second\xff", b"the third and last frame"]
    _, sock = lab.connection([Send(b"".join(encode_frame(p) for p in payloads)), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _frames(lab, sock, payloads, hint=NEXT_FRAME_HINT)


@check(points=0.5, hint=NEXT_FRAME_HINT)
def test_recv_frame_leaves_next_frame_in_socket(lab):
    """recv_frame never takes a byte of the next frame out of the socket"""
    # README: "recv_frame" — never reads a byte of the next frame.
    first, second = encode_frame(b"take me"), encode_frame(b"but leave me in the socket")
    _, sock = lab.connection([Send(first + second)])
    wait_until(lambda: unread_bytes(sock) >= len(first + second), 5.0)
    sock.settimeout(shared.NO_WAIT_TIMEOUT)
    _frames(lab, sock, [b"take me"], hint=NEXT_FRAME_HINT)
    left = _unread(sock)
    if left != second:
        raise Failure(f"after recv_frame returned the first frame, {len(left)} of the {len(second)} bytes "
                      "of the next frame were still in the socket: the rest was read and lost",
                      expected=show_bytes(second), actual=show_bytes(left))


@check(points=1, hint=LOOP_HINT)
def test_recv_frame_collects_dribbled_frame(lab):
    """recv_frame collects a frame whose header and payload arrive one byte at a time"""
    # README: "recv_frame" — the payload of the next frame, however the stream was cut (concept 6).
    payload = b"dribbled, one byte per segment"
    _, sock = lab.connection([dribble(encode_frame(payload)), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _frames(lab, sock, [payload], hint=LOOP_HINT)


@check(points=0.5, hint="A zero-length frame (00 00 00 00) is a message with an empty payload: return "
       "b''. Only EOF before a header means None — don't test `if not payload`.")
def test_recv_frame_returns_empty_payload(lab):
    """recv_frame returns b"" for a zero-length frame, and the next frame after it"""
    # README: "recv_frame" — b"" for an empty frame.
    _, sock = lab.connection([Send(encode_frame(b"") + encode_frame(b"after the empty one")), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _frames(lab, sock, [b"", b"after the empty one"],
            hint="A zero-length frame is not EOF: return b'' for it, and None only when recv() gives b'' "
            "before any header byte.")


# -- recv_frame: EOF -----------------------------------------------------------------------------
@check(points=1, hint=EOF_HINT)
def test_recv_frame_returns_none_at_clean_eof(lab):
    """recv_frame returns None when the peer closes between frames"""
    # README: "recv_frame" — None if the peer closed cleanly before sending any byte of a new frame.
    _, sock = lab.connection([Send(encode_frame(b"last frame")), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _frames(lab, sock, [b"last frame", None], hint=EOF_HINT)
    _, sock = lab.connection([Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _frames(lab, sock, [None], hint=EOF_HINT + " (Here the peer closed before sending any frame.)")


@check(points=0.5, hint=EOF_HINT)
def test_recv_frame_raises_eoferror_in_header(lab):
    """recv_frame raises EOFError when the peer closes after 2 of the 4 header bytes"""
    # README: "recv_frame" — EOFError if the peer closed inside a header.
    _, sock = lab.connection([Send(b"\x00\x00"), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    result = lab.call("recv_frame", sock)
    if result.status == "raised" and shared.is_short_header(result.error):
        raise Failure(f"the peer sent 2 header bytes and closed: recv_frame raised {result.error}",
                      expected="EOFError", hint=shared.SPLIT_HEADER_HINT + " When recv() returns b'' before you "
                      "have them, the frame is torn: raise EOFError.")
    lab.expect_raises(result, EOFError, hint=EOF_HINT)


@check(points=0.5, hint=EOF_HINT)
def test_recv_frame_raises_eoferror_in_payload(lab):
    """recv_frame raises EOFError when the peer closes after 3 of 10 announced payload bytes"""
    # README: "recv_frame" — EOFError if the peer closed inside a payload.
    _, sock = lab.connection([Send(encode_frame(b"0123456789")[:7]), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    lab.expect_raises(lab.call("recv_frame", sock), EOFError, hint=EOF_HINT)


@check(points=0.5, hint=shared.TIMEOUT_HINT)
def test_recv_frame_lets_a_socket_timeout_through(lab):
    """recv_frame raises TimeoutError when the peer stalls mid-frame on a socket with a 0.5 s timeout"""
    # README: "recv_frame" — a timeout set on the socket surfaces as TimeoutError (just don't catch it).
    _, sock = lab.connection([Send(encode_frame(b"0123456789")[:7])])  # then silence, left open
    wait_until(lambda: unread_bytes(sock) >= 7, shared.PEER_TIMEOUT)
    sock.settimeout(shared.NO_WAIT_TIMEOUT)
    result = lab.call("recv_frame", sock)
    if result.status == "returned":
        raise Failure(f"the peer sent the header and 3 of 10 payload bytes, then went silent (the connection "
                      f"open): recv_frame returned {shared.show_payload(result.value)} when the socket's "
                      f"{shared.NO_WAIT_TIMEOUT:g} s timeout expired", expected="TimeoutError raised",
                      actual=f"returned {shared.show_payload(result.value)}", hint=shared.TIMEOUT_HINT)
    if result.error.is_a(EOFError):
        raise Failure("recv_frame raised EOFError when the socket's timeout expired, but the peer had not "
                      "closed: it only went silent", expected="TimeoutError", actual=str(result.error),
                      hint=shared.TIMEOUT_HINT)
    lab.expect_raises(result, TimeoutError, hint=shared.TIMEOUT_HINT)


# -- recv_frame: hostile lengths ---------------------------------------------------------------------
def _expect_prompt_refusal(lab, result, announced):
    if result.status == "raised" and result.error.is_a(TimeoutError):
        raise Failure(f"recv_frame believed a header announcing {announced} bytes: it waited for the "
                      f"payload (the peer stays silent) until the socket's {shared.NO_WAIT_TIMEOUT:g} s timeout, "
                      "instead of raising ValueError at once", hint=MAX_HINT)
    lab.expect_raises(result, ValueError, hint=MAX_HINT)


@check(points=1, hint=MAX_HINT)
def test_recv_frame_refuses_length_above_max_frame(lab):
    """recv_frame raises ValueError at once for a header announcing MAX_FRAME + 1 bytes"""
    # README: "recv_frame" — ValueError if the announced length exceeds MAX_FRAME, raised right after
    # the header, before reading the body.
    peer, sock = lab.connection([Send((MAX_FRAME + 1).to_bytes(4, "big"))])  # then silence, left open
    peer.wait(shared.PEER_TIMEOUT)
    sock.settimeout(shared.NO_WAIT_TIMEOUT)
    _expect_prompt_refusal(lab, lab.call("recv_frame", sock), "MAX_FRAME + 1")


@check(points=0.5, hint="The limit is inclusive: a payload of exactly MAX_FRAME bytes is legal. "
       "Refuse only `length > MAX_FRAME`.")
def test_recv_frame_accepts_exactly_max_frame(lab):
    """recv_frame accepts a length of exactly MAX_FRAME: it reads on, and raises EOFError when the peer closes mid-payload"""
    # README: "encode_frame" — a payload of exactly MAX_FRAME bytes is fine; "recv_frame" — ValueError
    # only if the length EXCEEDS MAX_FRAME, EOFError if the peer closed inside a payload.
    # The peer announces MAX_FRAME, sends a little of it and closes: a correct recv_frame
    # starts reading the payload and meets EOF (EOFError); a refusal shows as ValueError.
    _, sock = lab.connection([Send(MAX_FRAME.to_bytes(4, "big") + b"x" * 1000), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    result = lab.call("recv_frame", sock)
    if result.status == "raised" and result.error.is_a(ValueError):
        raise Failure(f"recv_frame refused a header announcing exactly MAX_FRAME ({MAX_FRAME}) bytes: "
                      f"{result.error}")
    lab.expect_raises(result, EOFError,
                      hint="The peer announced MAX_FRAME bytes, sent 1000 and closed: read the payload, "
                      "and raise EOFError when the peer closes inside it.")


@check(points=1, hint=MAX_HINT + " Allocate the payload buffer only after that check.")
def test_recv_frame_does_not_allocate_announced_length(lab):
    """recv_frame refuses a header announcing 128 MiB without allocating it"""
    # README: "recv_frame" — ValueError before reading or allocating the body.
    announced = 8 * MAX_FRAME
    peer, sock = lab.connection([Send(announced.to_bytes(4, "big"))])  # then silence, left open
    peer.wait(shared.PEER_TIMEOUT)
    sock.settimeout(shared.NO_WAIT_TIMEOUT)
    result = lab.call("recv_frame", sock, fresh=True)  # a new worker: a clean memory baseline
    lab.expect_seen(result)
    grew = result.rss_growth_kb
    if grew > shared.ALLOCATION_LIMIT_KB:
        raise Failure(f"recv_frame's memory grew by {grew // 1024} MiB for a header announcing 128 MiB: it "
                      "allocated what an untrusted peer announced",
                      expected="ValueError before any allocation",
                      actual=str(result.error) if result.error else "returned", hint=MAX_HINT
                      + " A peer can announce 4 GiB for the price of 4 bytes.")
    _expect_prompt_refusal(lab, result, f"{announced} (128 MiB)")


# -- read_lines -------------------------------------------------------------------------------------
@check(points=0.5, hint=LINES_HINT)
def test_read_lines_yields_glued_lines(lab):
    """read_lines yields each line without its newline — an empty line and a "\\r" kept — when several arrive in one segment"""
    # README: "read_lines" — yield each line without its "\n"; only "\n" ends a line: a "\r" before
    # it stays in the line, and an empty line is yielded as "".
    sent = b"alpha\r\n\nbeta gamma\ndelta\n"
    _, sock = lab.connection([Send(sent), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _expect_lines(lab, lab.call("read_lines", sock, consume=True), ["alpha\r", "", "beta gamma", "delta"],
                  hint=LINES_HINT, given=" given b'alpha\\r\\n\\nbeta gamma\\ndelta\\n'", sent=sent)


@check(points=1, hint=LINES_HINT + " One recv is not one line.")
def test_read_lines_joins_dribbled_line(lab):
    """read_lines joins lines that arrive one byte at a time"""
    # README: "read_lines" — yield each line (concept 6: one buffer for the connection).
    _, sock = lab.connection([dribble(b"hello\nworld\n"), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _expect_lines(lab, lab.call("read_lines", sock, consume=True), ["hello", "world"],
                  given=" (bytes dribbled one at a time)", sent=b"hello\nworld\n")


STRICT_HINT = ("Decode strictly — .decode('utf-8'), whose errors='strict' is the default — and let the "
               "UnicodeDecodeError propagate: errors='replace' or 'ignore' turns bytes that are not text into "
               "text that was never sent.")


@check(points=1, hint="A read can end inside a multi-byte character (é is b'\\xc3\\xa9'): decode complete "
       "lines of bytes, or feed each chunk to codecs.getincrementaldecoder('utf-8')().")
def test_read_lines_decodes_split_characters(lab):
    """read_lines decodes UTF-8 characters split across reads ("café €"), and raises UnicodeDecodeError for invalid UTF-8"""
    # README: "read_lines" — multi-byte characters split across reads decode correctly; invalid
    # UTF-8 raises UnicodeDecodeError (a ValueError).
    _, sock = lab.connection([dribble("café €5\n".encode()), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _expect_lines(lab, lab.call("read_lines", sock, consume=True), ["café €5"],
                  given=" (bytes dribbled one at a time)")
    _, sock = lab.connection([Send(b"ok\n\xff\xfe bad\n"), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    lines, error = shared.lines_then_error(lab.call("read_lines", sock, consume=True))
    # The valid line before may or may not come out first (a decoder fed whole chunks raises
    # before it): what matters is that the bad bytes are refused, not replaced.
    if lines not in ([], ["ok"]) or error is None or not error.is_a(UnicodeDecodeError, ValueError):
        raise Failure("read_lines given b'ok\\n\\xff\\xfe bad\\n' (ff fe is not UTF-8) and EOF",
                      expected="at most 'ok' yielded, then UnicodeDecodeError",
                      actual=f"yielded {shared.show_lines(lines)}" + (f", then raised {error}" if error else ", no error"),
                      hint=STRICT_HINT)


@check(points=0.5, hint="At EOF, a non-empty buffer is the last line, sent without its '\\n': yield it. "
       "An empty buffer is not a line.")
def test_read_lines_keeps_unterminated_last_line(lab):
    """read_lines yields a last line that ends at EOF without a newline"""
    # README: "read_lines" — a non-empty last line without "\n" is yielded at EOF (concept 8: an
    # empty buffer at EOF is not a line).
    _, sock = lab.connection([Send(b"one\ntwo"), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _expect_lines(lab, lab.call("read_lines", sock, consume=True), ["one", "two"],
                  given=" given b'one\\ntwo' then EOF", sent=b"one\ntwo")
    _, sock = lab.connection([Send(b"three\n"), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _expect_lines(lab, lab.call("read_lines", sock, consume=True), ["three"],
                  given=" given b'three\\n' then EOF (no empty line after it)")


LONG_HINT = ("Bound the buffer: raise ValueError when a line is longer than max_line bytes, and as soon "
             "as the buffer holds more than max_line bytes without a newline — a peer may never send one.")
CHARACTERS_HINT = ("max_line counts BYTES of UTF-8 (what sits in your buffer), not characters: compare the "
                   "length of the bytes, before decoding — '€' is 3 bytes.")


@check(points=1, hint=LONG_HINT)
def test_read_lines_refuses_over_long_lines(lab):
    """read_lines raises ValueError for a line longer than max_line bytes (not characters), even while its newline never comes"""
    # README: "read_lines" — a line (or an unfinished line in the buffer) longer than max_line bytes
    # raises ValueError (concept 8: max_line counts bytes of UTF-8, not characters).
    _, sock = lab.connection([Send(b"short\n" + b"x" * 2000 + b"\nnever read\n"), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    lines, error = shared.lines_then_error(lab.call("read_lines", sock, kwargs={"max_line": 1000}, consume=True))
    if error is None or not error.is_a(ValueError) or lines != ["short"]:
        raise Failure("read_lines(sock, max_line=1000) given b'short\\n', a 2000-byte line and EOF",
                      expected="'short' yielded, then ValueError",
                      actual=f"yielded {shared.show_lines(lines)}" + (f", then raised {error}" if error else ", no error"),
                      hint=LONG_HINT)
    _, sock = lab.connection([Send("€€€€\n".encode()), Close()])  # 4 characters, 12 bytes
    sock.settimeout(shared.PEER_TIMEOUT)
    lines, error = shared.lines_then_error(lab.call("read_lines", sock, kwargs={"max_line": 10}, consume=True))
    if error is None or not error.is_a(ValueError) or lines:
        counted = lines == ["€€€€"] and error is None
        raise Failure("read_lines(sock, max_line=10) given '€€€€\\n', a line of 4 characters and 12 bytes",
                      expected="ValueError (12 bytes > 10)",
                      actual=f"yielded {shared.show_lines(lines)}" + (f", then raised {error}" if error else ", no error"),
                      hint=CHARACTERS_HINT if counted else LONG_HINT)
    # The peer sends 100 000 bytes without a newline (more than the default max_line of
    # 65536) and keeps the connection open: only a bounded buffer notices.
    peer, sock = lab.connection([Send(b"y" * 100_000)])
    peer.wait(shared.PEER_TIMEOUT)
    sock.settimeout(shared.NO_WAIT_TIMEOUT)
    lines, error = shared.lines_then_error(lab.call("read_lines", sock, consume=True))
    if error is not None and error.is_a(TimeoutError):
        raise Failure("read_lines(sock) kept buffering 100 000 bytes without a newline, waiting for more, "
                      f"until the socket's {shared.NO_WAIT_TIMEOUT:g} s timeout: it never compared the unfinished "
                      "line with max_line (65536)", expected="ValueError as soon as the buffer passed 65536 bytes",
                      actual=str(error))
    if error is None or not error.is_a(ValueError):
        raise Failure("read_lines(sock) given 100 000 bytes without a newline (the connection stays open)",
                      expected="ValueError", actual=f"yielded {shared.show_lines(lines)}"
                      + (f", then raised {error}" if error else ""))
