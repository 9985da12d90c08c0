"""`tcplab watch`: re-run the current stage's checks on every save, and move on when green.

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

from graders.grading.runner import grade_root
from graders.report.text import render
from graders.stages import Stage, all_stages, find_stage

# Why 0.5 s: quick enough to feel immediate after a save, cheap enough to run all day.
POLL_INTERVAL = 0.5


def watch(root: Path, start: str | None, *, poll: bool = False, console: Console | None = None,
          changes: Iterator[object] | None = None) -> int:
    """Runs until interrupted (or until `changes`, for tests, runs out); returns an exit status."""
    console = console or Console()
    stages = list(all_stages())
    status = {r.stage: r.status for r in grade_root(root, stages, label="exercises/").stages}
    current = find_stage(start) if start else next(
        (s for s in stages if status[s.id] != "passed"), stages[-1])
    events = changes if changes is not None else file_changes(root, poll=poll)
    while True:
        result = grade_root(root, [current], label=f"{current.id} (watching)")
        status[current.id] = result.stages[0].status
        if console.is_terminal:
            console.clear()
        render(result, console)
        passed = sum(1 for v in status.values() if v == "passed")
        console.print(f"[bold]{passed}/{len(stages)} stages passed[/] — watching {root} (Ctrl-C to stop)")
        if status[current.id] == "passed":
            following = next_stage(stages, current, status)
            if following is None:
                console.print("[bold green]Every stage passed: the course is done![/]")
                return 0
            console.print(f"[green]{current.id} is green — on to {following.id}.[/]")
            current = following
            continue
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
