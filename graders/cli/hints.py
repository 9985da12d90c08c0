"""`tcplab hint`: a stage's hints one at a time, gentlest first, remembering which were shown.

Each call shows one hint more than the last (the ones seen before stay, dimmed, above it);
`--all` shows every hint at once. Which hints a student has seen is remembered per course
folder and stage in $XDG_CACHE_HOME/tcplab/hints.json (by default ~/.cache/tcplab/hints.json):
outside the course folder, so that it never shows in a student's `git status` or hand-in.
Remembering is a convenience, never a condition: when the file cannot be read or written, the
hints are still shown (from the first one on) and a dim line says so.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from graders.report.files import write_atomically
from graders.report.text import shown_path
from graders.stages import COURSE_ROOT, EXERCISES, Stage


def state_file() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "tcplab" / "hints.json"


def _course_key() -> str:
    # Two clones of the course (a fresh start, a friend's copy) each start from the first hint.
    return str(COURSE_ROOT)


def read_state() -> dict[str, int]:
    """Hints seen so far in this course, by stage id; {} when nothing (readable) is remembered."""
    try:
        data = json.loads(state_file().read_text("utf-8"))
        seen = data.get(_course_key(), {})
        return {str(k): int(v) for k, v in seen.items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def remember(stage: Stage, seen: int) -> str:
    """Records that `seen` hints of `stage` were shown; returns why it could not ("" when it did)."""
    path = state_file()
    try:
        try:
            data = json.loads(path.read_text("utf-8"))
            if not isinstance(data, dict) or not isinstance(data.get(_course_key(), {}), dict):
                data = {}
        except (OSError, ValueError):
            data = {}
        data.setdefault(_course_key(), {})[stage.id] = seen
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(data, indent=1, sort_keys=True) + "\n", mode=0o600)
    except OSError as exc:
        return f"{exc.strerror or exc} ({path})"
    return ""


def show_hints(stage: Stage, console: Console, *, everything: bool = False) -> int:
    """Prints the next hint of `stage` (every hint with `everything`); returns an exit status."""
    hints = stage.hints
    console.print(Text.assemble((stage.id, "bold"), f" — {stage.title}"))
    if not hints:
        console.print("This stage has no hints; its README is the whole lesson.")
        return 0
    before = min(read_state().get(stage.id, 0), len(hints))
    shown = len(hints) if everything else min(before + 1, len(hints))
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for number, hint in enumerate(hints[:shown], 1):
        fresh = everything or before == len(hints) or number > before
        grid.add_row(Text(f" hint {number} of {len(hints)}:", style="bold cyan" if fresh else "dim"),
                     Text(hint, style="" if fresh else "dim"))
    console.print(grid)
    if shown < len(hints):
        console.print(Text(f"Still stuck? `tcplab hint {stage.number}` again for hint {shown + 1}; "
                           f"`tcplab hint {stage.number} --all` for all {len(hints)}.", style="dim"))
    else:
        console.print(Text("That is every hint of this stage.", style="dim"))
    readme = EXERCISES / stage.id / "README.md"
    if readme.is_file():
        console.print(Text(f"The whole lesson: {shown_path(readme)}", style="dim"))
    if shown > before:
        problem = remember(stage, shown)
        if problem:
            console.print(Text(f"(could not remember which hints you saw: {problem}; the next call "
                               "starts from the first hint again)", style="dim"), soft_wrap=True)
    return 0
