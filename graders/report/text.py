"""The results model as text for a student's terminal (rich).

Every stage gets a line; the first stage that is not green is opened up: each failing
check with what was expected, what happened, the transcript and a hint. Later stages
list their checks one line each, so the student sees the road ahead without drowning.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.markup import escape
from rich.padding import Padding
from rich.text import Text

from graders.report.results import CheckResult, StageResult, SubmissionResult
from graders.report.student_view import MARKS as SYMBOLS
from graders.report.student_view import CheckView, fmt, view
from graders.stages import Stage, find_stage

COLOURS = {"passed": "green", "failed": "red", "error": "magenta", "timeout": "red", "skipped": "dim",
           "missing": "yellow"}
MARKS = {status: (SYMBOLS[status], colour) for status, colour in COLOURS.items()}


def is_stub(check: CheckResult) -> bool:
    return check.message.startswith("not implemented yet")


def not_started(stage: StageResult) -> bool:
    live = [c for c in stage.checks if c.status != "skipped"]
    return bool(live) and all(is_stub(c) for c in live)


def stage_state(stage: StageResult) -> str:
    if stage.status == "failed" and not_started(stage):
        return "not started"
    return stage.status


def render(result: SubmissionResult, console: Console, *, verbose: bool = False, instructor: bool = False) -> None:
    """`instructor`: the one who ran the hidden checks (`tcplab check --hidden`) sees all of them."""
    passed = sum(1 for s in result.stages if s.status == "passed")
    console.print(Text.assemble(("tcplab", "bold"), f" — {result.submission}"))
    if result.problem:
        console.print(Text(f"  {result.problem}", style="red"))
    opened = False
    for stage in result.stages:
        open_this = verbose or (not opened and stage.status != "passed")
        console.print(stage_line(stage))
        if stage.problem and stage.status in ("missing", "error"):
            console.print(Padding(Text(stage.problem, style="yellow"), (0, 0, 0, 6)))
        if stage.status in ("missing",) and not verbose:
            opened = opened or open_this
            continue
        if stage.status == "passed" and not verbose:
            continue
        for check in stage.checks:
            console.print(check_line(check))
            shown = view(check, instructor=instructor)
            if open_this and check.status not in ("passed", "skipped") and not is_stub(check) \
                    and (shown.details or not check.hidden):
                console.print(Padding(check_detail(shown), (0, 0, 1, 8)))
        opened = opened or open_this
    console.print()
    console.print(
        Text.assemble(
            ("Progress: ", "bold"),
            f"{passed}/{len(result.stages)} stages passed · ",
            f"{fmt(result.score)}/{fmt(result.max_score)} points",
        )
    )
    first = next((s for s in result.stages if s.status != "passed"), None)
    if first is not None:
        try:
            stage: Stage | None = find_stage(first.stage)
        except LookupError:
            stage = None
        if stage is not None and stage.hints:
            console.print(Text.assemble(("Next: ", "bold"), f"stage {first.stage} — {stage.hints[0]}"))
            console.print(Text(f"      (more: tcplab hint {stage.number})", style="dim"))
    elif result.stages:
        console.print(Text("Every stage passed. Well done!", style="bold green"))


def stage_line(stage: StageResult) -> Text:
    mark, style = MARKS.get(stage.status, ("?", ""))
    state = stage_state(stage)
    line = Text.assemble(
        (f" {mark} ", style),
        (f"{stage.stage:<20}", "bold"),
        f" {stage.title:<24} ",
        (f"{fmt(stage.score):>4}/{fmt(stage.max_score):<4}", style),
    )
    if state != "passed":
        line.append(f"  {state}", style="dim" if state == "not started" else style)
    return line


def check_line(check: CheckResult) -> Text:
    mark, style = MARKS.get(check.status, ("?", ""))
    line = Text.assemble(("     ", ""), (mark, style), " ", check.title)
    line.append(f"  [{fmt(check.score)}/{fmt(check.max_score)}]", style="dim")
    if check.hidden:
        line.append("  (hidden)", style="dim")
    if check.status in ("timeout", "error"):
        line.append(f"  {check.status}", style=style)
    if is_stub(check):
        line.append("  not implemented yet", style="dim")
    return line


def check_detail(check: CheckView) -> Group:
    parts: list = []
    if check.message:
        parts.append(Text(check.message))
    if check.transcript:
        parts.append(Text("what crossed the wire:", style="bold dim"))
        parts.append(Text("\n".join(check.transcript), style="dim"))
    if check.seed is not None:
        parts.append(Text(f"(short reads and writes were injected with seed {check.seed}; "
                          f"replay with --seed {check.seed})", style="dim"))
    if check.hint:
        parts.append(Text.from_markup(f"[bold cyan]hint:[/] {escape(check.hint)}"))
    return Group(*parts)
