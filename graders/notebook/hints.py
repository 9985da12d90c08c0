"""A hint cell: a stage's hints one at a time, gentlest first, as `tcplab hint N` gives them.

    from graders.notebook import hint
    hint("04_send_recv")        # the first hint; run the cell again for the next one
    hint("04_send_recv", every=True)

The hints are the stage's own (graders/stages.toml), the ones the terminal shows. Which
were shown is remembered in the kernel, per stage: a restarted kernel starts again from
the first. Not in a file, unlike the terminal's: a notebook's kernel may run anywhere
(a hub, nbgrader's autograde) and a hint cell must neither fail nor write to stderr there.
While nbgrader runs the notebook the cell shows no hint: its output becomes feedback.
"""

from __future__ import annotations

from graders.notebook.cells import grading_now, show_html
from graders.report.notebook_html import hints_html, note_html
from graders.stages import find_stage

_SEEN: dict[str, int] = {}  # stage id -> how many of its hints this kernel has shown


def hint(stage: str, *, every: bool = False) -> None:
    """Shows the next hint of `stage` (a number or a name), the ones seen before dimmed above it.

    every=True shows every hint of the stage at once.
    """
    found = find_stage(str(stage))
    if grading_now():  # a graded run becomes feedback: no hint shown that nobody asked for
        show_html(note_html("Hints are shown while you work, not while your notebook is graded."))
        return
    hints = list(found.hints)
    before = min(_SEEN.get(found.id, 0), len(hints))
    shown = len(hints) if every else min(before + 1, len(hints))
    show_html(hints_html(f"Stage {found.number:02d} — {found.title}", hints, shown,
                         len(hints) if every else before))
    _SEEN[found.id] = max(before, shown)


def forget_hints() -> None:
    """Starts every stage's hints again from the first (as a restarted kernel does)."""
    _SEEN.clear()
