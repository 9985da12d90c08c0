"""What stage 04's checks share (exercises/04_send_recv and graders/hidden/04_send_recv):
reading what the student left in a socket, judging the bytes a peer or a call ended with,
and telling from those bytes which mistake made them (the hint a failure gets).

What the bytes show, under injected short sends (every send() of more than one byte passes
the kernel fewer bytes than it was given, graders/engine/faults.py):
- a prefix of the data: the sender stopped early (send() once, or one recv() per client);
- the data with bytes missing here and there: each send()'s count was ignored, and the
  sender went on to its next piece without sending the rest of this one;
- bytes out of order or repeated: after a short send, the whole data was sent again.
`exit_told` (stage 01's) is re-exported here for this stage's checks.
"""

from __future__ import annotations

import socket
from typing import Any

from graders.checking.declare import Failure
from graders.checking.stage_helpers.create_socket import exit_told as exit_told
from graders.checking.transcript import SHOWN_BYTES, hex_window, show_bytes

SEND_HINT = ("send() returns how many bytes the kernel took, which may be fewer than you gave it: loop "
             "`while view: sent = sock.send(view); view = view[sent:]` (view = memoryview(data)).")
RESEND_HINT = ("Some bytes arrived twice, or out of order: after a short send, send the REST, view[sent:], not "
               "the whole data again. Keep one memoryview and move it on by what each send() returned.")
SERVER_SEND_HINT = ("Your server's send() took only part of each piece, and the rest was never sent: "
                    "conn.send(data) returns how many bytes it sent. Send ALL of each piece: send_all(conn, data) "
                    "(your own loop), or conn.sendall(data).")
SERVER_CLOSE_HINT = ("Close each client's connection once its EOF came (`with conn:` around the loop): the "
                     "client waits for YOUR EOF, and gets it only when you close.")
EOF_RETURNED_HINT = ("recv_exactly read on to the EOF and returned what had come: when recv() returns b'' before "
                     "you have n bytes, raise EOFError — never return fewer than n bytes.")
SERVER_EXIT_HINT = ("sys.exit() ends the caller's whole program: echo_server returns (plain `return`, or the end of "
                    "the function) once its last client is served, and lets errors propagate as exceptions.")


def read_from_our_copy(sock: socket.socket, n: int, timeout: float) -> bytes:
    """Up to n bytes read through the grader's copy of the student's socket, waiting at most `timeout`."""
    got = bytearray()
    sock.settimeout(timeout)
    try:
        while len(got) < n:
            chunk = sock.recv(n - len(got))
            if not chunk:
                break
            got += chunk
    except OSError:
        pass
    return bytes(got)


def first_difference(expected: bytes, actual: bytes) -> int:
    """The offset where two byte strings first differ (the shorter one's length if one is a prefix)."""
    common = min(len(expected), len(actual))
    return next((i for i in range(common) if expected[i] != actual[i]), common)


def is_subsequence(part: bytes, whole: bytes) -> bool:
    """True when `part` is `whole` with some bytes left out, the rest in order."""
    it = iter(whole)
    return all(byte in it for byte in part)


def sent_hint(data: bytes, got: bytes, *, server: bool = False) -> str | None:
    """The hint that what arrived shows, when `data` was sent with short sends injected; None
    when it shows nothing particular (then the check's own hint is the one)."""
    if got == data or data.startswith(got):
        return None  # a prefix: stopped early — the check knows which loop that is
    if is_subsequence(got, data):
        return SERVER_SEND_HINT if server else SEND_HINT
    return RESEND_HINT


def expect_bytes(what: str, expected: bytes, actual: Any, *, hint: str) -> None:
    """`actual` (what a peer received, or what a call returned) must be bytes equal to `expected`.

    The message says how they differ (bytes missing at the end, missing elsewhere, extra); the
    expected and got lines each show their own bytes, around the first difference when long."""
    if not isinstance(actual, (bytes, bytearray)):
        raise Failure(f"{what}: not bytes", expected=show_bytes(expected), actual=repr(actual), hint=hint)
    actual = bytes(actual)
    if actual == expected:
        return
    offset = first_difference(expected, actual)
    if not expected:
        how = f"{len(actual)} bytes, where none should be"
    elif len(actual) < len(expected) and expected.startswith(actual):
        how = f"{len(actual)} of {len(expected)} bytes, the last {len(expected) - len(actual)} missing"
    elif len(actual) == len(expected):
        how = f"{len(actual)} bytes, as many as expected, but different ones from offset {offset} on"
    elif len(actual) > len(expected) and actual.startswith(expected):
        how = f"{len(actual)} bytes: the {len(expected)} expected, then {len(actual) - len(expected)} more"
    else:
        how = f"{len(actual)} bytes instead of {len(expected)}, different from offset {offset} on"
    raise Failure(f"{what}: {how}", expected=_shown_around(expected, offset),
                  actual=_shown_around(actual, offset), hint=hint)


def _shown_around(data: bytes, offset: int) -> str:
    """Short data whole; long data summarised, with a hex window where the difference starts
    when that is past the start the summary shows."""
    if len(data) <= SHOWN_BYTES or offset < SHOWN_BYTES - 8:
        return show_bytes(data)
    return f"{show_bytes(data)}; around offset {offset}: {hex_window(data, offset)}"
