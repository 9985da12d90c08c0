"""The running state on a terminal: which check runs now, and what it waits for when it waits long.

A check that meets a hung student call waits up to its deadline (10 s, more for some) before
it can fail; a screen that stays blank meanwhile reads as a frozen tool. So while checks run,
one transient line on stderr names the running check, and once it has run for a while, a
second line says what it waits for: the student call not yet returned, or the last thing
that crossed the wire. The lines vanish when grading ends, and appear only on a terminal:
piped output, `--format json` and JUnit get nothing extra (the caller decides; see `running_display`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator

from rich.console import Console, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from graders.grading.runner import Running

# Why 2 s: every correct check of the course finishes well within it, so a check still running
# then is most likely waiting out a deadline, and saying what it waits for is worth a line.
WAIT_NOTICE = 2.0


class RunningDisplay:
    """A rich renderable of the check now running; `update` is grade_root's progress callback."""

    def __init__(self, what: str) -> None:
        self.what = what  # "checking 04_send_recv", for the time before the first check starts
        self.running: Running | None = None
        self.spinner = Spinner("dots", style="cyan")

    def update(self, running: Running) -> None:
        self.running = running  # one reference assignment: safe to read from rich's refresh thread

    def __rich__(self) -> RenderableType:
        running = self.running
        grid = Table.grid(padding=(0, 1))
        grid.add_column(no_wrap=True)
        grid.add_column(no_wrap=True, overflow="ellipsis")
        if running is None:
            grid.add_row(self.spinner, Text(f"{self.what}: starting…", style="dim"))
            return grid
        line = Text.assemble((f"{running.stage} ", "bold"), (f"{running.number}/{running.total} ", "dim"),
                             running.title, (f"  {running.seconds:.0f} s" if running.seconds >= 1 else "", "dim"))
        line.no_wrap, line.overflow = True, "ellipsis"
        grid.add_row(self.spinner, line)
        waiting = waiting_for(running) if running.seconds >= WAIT_NOTICE else ""
        if waiting:
            grid.add_row("", Text(waiting, style="yellow", no_wrap=True, overflow="ellipsis"))
        return grid


def waiting_for(running: Running) -> str:
    """What a check that runs long is waiting for, in a student's words ("" when nothing is known)."""
    events = running.transcript.events if running.transcript is not None else []
    if not events:
        return "setting up the check…"
    now = time.monotonic() - running.transcript.started if running.transcript is not None else 0.0
    calls = [e for e in events if e.who == "student"]
    if calls and calls[-1].what.startswith("called "):
        call = calls[-1].what.removeprefix("called ").removesuffix(" (short reads/writes on)")
        return f"waiting {now - calls[-1].at:.0f} s for your {call} to return"
    last = events[-1]
    return f"waiting {now - last.at:.0f} s since: {last.who} {last.what}"


@contextlib.contextmanager
def running_display(console: Console | None, what: str) -> Iterator[Callable[[Running], None] | None]:
    """Shows the running state on `console` while the block runs; yields grade_root's `progress`
    (None, and nothing shown, when `console` is None or not a terminal)."""
    if console is None or not console.is_terminal:
        yield None
        return
    display = RunningDisplay(what)
    # No redirection of stdout: grading sends its own stdout into a sink while it runs.
    with Live(display, console=console, transient=True, refresh_per_second=8,
              redirect_stdout=False, redirect_stderr=False):
        yield display.update
