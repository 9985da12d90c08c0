"""What stage 05's checks share (exercises/05_framing and graders/hidden/05_framing): the
timeouts that keep hostile lengths from hanging a check, how recv_frame's payloads and
read_lines' lines are judged and shown, and the hints a failure picks from what it saw."""

from __future__ import annotations

import socket
from typing import Any

from graders.checking.declare import Failure
from graders.checking.lab import Lab
from graders.checking.transcript import hex_window, show_bytes
from graders.engine.calls import CallResult
from graders.engine.codec import RemoteError

# Why 0.5 s: used only where every byte a correct solution needs is already in the kernel
# (the peer's sends have returned) before the call, so a correct solution never waits;
# only code that believes a hostile length (or a line without end) blocks, and then it
# ends with TimeoutError after half a second instead of hanging until the deadline.
NO_WAIT_TIMEOUT = 0.5
# Why 5 s: where a correct solution does wait for the peer (dribbled bytes), this only
# bounds a buggy one that waits for bytes that will never come.
PEER_TIMEOUT = 5.0
# Why 32 MiB: a correct recv_frame allocates nothing before it checks the length; code
# that believes a hostile length announced to it grows by far more.
ALLOCATION_LIMIT_KB = 32 * 1024

# -- hints a failure picks from what it saw (else the check's own hint) --------------------------
SHORT_PAYLOAD_HINT = ("recv_frame returned only the start of the payload: recv(n) returns whatever has arrived, "
                      "1 to n bytes. Loop until you have all `length` payload bytes, asking only for what is "
                      "still missing.")
SPLIT_HEADER_HINT = ("struct.unpack got fewer than 4 bytes: the header arrived in pieces and one recv(4) returned "
                     "only some of them. Loop until you have all 4 header bytes.")
EMPTY_FRAME_HINT = ("A zero-length frame (00 00 00 00) is a message with an empty payload: return b''. Only EOF "
                    "before a header means None — don't test `if not payload`.")
CLEAN_EOF_HINT = ("At EOF before any byte of a new frame, return None, not b'': b'' is the payload of an empty "
                  "frame, and a caller's `while (p := recv_frame(s)) is not None` loop would never end.")
BYTE_ORDER_HINT = ("recv_frame refused a legal frame as too long: read the length as unsigned big-endian, "
                   "struct.unpack('!I', header) or int.from_bytes(header, 'big'). Read little-endian ('<I', or "
                   "the native 'I' on most machines), 00 00 01 2c is 738 263 040 instead of 300.")
SHORT_SEND_HINT = ("send() took only part of what it was given (the grader made it return short counts, as a "
                   "full send buffer does) and the rest was never sent: use sock.sendall(frame), or loop on "
                   "send() until every byte is sent.")
RESEND_HINT = ("After a short send, send what is still missing — frame[sent:] — not the whole frame again: "
               "keep a count of the bytes sent so far (or use sock.sendall(frame)).")
SPLIT_LINES_HINT = ("A line arrived in pieces and came out as several lines: keep one buffer for the whole "
                    "connection, append each recv to it, cut complete lines at b'\\n', and keep the rest for the "
                    "next round.")
CHUNK_DECODE_HINT = ("Valid UTF-8 raised UnicodeDecodeError: a read ended inside a multi-byte character. Decode "
                     "complete lines of bytes, or feed each chunk to codecs.getincrementaldecoder('utf-8')().")
LAST_LINE_HINT = ("At EOF, a non-empty buffer is the last line, sent without its '\\n': yield it. An empty buffer "
                  "is not a line.")
CARRIAGE_RETURN_HINT = ("Only b'\\n' ends a line: split on b'\\n' (not str.splitlines(), which also splits on "
                        "'\\r'), and don't strip the line — a '\\r' before the '\\n' stays in it, and an empty line "
                        "is yielded as ''.")
TIMEOUT_HINT = ("The socket's timeout is the caller's choice: when recv() raises TimeoutError, let it propagate. "
                "Don't catch it (and don't turn it into None, b'' or EOFError): the peer has not closed.")


# -- bytes ---------------------------------------------------------------------------------------------
def first_offset(expected: bytes, got: bytes) -> int:
    """The first offset where two byte strings differ (the shorter one's length if one is a prefix)."""
    common = min(len(expected), len(got))
    return next((i for i in range(common) if expected[i] != got[i]), common)


def skipped_or_repeated(expected: bytes, got: bytes) -> str:
    """How a wrong byte stream went wrong where it first differs: "skipped" when bytes of
    `expected` are missing there (what follows comes from later on: a send count ignored),
    "repeated" when bytes come again (what follows was sent before: a resend), else ""."""
    offset = first_offset(expected, got)
    snippet = got[offset:offset + 4]  # short: a resend may itself be cut short after a few bytes
    if offset == 0 or len(snippet) < 4:
        return ""
    if expected.find(snippet, offset + 1) != -1:
        return "skipped"
    if expected.find(snippet, 0, offset + len(snippet) - 1) != -1:
        return "repeated"
    return ""


def byte_difference(expected: bytes, got: bytes) -> tuple[str, str, str]:
    """(where, expected, got) for a Failure: the first differing offset, and a hex window of
    each side there, so that the difference is told on one line per side, never nested."""
    offset = first_offset(expected, got)
    where = f"the first difference is at offset {offset}"
    return (where, f"{len(expected)} bytes; {hex_window(expected, offset)}",
            f"{len(got)} bytes; {hex_window(got, offset)}")


def show_stray(rest: bytes) -> str:
    """Bytes left over after the last whole frame, for a message: their count said once."""
    if len(rest) <= 48:
        return f"{len(rest)} stray bytes {show_bytes(rest)}"
    return f"{len(rest)} stray bytes starting {bytes(rest[:48])!r}…"


# -- recv_frame ---------------------------------------------------------------------------------
def show_payload(value: Any) -> str:
    """A payload (or what came instead of one) for a message: None, bytes, or anything else."""
    if value is None:
        return "None"
    return show_bytes(value) if isinstance(value, bytes) else repr(value)


def is_short_header(error: RemoteError | None) -> bool:
    """The exception is struct.unpack's (or unpack_from's) complaint about too few bytes: a
    header, or a header field, read with one recv()."""
    return error is not None and error.type == "error" and "requires a buffer of" in error.message


def frame_hint(expected: bytes | None, value: Any) -> str | None:
    """The hint for recv_frame returning `value` instead of `expected`, when what it returned
    says which mistake it was; None when it does not."""
    if expected == b"" and value is None:
        return EMPTY_FRAME_HINT
    if expected is None and value == b"":
        return CLEAN_EOF_HINT
    if isinstance(expected, bytes) and isinstance(value, bytes) and len(value) < len(expected) \
            and expected.startswith(value):
        return SHORT_PAYLOAD_HINT
    return None


def expect_frame(lab: Lab, sock: socket.socket, expected: bytes | None, *, message: str,
                 hint: str | None) -> None:
    """One recv_frame(sock) call must return `expected`; `message` says which frame it was."""
    result = lab.call("recv_frame", sock)
    if result.status == "raised" and is_short_header(result.error):
        lab.returned(result, hint=SPLIT_HEADER_HINT)
    if result.status == "raised" and expected is not None and result.error.is_a(ValueError):
        lab.returned(result, hint=BYTE_ORDER_HINT)  # every frame a check sends is within MAX_FRAME
    value = lab.returned(result, hint=hint)
    if value != expected:
        hint = frame_hint(expected, value) or hint
        if isinstance(value, bytes) and isinstance(expected, bytes) and max(len(value), len(expected)) > 48:
            where, want, got = byte_difference(expected, value)
            raise Failure(f"{message}: {where}", expected=want, actual=got, hint=hint)
        raise Failure(message, expected=show_payload(expected), actual=show_payload(value), hint=hint)


def expect_received_frame(lab: Lab, expected: bytes, got: bytes, who: str, *, header_hint: str | None,
                          detail: bool = True) -> None:
    """What a peer received must be exactly the frame `expected`: all of it, and the right bytes.

    detail: the message names the length the header should have announced, and the first
    difference; without it, only what went wrong. Bytes missing at the end while the grader
    made send() return short counts are told as the ignored send count they are.
    """
    if got == expected:
        return
    hint = None
    where, want, have = byte_difference(expected, got)
    if len(got) < len(expected) and expected.startswith(got):
        message = f"{who} received only {len(got)} of the {len(expected)} bytes of the frame"
        hint = SHORT_SEND_HINT if lab.faults_used else None
    elif got[:4] != expected[:4]:
        length = f"the length {len(expected) - 4}" if detail else "the length"
        message = (f"{who} received a wrong header: {got[:4].hex(' ') or 'nothing'} instead of "
                   f"{expected[:4].hex(' ')} ({length}, 4 bytes, big-endian)")
        hint = header_hint
    else:
        message = f"{who} received the wrong bytes" + (f": {where}" if detail else "")
        how = skipped_or_repeated(expected, got)
        hint = RESEND_HINT if how == "repeated" else SHORT_SEND_HINT if how == "skipped" else None
    raise Failure(message, expected=want, actual=have, hint=hint)


# -- read_lines ---------------------------------------------------------------------------------
def show_lines(lines: Any) -> str:
    """A list of yielded lines for a message, long lines summarised."""
    if not isinstance(lines, list):
        return repr(lines)
    shown = []
    for line in lines:
        text = repr(line)
        if len(text) > 60:
            text = text[:40] + "…" + (f" ({len(line)} characters)" if isinstance(line, str) else "")
        shown.append(text)
    if len(shown) > 8:
        shown = shown[:6] + [f"… {len(shown) - 6} more"]
    return "[" + ", ".join(shown) + "]"


def first_difference(expected: list, got: Any) -> str:
    """Where the yielded lines first differ from the expected ones, as a phrase for a message."""
    if not isinstance(got, list):
        return ""
    for index, (want, have) in enumerate(zip(expected, got, strict=False)):
        if want != have:
            return f"line {index + 1} is {show_lines([have])[1:-1]}, not {want!r}"
    if len(got) < len(expected):
        return f"line {len(got) + 1} ({expected[len(got)]!r}) is missing"
    if len(got) > len(expected):
        return f"line {len(expected) + 1} ({show_lines([got[len(expected)]])[1:-1]}) is one too many"
    return ""


def lines_then_error(result: CallResult) -> tuple[list, RemoteError | None]:
    """(lines yielded, the exception that ended them or None), whichever way it was raised."""
    if result.status == "raised":
        return [], result.error
    return result.value, result.error_after_items


def _without_blanks(lines: list[str]) -> list[str]:
    return [text for text in (line.strip() for line in lines) if text]


def lines_hint(expected: list[str], items: Any, error: RemoteError | None, sent: bytes = b"") -> str | None:
    """The hint for read_lines yielding `items` (then raising `error`) instead of `expected`
    (all valid UTF-8, no error) for the bytes `sent`, when what it did says which mistake it
    was; else None."""
    if error is not None:
        if error.is_a(UnicodeDecodeError):
            return CHUNK_DECODE_HINT
        return None
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        return None
    if sent and not sent.endswith(b"\n") and items == expected[:-1]:
        return LAST_LINE_HINT
    if _without_blanks(expected) == _without_blanks(items):
        return CARRIAGE_RETURN_HINT  # only "\r", edge spaces or empty lines differ: stripped or skipped
    if len(items) > len(expected) and "".join(items) == "".join(expected):
        return SPLIT_LINES_HINT
    return None


def expect_lines(lab: Lab, result: CallResult, expected: list[str], *, message: str,
                 hint: str | None = None, sent: bytes = b"") -> None:
    """The lines of a consumed read_lines call must be `expected`, with no exception part-way;
    `sent`, the bytes the peer sent, lets a failure tell a lost last line for what it is."""
    if result.status == "raised":
        lab.returned(result, hint=lines_hint(expected, [], result.error, sent) or hint)
    items = result.value
    error = result.error_after_items
    if error is not None or items != expected:
        where = "" if error else first_difference(expected, items)
        raise Failure(f"{message}: {where}" if where else message, expected=show_lines(expected),
                      actual=show_lines(items) + (f", then raised {error}" if error else ""),
                      hint=lines_hint(expected, items, error, sent) or hint)
