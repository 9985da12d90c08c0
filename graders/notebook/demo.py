"""The lessons' demonstrations: a Lab whose subject is the notebook's own functions.

    with demo() as lab:
        peer, sock = lab.connection([Send(b"hello"), Send(b"world")])
        ...

The reference peers are the checks' own; at the end of the block they are stopped (out
of stderr's way, as in a grade cell) and what crossed the wire is shown. `wait_for_bytes`
lets a demonstration wait until everything a peer sent has arrived, without a sleep.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from graders.checking.helpers import wait_until
from graders.checking.lab import Lab
from graders.checking.peers import unread_bytes
from graders.engine.inprocess import InProcessSubject
from graders.notebook.cells import show_html
from graders.notebook.quiet import quiet
from graders.report.notebook_html import transcript_html


@contextlib.contextmanager
def demo(namespace: Mapping[str, Any] | None = None, *, show: bool = True) -> Iterator[Lab]:
    """A Lab for a lesson's demonstration: reference peers, and `lab.call` on the notebook's functions.

        with demo() as lab:
            peer, sock = lab.connection([Send(b"hello"), Send(b"world")])
            ...

    At the end the peers are stopped and what crossed the wire is shown.
    """
    if namespace is None:
        namespace = sys._getframe(2).f_globals  # the cell's globals (past contextmanager's frame)
    subject = InProcessSubject(namespace)
    lab = Lab(subject)
    try:
        yield lab
    finally:
        with quiet():  # peers winding down are the grader's business, not the lesson's
            lab.close()
            subject.close()
        if show:
            lines = lab.transcript.lines()
            if lines:
                show_html(transcript_html(lines))


def wait_for_bytes(sock: Any, count: int, timeout: float = 2.0) -> int:
    """Waits (at most `timeout` s) until `count` bytes sit unread in `sock`'s receive buffer;
    returns how many do. For demonstrations that want 'everything has arrived' first."""
    wait_until(lambda: unread_bytes(sock) >= count, timeout)
    return unread_bytes(sock)
