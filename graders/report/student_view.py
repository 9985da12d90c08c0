"""What a student may see of a check: the one place that rule lives.

Every rendering a student reads — the terminal, feedback files, Gradescope's results.json,
a notebook's grade cell — asks `view(check)` and shows what it gives, nothing more:

- a public check: its title, status and points, and, when it did not pass, its message,
  the transcript of what crossed the wire, what its calls printed, the seed that replays
  it, and its hint;
- a hidden check: its title, status and points only. Its message can quote what the check
  sent or expected (the very thing it is hidden to keep), so it stays with the instructor:
  the gradebook and `tcplab grade`'s JSON keep it.

Whoever runs the hidden checks themselves (`tcplab check --hidden`: an instructor, in the
course's own copy) sees everything: `view(check, instructor=True)`.

A security rule, not a style: a new rendering starts from `view`, never from CheckResult.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from graders.report.results import CheckResult

# One mark per status, in every rendering (colours are the terminal's business).
MARKS = {"passed": "✔", "failed": "✘", "error": "!", "timeout": "⏱", "skipped": "·", "missing": "?"}

HIDDEN_NOTE = "hidden check"
HIDDEN_FAILED_NOTE = "hidden check: only its result is shown"


@dataclass(frozen=True)
class CheckView:
    """A check as a student may see it. Empty fields are ones the student does not get."""

    title: str
    status: str
    score: float
    max_score: float
    hidden: bool
    message: str = ""
    transcript: list[str] = field(default_factory=list)
    seed: int | None = None
    hint: str = ""
    printed: str = ""

    @property
    def mark(self) -> str:
        return MARKS.get(self.status, "?")

    @property
    def note(self) -> str:
        """What a hidden check says in place of its details ("" for a public check)."""
        if not self.hidden:
            return ""
        return HIDDEN_FAILED_NOTE if self.status != "passed" else HIDDEN_NOTE

    @property
    def details(self) -> bool:
        """Whether there is anything to show beyond the check's line."""
        return bool(self.message or self.transcript or self.seed is not None or self.hint or self.printed)


def view(check: CheckResult, *, instructor: bool = False) -> CheckView:
    """The check as a student may see it (or, `instructor`, as the one who ran the hidden checks)."""
    head = dict(title=check.title or check.name, status=check.status, score=check.score,
                max_score=check.max_score, hidden=check.hidden)
    if check.hidden and not instructor:
        return CheckView(**head)
    if check.status == "passed":
        return CheckView(**head, message=check.message)
    return CheckView(**head, message=check.message, transcript=list(check.transcript), seed=check.seed,
                     hint=check.hint, printed=check.printed)


def fmt(points: float) -> str:
    """Points as a person writes them: 2, 14.5."""
    return f"{points:g}"
