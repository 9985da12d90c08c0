"""The threads a call started and left alive: which they are, and where each one is now.

Stage 08's contract: by the time a server function returns, no thread it started is alive.
Both subjects (the worker, graders/engine/worker.py; the notebook's, graders/engine/inprocess.py)
report such threads the same way, with the line each one is blocked at, so that the
close-versus-shutdown lesson is visible: "Thread-3 (handle), at concurrency.py:57 in handle():
data = conn.recv(4096)". Standard library only: the worker imports it.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from typing import Any

# Why 1 s: a call must have ended every thread it started by the time it returns; a thread
# that is only just finishing (its last close, its last log line) gets a second to end before
# it counts as left behind. Correct code pays nothing: its threads are gone already.
GRACE = 1.0


def left_after(started: Iterable[threading.Thread], student_file: str | None) -> list[str]:
    """Those of the threads a call `started` still alive after GRACE, each described."""
    started = [t for t in started if t is not threading.current_thread()]
    grace_ends = time.monotonic() + GRACE
    for thread in started:
        if thread.ident is not None:  # started, not just made
            thread.join(max(0.0, grace_ends - time.monotonic()))
    alive = [t for t in started if t.is_alive()]
    frames = sys._current_frames()
    return [describe(t, frames.get(t.ident or -1), student_file) for t in alive]


def describe(thread: threading.Thread, frame: Any, student_file: str | None) -> str:
    """Where a thread is now: its name, and the student's line it is at (with the call it is
    waiting in when that is deeper, in the standard library)."""
    who = thread.name + (" (daemon)" if thread.daemon else "")
    if frame is None:
        return who
    stack = traceback.extract_stack(frame)
    if not stack:
        return who
    leaf = stack[-1]
    theirs = [f for f in stack if student_file and f.filename == student_file]
    where = theirs[-1] if theirs else leaf
    text = f"{who}, at {os.path.basename(where.filename)}:{where.lineno} in {where.name}()"
    if where is not leaf:
        text += f", waiting inside {leaf.name}() ({os.path.basename(leaf.filename)}:{leaf.lineno})"
    if where.line:
        text += f": {where.line.strip()}"
    return text
