"""A check's transcript: the bytes and connection events between student code and peers.

Every peer and every call appends here as it happens, so the transcript is complete up to
the moment a check failed or timed out. Rendering summarises long payloads (length, a
prefix in hex and text) rather than cutting them: a student must be able to trust it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# Why 48: enough to show a 4-byte header plus the start of a payload on one line.
SHOWN_BYTES = 48


@dataclass(frozen=True)
class Event:
    at: float  # seconds since the check started
    who: str
    what: str
    data: bytes | None = None

    def render(self) -> str:
        line = f"{self.at * 1000:9.1f} ms  {self.who:<10} {self.what}"
        if self.data is not None:
            line += "  " + show_bytes(self.data)
        return line


class Transcript:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self._events: list[Event] = []
        self._lock = threading.Lock()
        # Told of each event as it is added: how a check running in another process shows
        # on the student's screen what it waits for (graders/grading/fanout.py).
        self.listener: Callable[[Event], None] | None = None

    def add(self, who: str, what: str, data: bytes | None = None) -> None:
        event = Event(time.monotonic() - self.started, who, what, data)
        with self._lock:
            self._events.append(event)
        listener = self.listener
        if listener is not None:
            with contextlib.suppress(Exception):  # a display that breaks must never change a verdict
                listener(event)

    def add_event(self, event: Event) -> None:
        """An event made elsewhere (its `at` already counted from this transcript's `started`)."""
        with self._lock:
            self._events.append(event)

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return list(self._events)

    def lines(self, limit: int = 200) -> list[str]:
        """Rendered events; when there are more than `limit`, the first and last halves."""
        events = self.events
        if len(events) <= limit:
            return [e.render() for e in events]
        half = limit // 2
        skipped = len(events) - 2 * half
        return (
            [e.render() for e in events[:half]]
            + [f"{'':12} … {skipped} more events like these …"]
            + [e.render() for e in events[-half:]]
        )


def show_bytes(data: bytes, limit: int = SHOWN_BYTES) -> str:
    """b'...' for short data; length, hex and text of the start for long data."""
    if len(data) <= limit:
        return repr(bytes(data))
    head = bytes(data[:limit])
    return f"{len(data)} bytes, starting {head!r}…"


def hex_window(data: bytes, offset: int, width: int = 16) -> str:
    start = max(0, offset - width // 2)
    window = bytes(data[start : start + width])
    return f"@{start}: {window.hex(' ')}  {window!r}"


def describe_difference(expected: bytes, actual: bytes) -> str:
    """Where two byte strings first differ, with a hex window of each around that offset."""
    if expected == actual:
        return "identical"
    common = min(len(expected), len(actual))
    offset = next((i for i in range(common) if expected[i] != actual[i]), common)
    parts = [f"expected {len(expected)} bytes, got {len(actual)}; first difference at offset {offset}"]
    parts.append(f"  expected {hex_window(expected, offset)}")
    parts.append(f"  got      {hex_window(actual, offset)}")
    return "\n".join(parts)
