"""Hidden checks for stage 05: the same contract, harder: every split position, many and
large frames, hostile lengths, slow readers, line-length boundaries, invalid UTF-8.

Each check tests a sentence of exercises/05_framing/README.md, named in its comment, and a
public check (exercises/05_framing/test_framing.py) already catches that rule's most common
violation: these add depth, never a rule of their own."""

import socket

from graders.api import (
    Close,
    Failure,
    RecvAll,
    Send,
    check,
    decode_frames,
    encode_frame,
)
from graders.api import framing as shared  # what the public checks of this stage use too

LOOP_HINT = ("recv(n) returns whatever has arrived, 1 to n bytes, wherever the sender's segments were cut: "
             "loop until you have the 4 header bytes, then until you have the whole payload.")
EOF_HINT = ("EOF before the first header byte: return None. EOF after any byte of a frame — header or "
            "payload, even right after a complete header — raise EOFError.")
MAX_HINT = ("Compare the announced length with MAX_FRAME right after unpacking the header, before reading "
            "or allocating anything: a peer can announce 4 GiB for the price of 4 bytes.")
SEND_HINT = ("send() returns how many bytes the kernel took, which can be fewer than you gave it when the "
             "reader is slow: use sendall(), or loop until every byte is sent.")


def _loopback_family() -> socket.AddressFamily:
    """IPv6 when this machine has ::1 (the graders' machines do), else IPv4."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return socket.AF_INET6
    except OSError:
        return socket.AF_INET


def _expect_frame(lab, sock, expected, *, context, hint):
    shared.expect_frame(lab, sock, expected, message=f"recv_frame returned the wrong payload {context}", hint=hint)


def _expect_lines(lab, result, expected, *, given, hint=None, sent=b""):
    shared.expect_lines(lab, result, expected, message=f"read_lines yielded the wrong lines {given}", hint=hint,
                        sent=sent)


# -- recv_frame --------------------------------------------------------------------------------
@check(points=1, hint=LOOP_HINT)
def test_recv_frame_split_at_every_position(lab):
    """recv_frame reads a frame split at every byte position, header included"""
    # README: "recv_frame" — the payload of the next frame; concept 6: read exactly, in a loop.
    payload = b"\x00split\xffme"
    frame = encode_frame(payload)
    # One frame per split position k: sent in pieces of k bytes, each piece only once the
    # student has read the last, so the first cut falls exactly after byte k.
    script = [Send(frame, piece=k, barrier=True) for k in range(1, len(frame))] + [Close()]
    # Over IPv6 where the machine has ::1: the same code must work for either family.
    _, sock = lab.connection(script, family=_loopback_family())
    sock.settimeout(shared.PEER_TIMEOUT)
    for k in range(1, len(frame)):
        where = "header" if k < 4 else "payload"
        _expect_frame(lab, sock, payload, hint=LOOP_HINT,
                      context=f"for a frame cut after byte {k} (in the {where}), in pieces of {k} bytes")
    _expect_frame(lab, sock, None, context="after the last frame, at EOF", hint=EOF_HINT)


@check(points=0.5, hint=("Read exactly 4 header bytes, then exactly `length` payload bytes, never more: "
                         "the bytes after them are the next frame's."))
def test_recv_frame_many_glued_frames(lab):
    """recv_frame returns 16 frames of many sizes (0 to 65 537 bytes) sent glued together"""
    # README: "recv_frame" — b"" for an empty frame; never reads a byte of the next frame.
    sizes = [0, 1, 2, 3, 4, 5, 255, 256, 257, 1000, 0, 65535, 65536, 65537, 7, 0]
    payloads = [bytes((i * 7 + n) % 256 for n in range(size)) for i, size in enumerate(sizes)]
    _, sock = lab.connection([Send(b"".join(encode_frame(p) for p in payloads)), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    for index, payload in enumerate(payloads, 1):
        _expect_frame(lab, sock, payload, context=f"for frame {index} of 16 ({len(payload)} bytes)",
                      hint="Never take the next frame's bytes; an empty frame is b'', not None.")
    _expect_frame(lab, sock, None, context="after the 16 frames, at EOF", hint=EOF_HINT)


@check(points=0.5, hint=LOOP_HINT)
def test_recv_frame_reads_large_frame(lab):
    """recv_frame reads a 3 MB frame (through a small receive buffer) and the frame after it"""
    # README: "recv_frame" — the payload of the next frame; never reads a byte of the next frame.
    big = bytes(range(256)) * (3_000_000 // 256) + b"end of the 3 MB payload"
    # A 64 KiB receive buffer: however fast the machine, the payload arrives in many reads.
    _, sock = lab.connection([Send(encode_frame(big) + encode_frame(b"next")), Close()],
                             student_rcvbuf=65536)
    sock.settimeout(shared.PEER_TIMEOUT)
    _expect_frame(lab, sock, big, context="for a 3 MB frame", hint=LOOP_HINT)
    _expect_frame(lab, sock, b"next", context="for the small frame after the 3 MB one", hint=LOOP_HINT)


@check(points=0.5, hint=EOF_HINT)
def test_recv_frame_eof_at_every_position(lab):
    """recv_frame raises EOFError whenever the peer closes inside a frame, at every position"""
    # README: "recv_frame" — EOFError if the peer closed inside a header or a payload (even right
    # after a complete header: the payload has not all arrived).
    frame = encode_frame(b"torn!")
    for cut in range(1, len(frame)):
        _, sock = lab.connection([Send(frame[:cut]), Close()])
        sock.settimeout(shared.PEER_TIMEOUT)
        result = lab.call("recv_frame", sock)
        where = f"{cut} of the 4 header bytes" if cut < 4 else f"the header and {cut - 4} of 5 payload bytes"
        if result.status == "returned" or not result.error.is_a(EOFError):
            got = f"returned {shared.show_payload(result.value)}" if result.status == "returned" else f"raised {result.error}"
            hint = EOF_HINT
            if result.status == "raised" and shared.is_short_header(result.error):
                hint = shared.SPLIT_HEADER_HINT + " When recv() returns b'' before you have them, raise EOFError."
            raise Failure(f"the peer closed after {where}: recv_frame {got}", expected="EOFError", hint=hint)


@check(points=0.5, hint=MAX_HINT)
def test_recv_frame_refuses_4_gib_length(lab):
    """recv_frame raises ValueError at once, allocating nothing, for a header of FF FF FF FF"""
    # README: "recv_frame" — ValueError if the announced length exceeds MAX_FRAME, before reading or
    # allocating the body.
    peer, sock = lab.connection([Send(b"\xff\xff\xff\xff")], family=_loopback_family())  # then silence
    peer.wait(shared.PEER_TIMEOUT)
    sock.settimeout(shared.NO_WAIT_TIMEOUT)
    # No fresh worker needed: the baseline is the worker's peak so far (tens of MiB at
    # most), and code that touches the 4 GiB announced grows far past it.
    result = lab.call("recv_frame", sock)
    lab.expect_seen(result)
    if result.rss_growth_kb > shared.ALLOCATION_LIMIT_KB:
        raise Failure(f"recv_frame's memory grew by {result.rss_growth_kb // 1024} MiB for a header "
                      "announcing 4 GiB", expected="ValueError before any allocation",
                      actual=str(result.error) if result.error else "returned")
    if result.status == "raised" and result.error.is_a(TimeoutError):
        raise Failure("recv_frame believed a header announcing 4 GiB: it waited for the payload until the "
                      f"socket's {shared.NO_WAIT_TIMEOUT:g} s timeout instead of raising ValueError at once")
    if result.status == "raised" and result.error.is_a(MemoryError):
        raise Failure("recv_frame tried to allocate the 4 GiB the header announced (MemoryError)")
    lab.expect_raises(result, ValueError)


# -- encode_frame and send_frame ---------------------------------------------------------------------
@check(points=1, hint=SEND_HINT)
def test_send_frame_to_slow_reader(lab):
    """send_frame delivers a whole 1 MiB frame to a peer that reads slowly"""
    # README: "send_frame" — send the whole frame: send may accept only part of a buffer.
    payload = bytes(range(256)) * 4096
    # A slow reader (a pause before each read, a small receive buffer) and a small send
    # buffer on a socket with a timeout: send() then takes only part of the frame.
    peer, sock = lab.connection([RecvAll(pause=0.001)], peer_rcvbuf=65536)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
    sock.settimeout(10.0)
    lab.returned(lab.call("send_frame", sock, payload), hint=SEND_HINT)
    sock.shutdown(socket.SHUT_WR)  # our copy of the student's socket: the peer now sees EOF
    peer.wait(10.0)
    shared.expect_received_frame(lab, encode_frame(payload), bytes(peer.received), "the slow reader", detail=False,
                                 header_hint="The length prefix is struct.pack('!I', len(payload)): 4 bytes, "
                                 "big-endian.")


@check(points=0.5, hint="Each call sends one whole frame: 4-byte big-endian length, then the payload. "
       "An empty payload is a 4-byte frame 00 00 00 00.")
def test_send_frame_several_frames(lab):
    """send_frame sends an empty, a tiny and a 70 000-byte frame back to back on one connection"""
    # README: "send_frame" — send the whole frame; concept 2: encode_frame(b"") == b"\x00\x00\x00\x00".
    payloads = [b"", b"\n\x00", bytes(range(256)) * 273 + b"x" * 112]  # 70 000 bytes
    peer, sock = lab.connection([RecvAll()])
    for payload in payloads:
        result = lab.call("send_frame", sock, payload)
        lab.returned(result)
        lab.expect_args_open(result)
    sock.shutdown(socket.SHUT_WR)
    peer.wait(shared.PEER_TIMEOUT)
    frames, rest = decode_frames(bytes(peer.received))
    if frames != payloads or rest:
        raise Failure("the peer could not read back the three frames",
                      expected="payloads of " + ", ".join(f"{len(p)}" for p in payloads) + " bytes, nothing more",
                      actual="payloads of " + ", ".join(f"{len(p)}" for p in frames) + " bytes"
                      + (f", then {shared.show_stray(rest)}" if rest else ""))


# -- read_lines --------------------------------------------------------------------------------------
@check(points=0.5, hint="Split bytes at b'\\n' in one buffer kept for the whole connection, and decode "
       "complete lines (or use an incremental decoder): a read may end anywhere, inside a character too.")
def test_read_lines_split_at_every_position(lab):
    """read_lines reads a line of 1- to 4-byte characters split at every byte position"""
    # README: "read_lines" — multi-byte characters split across reads decode correctly.
    text = "naïve €uro 😀 ok"
    data = (text + "\n").encode()
    script = [Send(data, piece=k, barrier=True) for k in range(1, len(data))] + [Close()]
    _, sock = lab.connection(script, family=_loopback_family())
    sock.settimeout(shared.PEER_TIMEOUT)
    _expect_lines(lab, lab.call("read_lines", sock, consume=True), [text] * (len(data) - 1),
                  given=f"for {len(data) - 1} copies of {text!r}, cut at every byte position",
                  sent=data * (len(data) - 1))


@check(points=0.5, hint="max_line counts the bytes of the line (its UTF-8 encoding), not characters, "
       "without the '\\n'; a line of exactly max_line bytes is allowed.")
def test_read_lines_max_line_boundary(lab):
    """read_lines allows a line of exactly max_line bytes and refuses max_line + 1 (bytes, not characters)"""
    # README: "read_lines" — a line longer than max_line bytes raises ValueError; concept 8: max_line
    # counts bytes of UTF-8, not the "\n"; a line of exactly max_line bytes is allowed.
    _, sock = lab.connection([Send("€€€x\n€€€xy\n".encode()), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    lines, error = shared.lines_then_error(lab.call("read_lines", sock, kwargs={"max_line": 10}, consume=True))
    if lines != ["€€€x"] or error is None or not error.is_a(ValueError):
        raise Failure("read_lines(sock, max_line=10) given '€€€x' (10 bytes) and '€€€xy' (11 bytes)",
                      expected="'€€€x' yielded, then ValueError",
                      actual=f"yielded {shared.show_lines(lines)}" + (f", then raised {error}" if error else ", no error"))
    _, sock = lab.connection([Send(b"0123456789"), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _expect_lines(lab, lab.call("read_lines", sock, kwargs={"max_line": 10}, consume=True), ["0123456789"],
                  given="for an unterminated last line of exactly max_line=10 bytes", sent=b"0123456789")


@check(points=0.5, hint="Only b'\\n' ends a line: keep empty lines, and keep a '\\r' before the '\\n'.")
def test_read_lines_blank_lines_and_carriage_returns(lab):
    """read_lines keeps empty lines and the "\\r" of "\\r\\n" endings"""
    # README: "read_lines" — only "\n" ends a line: a "\r" before it stays in the line, and an empty
    # line is yielded as "".
    _, sock = lab.connection([Send(b"\nfirst\r\n\n\nlast\n"), Close()])
    sock.settimeout(shared.PEER_TIMEOUT)
    _expect_lines(lab, lab.call("read_lines", sock, consume=True), ["", "first\r", "", "", "last"],
                  given="for b'\\nfirst\\r\\n\\n\\nlast\\n'")


@check(points=0.5, hint="Decode strictly (the default errors='strict'): invalid UTF-8, or a character cut "
       "off by EOF, raises UnicodeDecodeError — let it propagate.")
def test_read_lines_rejects_invalid_utf8(lab):
    """read_lines raises UnicodeDecodeError for invalid UTF-8 and for a character cut off by EOF"""
    # README: "read_lines" — invalid UTF-8, a character cut off by EOF included, raises
    # UnicodeDecodeError.
    for data, good, what in ((b"good\n\xff\xfe bad\n", "good", "a line holding the bytes ff fe"),
                             (b"ok\ncaf\xc3", "ok", "a last line ending in half of an '\u00e9'")):
        _, sock = lab.connection([Send(data), Close()])
        sock.settimeout(shared.PEER_TIMEOUT)
        lines, error = shared.lines_then_error(lab.call("read_lines", sock, consume=True))
        # The valid line before may or may not come out first (a decoder fed whole chunks
        # raises before it): what matters is that the bad bytes are refused, not replaced.
        if lines not in ([], [good]) or error is None or not error.is_a(UnicodeDecodeError, ValueError):
            raise Failure(f"read_lines given {what}",
                          expected=f"at most {good!r} yielded, then UnicodeDecodeError",
                          actual=f"yielded {shared.show_lines(lines)}" + (f", then raised {error}" if error else ", no error"))
