"""Keeping a grade cell's stderr clean: nbgrader scores a cell that wrote to stderr as 0.

`quiet()` routes everything bound for stderr during a block — print(file=sys.stderr),
warnings, thread and "exception ignored" reports, and writes to fd 2 itself (ipykernel
forwards fd 2 to the cell) — into a `Captured`, which the grade cell's report shows instead.
Only the student's threads' exceptions are kept (`is_student_thread`): the grader's own
threads winding down, and warnings, are nobody's business in a grade cell.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator
from typing import Any

from graders.engine.inprocess import is_student_thread


class Captured:
    """What would have gone to stderr during a grade cell, kept for the report instead."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.fd_text = ""
        self.lines: list[str] = []

    def text(self) -> str:
        return (self.stream.getvalue() + self.fd_text + "".join(self.lines)).strip()


@contextlib.contextmanager
def quiet() -> Iterator[Captured]:
    """Routes everything bound for stderr — print(file=sys.stderr), warnings, thread and
    'exception ignored' reports, and writes to fd 2 itself — into a Captured, for the block."""
    captured = Captured()
    previous_thread_hook, previous_unraisable = threading.excepthook, sys.unraisablehook

    # What the student's threads raise is shown in the report; the grader's own threads
    # (peers winding down as a check ends) and warnings are nobody's business in a grade cell.
    def thread_hook(args: threading.ExceptHookArgs) -> None:
        if is_student_thread(args.thread):
            captured.lines.append(f"Exception in thread {args.thread.name}: "
                                  f"{args.exc_type.__name__}: {args.exc_value}\n")

    def unraisable_hook(args: Any) -> None:
        pass

    def show_warning(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
        pass

    with contextlib.ExitStack() as stack:
        stack.enter_context(warnings.catch_warnings())
        warnings.showwarning = show_warning
        stack.enter_context(contextlib.redirect_stderr(captured.stream))
        stack.enter_context(_fd2_into(captured))
        threading.excepthook, sys.unraisablehook = thread_hook, unraisable_hook
        try:
            yield captured
        finally:
            threading.excepthook, sys.unraisablehook = previous_thread_hook, previous_unraisable


@contextlib.contextmanager
def _fd2_into(captured: Captured) -> Iterator[None]:
    """Points fd 2 at a temporary file for the block: ipykernel forwards fd 2 to the cell as stderr."""
    try:
        saved = os.dup(2)
    except OSError:  # no fd 2 at all: nothing can reach it
        yield
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.fd_text = sink.read().decode("utf-8", "replace")
