"""Public checks for stage 05: length-prefixed frames and UTF-8 lines on a TCP byte stream.

The peers here create what real networks do to a byte stream: frames glued into one
segment, headers dribbled one byte at a time, torn frames, hostile lengths, a peer that
never sends its newline, and `send` calls that accept only a few bytes.
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


def _expect_lines(lab, result, expected, *, hint=None, given=""):
    """The lines of a consumed read_lines call must be `expected`, with no exception part-way."""
    shared.expect_lines(lab, result, expected, message=f"read_lines{given} yielded the wrong lines", hint=hint)


# -- encode_frame and send_frame ----------------------------------------------------------
@check(points=1, hint=FRAME_HINT + " '<I' and 'I' are little-endian on most machines; '!H' is only 2 bytes.")
def test_encode_frame_writes_big_endian_length(lab):
    """encode_frame puts a 4-byte big-endian length in front of the payload"""
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


@check(points=1, hint="send() may accept only part of what you give it and returns how many bytes it "
       "took: use sock.sendall(frame), or loop on send() until every byte is sent.")
def test_send_frame_sends_whole_frame_under_short_sends(lab):
    """send_frame delivers the whole frame even when each send() accepts only a few bytes"""
    payload = bytes(range(256)) * 2 + b"the end of a 600-byte payload" + b"." * 59
    peer, sock = lab.connection([RecvAll()])
    result = lab.call("send_frame", sock, payload, faults=True)
    lab.returned(result)
    lab.expect_args_open(result)
    sock.shutdown(socket.SHUT_WR)  # our copy of the student's socket: the peer now sees EOF
    peer.wait(shared.PEER_TIMEOUT)
    shared.expect_received_frame(encode_frame(payload), bytes(peer.received), "the peer", header_hint=FRAME_HINT)


# -- recv_frame: boundaries -------------------------------------------------------------------
@check(points=0.5, hint=FRAME_HINT)
def test_recv_frame_reads_reference_frame(lab):
    """recv_frame reads a frame sent by a correct peer (a 300-byte payload)"""
    payload = bytes(range(256)) + b"-" * 44  # 300 bytes: header 00 00 01 2c
    _, sock = lab.connection([Send(encode_frame(payload)), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _frames(lab, sock, [payload], hint=FRAME_HINT + " Header 00 00 01 2c announces 300 bytes.")


@check(points=1, hint=NEXT_FRAME_HINT)
def test_recv_frame_separates_glued_frames(lab):
    """recv_frame returns three frames that arrive glued together in one segment, one per call"""
    payloads = [b"first frame", b"\x00\x01second\xff", b"the third and last frame"]
    _, sock = lab.connection([Send(b"".join(encode_frame(p) for p in payloads)), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _frames(lab, sock, payloads, hint=NEXT_FRAME_HINT)


@check(points=1, hint=NEXT_FRAME_HINT)
def test_recv_frame_leaves_next_frame_in_socket(lab):
    """recv_frame never takes a byte of the next frame out of the socket"""
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
    payload = b"dribbled, one byte per segment"
    _, sock = lab.connection([dribble(encode_frame(payload)), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _frames(lab, sock, [payload], hint=LOOP_HINT)


@check(points=0.5, hint="A zero-length frame (00 00 00 00) is a message with an empty payload: return "
       "b''. Only EOF before a header means None — don't test `if not payload`.")
def test_recv_frame_returns_empty_payload(lab):
    """recv_frame returns b"" for a zero-length frame, and the next frame after it"""
    _, sock = lab.connection([Send(encode_frame(b"") + encode_frame(b"after the empty one")), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _frames(lab, sock, [b"", b"after the empty one"],
            hint="A zero-length frame is not EOF: return b'' for it, and None only when recv() gives b'' "
            "before any header byte.")


# -- recv_frame: EOF -----------------------------------------------------------------------------
@check(points=1, hint=EOF_HINT)
def test_recv_frame_returns_none_at_clean_eof(lab):
    """recv_frame returns None when the peer closes between frames"""
    _, sock = lab.connection([Send(encode_frame(b"last frame")), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _frames(lab, sock, [b"last frame", None], hint=EOF_HINT)
    _, sock = lab.connection([Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _frames(lab, sock, [None], hint=EOF_HINT + " (Here the peer closed before sending any frame.)")


@check(points=0.5, hint=EOF_HINT)
def test_recv_frame_raises_eoferror_in_header(lab):
    """recv_frame raises EOFError when the peer closes after 2 of the 4 header bytes"""
    _, sock = lab.connection([Send(b"\x00\x00"), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    lab.expect_raises(lab.call("recv_frame", sock), EOFError, hint=EOF_HINT)


@check(points=0.5, hint=EOF_HINT)
def test_recv_frame_raises_eoferror_in_payload(lab):
    """recv_frame raises EOFError when the peer closes after 3 of 10 announced payload bytes"""
    _, sock = lab.connection([Send(encode_frame(b"0123456789")[:7]), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    lab.expect_raises(lab.call("recv_frame", sock), EOFError, hint=EOF_HINT)


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
    peer, sock = lab.connection([Send((MAX_FRAME + 1).to_bytes(4, "big"))])  # then silence, left open
    peer.wait(shared.PEER_TIMEOUT)
    sock.settimeout(shared.NO_WAIT_TIMEOUT)
    _expect_prompt_refusal(lab, lab.call("recv_frame", sock), "MAX_FRAME + 1")


@check(points=0.5, hint="The limit is inclusive: a payload of exactly MAX_FRAME bytes is legal. "
       "Refuse only `length > MAX_FRAME`.")
def test_recv_frame_accepts_exactly_max_frame(lab):
    """recv_frame reads the payload of a frame announcing exactly MAX_FRAME bytes"""
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
    """read_lines yields each line, without its newline, when several arrive in one segment"""
    _, sock = lab.connection([Send(b"alpha\nbeta gamma\ndelta\n"), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _expect_lines(lab, lab.call("read_lines", sock, consume=True), ["alpha", "beta gamma", "delta"],
                  hint=LINES_HINT)


@check(points=1, hint=LINES_HINT + " One recv is not one line.")
def test_read_lines_joins_dribbled_line(lab):
    """read_lines joins lines that arrive one byte at a time"""
    _, sock = lab.connection([dribble(b"hello\nworld\n"), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _expect_lines(lab, lab.call("read_lines", sock, consume=True), ["hello", "world"],
                  given=" (bytes dribbled one at a time)")


@check(points=1, hint="A read can end inside a multi-byte character (é is b'\\xc3\\xa9'): decode complete "
       "lines of bytes, or feed each chunk to codecs.getincrementaldecoder('utf-8')().")
def test_read_lines_decodes_split_characters(lab):
    """read_lines decodes UTF-8 characters split across reads ("café €")"""
    _, sock = lab.connection([dribble("café €5\n".encode()), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _expect_lines(lab, lab.call("read_lines", sock, consume=True), ["café €5"],
                  given=" (bytes dribbled one at a time)")


@check(points=0.5, hint="At EOF, a non-empty buffer is the last line, sent without its '\\n': yield it. "
       "An empty buffer is not a line.")
def test_read_lines_keeps_unterminated_last_line(lab):
    """read_lines yields a last line that ends at EOF without a newline"""
    _, sock = lab.connection([Send(b"one\ntwo"), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _expect_lines(lab, lab.call("read_lines", sock, consume=True), ["one", "two"],
                  given=" given b'one\\ntwo' then EOF")
    _, sock = lab.connection([Send(b"three\n"), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _expect_lines(lab, lab.call("read_lines", sock, consume=True), ["three"],
                  given=" given b'three\\n' then EOF (no empty line after it)")


LONG_HINT = ("Bound the buffer: raise ValueError when a line is longer than max_line bytes, and as soon "
             "as the buffer holds more than max_line bytes without a newline — a peer may never send one.")


@check(points=1, hint=LONG_HINT)
def test_read_lines_refuses_over_long_lines(lab):
    """read_lines raises ValueError for a line longer than max_line, even while its newline never comes"""
    _, sock = lab.connection([Send(b"short\n" + b"x" * 2000 + b"\nnever read\n"), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    lines, error = shared.lines_then_error(lab.call("read_lines", sock, kwargs={"max_line": 1000}, consume=True))
    if error is None or not error.is_a(ValueError) or lines != ["short"]:
        raise Failure("read_lines(sock, max_line=1000) given b'short\\n', a 2000-byte line and EOF",
                      expected="'short' yielded, then ValueError",
                      actual=f"yielded {shared.show_lines(lines)}" + (f", then raised {error}" if error else ", no error"))
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
