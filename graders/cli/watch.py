"""`tcplab watch`: re-run the current stage's checks on every save, and move on when green.

While checks run, a transient line names the running check (graders/cli/progress.py). When a
stage turns green the success stays on screen — naming the next stage and its lesson — until
the next save, which then checks the next stage: a moment of success is not wiped away by the
next stage's failures a second later.

File events come from watchfiles; where they do not arrive (network drives, some WSL
and container mounts) `--poll` — or watchfiles' own failure — switches to polling the
modification times of the stage files.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from graders.cli.hidden_checks import hidden_checks
from graders.cli.progress import running_display
from graders.grading.runner import grade_root
from graders.report.results import SubmissionResult
from graders.report.text import render, shown_path
from graders.stages import EXERCISES, Stage, all_stages, find_stage

# Why 0.5 s: quick enough to feel immediate after a save, cheap enough to run all day.
POLL_INTERVAL = 0.5


def watch(root: Path, start: str | None, *, poll: bool = False, console: Console | None = None,
          changes: Iterator[object] | None = None) -> int:
    """Runs until interrupted (or until `changes`, for tests, runs out); returns an exit status."""
    console = console or Console()
    # The running state goes to stderr, and only when a person watches this terminal.
    status_console = Console(stderr=True) if console.is_terminal else None
    stages = list(all_stages())

    def grade(chosen: list[Stage], label: str, what: str) -> SubmissionResult:
        with running_display(status_console, what) as progress:
            return grade_root(root, chosen, label=label, progress=progress)

    first = grade(stages, "exercises/", "finding the first stage not passed yet")
    status = {r.stage: r.status for r in first.stages}
    current = find_stage(start) if start else next(
        (s for s in stages if status[s.id] != "passed"), stages[-1])
    events = changes if changes is not None else file_changes(root, poll=poll)
    # The first screen reuses the first grading: the current stage was just checked.
    ready: SubmissionResult | None = SubmissionResult(
        f"{current.id} (watching)", [r for r in first.stages if r.stage == current.id])
    while True:
        result = ready or grade([current], f"{current.id} (watching)", f"checking {current.id}")
        ready = None
        status[current.id] = result.stages[0].status
        if console.is_terminal:
            console.clear()
        green = status[current.id] == "passed"
        render(result, console, hidden=hidden_checks([current]) if green else None)
        passed = sum(1 for v in status.values() if v == "passed")
        console.print(f"[bold]{passed}/{len(stages)} stages passed[/] — watching {escape(str(root))} (Ctrl-C to stop)")
        if green:
            following = next_stage(stages, current, status)
            if following is None:
                console.print("[bold green]Every stage passed: the course is done![/]")
                return 0
            readme = EXERCISES / following.id / "README.md"
            console.print(f"[bold green]✔ {current.id} is green — on to {following.id}[/]: read its lesson, "
                          f"{escape(shown_path(readme))}, and edit {following.filename}.")
            console.print(f"[dim]This stays on screen until you save a file; then watch checks {following.id}.[/]")
            current = following
        try:
            next(events)
        except (StopIteration, KeyboardInterrupt):
            return 0


def next_stage(stages: list[Stage], current: Stage, status: dict[str, str]) -> Stage | None:
    later = stages[stages.index(current) + 1 :] + stages[: stages.index(current)]
    return next((s for s in later if status[s.id] != "passed"), None)


def file_changes(root: Path, *, poll: bool) -> Iterator[object]:
    if not poll:
        try:
            import watchfiles

            yield from watchfiles.watch(root, watch_filter=_python_files, raise_interrupt=False)
            return
        except (ImportError, OSError, RuntimeError):
            pass  # no file events here: poll instead
    yield from poll_changes(root)


def poll_changes(root: Path) -> Iterator[object]:
    seen = snapshot(root)
    while True:
        time.sleep(POLL_INTERVAL)  # a file-watch loop's pace, not a wait for readiness
        now = snapshot(root)
        if now != seen:
            seen = now
            yield now


def snapshot(root: Path) -> dict[str, float]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(dirpath, name)
                try:
                    out[path] = os.stat(path).st_mtime
                except OSError:
                    pass
    return out


def _python_files(change: object, path: str) -> bool:
    return path.endswith(".py")
