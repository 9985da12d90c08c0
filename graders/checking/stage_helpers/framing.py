"""What stage 05's checks share (exercises/05_framing and graders/hidden/05_framing): the
timeouts that keep hostile lengths from hanging a check, and how recv_frame's payloads and
read_lines' lines are judged and shown."""

from __future__ import annotations

import socket
from typing import Any

from graders.checking.declare import Failure
from graders.checking.lab import Lab
from graders.checking.transcript import describe_difference, show_bytes
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


# -- recv_frame ---------------------------------------------------------------------------------
def show_payload(value: Any) -> str:
    """A payload (or what came instead of one) for a message: None, bytes, or anything else."""
    if value is None:
        return "None"
    return show_bytes(value) if isinstance(value, bytes) else repr(value)


def expect_frame(lab: Lab, sock: socket.socket, expected: bytes | None, *, message: str,
                 hint: str | None) -> None:
    """One recv_frame(sock) call must return `expected`; `message` says which frame it was."""
    result = lab.call("recv_frame", sock)
    value = lab.returned(result, hint=hint)
    if value != expected:
        diff = ""
        if isinstance(value, bytes) and isinstance(expected, bytes) and max(len(value), len(expected)) > 48:
            diff = "\n" + describe_difference(expected, value)
        raise Failure(message, expected=show_payload(expected), actual=show_payload(value) + diff, hint=hint)


def expect_received_frame(expected: bytes, got: bytes, who: str, *, header_hint: str | None,
                          detail: bool = True) -> None:
    """What a peer received must be exactly the frame `expected`: all of it, and the right bytes.

    detail: the message names the length the header should have announced, and the first
    difference; without it, only what went wrong.
    """
    if got == expected:
        return
    hint = None
    if len(got) < len(expected) and expected.startswith(got):
        message = f"{who} received only {len(got)} of the {len(expected)} bytes of the frame"
    elif got[:4] != expected[:4]:
        length = f"the length {len(expected) - 4}" if detail else "the length"
        message = (f"{who} received a wrong header: {got[:4].hex(' ') or 'nothing'} instead of "
                   f"{expected[:4].hex(' ')} ({length}, 4 bytes, big-endian)")
        hint = header_hint
    else:
        message = f"{who} received the wrong bytes"
        if detail:
            message += f": {describe_difference(expected, got).splitlines()[0]}"
    raise Failure(message, expected=show_bytes(expected),
                  actual=show_bytes(got) + "\n" + describe_difference(expected, got), hint=hint)


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
    """Where the yielded lines first differ from the expected ones, as a line for a message."""
    if not isinstance(got, list):
        return ""
    for index, (want, have) in enumerate(zip(expected, got, strict=False)):
        if want != have:
            return f"\nfirst difference: line {index + 1} is {show_lines([have])[1:-1]}, not {want!r}"
    return f"\n{len(got)} lines instead of {len(expected)}" if len(got) != len(expected) else ""


def lines_then_error(result: CallResult) -> tuple[list, RemoteError | None]:
    """(lines yielded, the exception that ended them or None), whichever way it was raised."""
    if result.status == "raised":
        return [], result.error
    return result.value, result.error_after_items


def expect_lines(lab: Lab, result: CallResult, expected: list[str], *, message: str,
                 hint: str | None = None) -> None:
    """The lines of a consumed read_lines call must be `expected`, with no exception part-way."""
    items = lab.returned(result, hint=hint)
    error = result.error_after_items
    if error is not None or items != expected:
        raise Failure(message, expected=show_lines(expected), actual=show_lines(items)
                      + (f", then raised {error}" if error else first_difference(expected, items)), hint=hint)
