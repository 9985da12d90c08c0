"""The results model as text for a student's terminal (rich): one thing to do next, in focus.

Every stage gets a line. The first stage that is not green — the current one — is opened up:
its first failure in full (what was expected, what happened, the bytes that crossed the
wire), each other check one line (a skipped one with why), and the footer's "Next:" is the
hint of that very failure. A module that does not import is one message for its stage, never
one per check. Later stages stay one line each ("not started"), so a student sees the road
ahead without drowning: on the stubs the whole screen fits in 40 lines at 80 columns.
`verbose` (`tcplab check -v`) opens every stage and shows every failure, each with its hint.

What a student may see of a check comes from student_view.view() alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console, Group
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from graders.report.results import CheckResult, StageResult, SubmissionResult
from graders.report.student_view import MARKS as SYMBOLS
from graders.report.student_view import CheckView, fmt, view
from graders.stages import EXERCISES, Stage, all_stages, find_stage

COLOURS = {"passed": "green", "failed": "red", "error": "magenta", "timeout": "red", "skipped": "dim",
           "missing": "yellow"}
MARKS = {status: (SYMBOLS[status], colour) for status, colour in COLOURS.items()}
NOT_PASSED = ("failed", "error", "timeout")


@dataclass(frozen=True)
class HiddenChecks:
    """What a student is told of a stage's hidden checks (graders/cli/hidden_checks.py counts them)."""

    count: int
    points: float
    cases: str = ""  # the kinds of cases they add, a phrase: "slow readers, IPv6, …"

    def sentence(self, where: str) -> str:
        checks = "1 hidden check" if self.count == 1 else f"{self.count} hidden checks"
        points = "1 point" if self.points == 1 else f"{fmt(self.points)} points"
        text = f"When you hand in, your instructor also runs {checks} worth {points} {where}"
        return text + (f"; they add {self.cases}." if self.cases else ".")


def is_stub(check: CheckResult | CheckView) -> bool:
    return check.message.startswith("not implemented yet")


def not_started(stage: StageResult) -> bool:
    live = [c for c in stage.checks if c.status != "skipped"]
    return bool(live) and all(is_stub(c) for c in live)


def stage_state(stage: StageResult) -> str:
    if stage.status == "failed" and not_started(stage):
        return "not started"
    return stage.status


def render(result: SubmissionResult, console: Console, *, verbose: bool = False, instructor: bool = False,
           hidden: Mapping[str, HiddenChecks] | None = None, following: Stage | None = None) -> None:
    """`instructor`: the one who ran the hidden checks (`tcplab check --hidden`) sees all of them.
    `hidden`: the hidden checks a passed stage still has ahead, for its success message;
    `following`: the stage to name after a success (the caller knows what comes next)."""
    console.print(Text.assemble(("tcplab", "bold"), f" — {result.submission}"))
    if result.problem:
        console.print(Text(f"  {result.problem}", style="red"))
    current = next((s for s in result.stages if s.status != "passed"), None)
    for stage in result.stages:
        console.print(stage_line(stage))
        if verbose:
            every_check(stage, console, instructor)
        elif stage is current:
            focused_stage(stage, console, instructor)
    console.print()
    passed = sum(1 for s in result.stages if s.status == "passed")
    console.print(Text.assemble(
        ("Progress: ", "bold"),
        f"{passed}/{len(result.stages)} stages passed · ",
        f"{fmt(result.score)}/{fmt(result.max_score)} points",
    ))
    if current is not None:
        next_step(current, first_failure(current, instructor), console, instructor)
    elif result.stages:
        success(result, console, hidden or {}, following, instructor)


# -- the stage in focus, and -v ----------------------------------------------------------------------
def focused_stage(stage: StageResult, console: Console, instructor: bool) -> None:
    if stage.status in ("missing", "error"):
        # One message for the stage: every check met the same missing or broken module.
        console.print(Padding(Text(stage.problem or "its module could not be loaded", style="yellow"), (0, 0, 0, 6)))
        why = "the file is there" if stage.status == "missing" else "Python can import the module"
        console.print(Padding(Text(f"Its {len(stage.checks)} checks cannot run until {why}.", style="dim"),
                              (0, 0, 0, 6)))
        return
    focus = first_failure(stage, instructor)
    stub_state = not not_started(stage)  # the stage's line says "not started" already
    for check in stage.checks:
        shown = view(check, instructor=instructor)
        console.print(check_row(shown, one_line=check is not focus, stub_state=stub_state and check is not focus))
        if check is focus:
            # The hint is the footer's "Next:"; a stub's wire only repeats its message.
            console.print(Padding(check_detail(shown, hint=False, wire=not is_stub(shown)), (0, 0, 1, 8)))


def every_check(stage: StageResult, console: Console, instructor: bool) -> None:
    if stage.problem and stage.status in ("missing", "error"):
        console.print(Padding(Text(stage.problem, style="yellow"), (0, 0, 0, 6)))
    for check in stage.checks:
        shown = view(check, instructor=instructor)
        console.print(check_row(shown))
        if check.status in NOT_PASSED and not is_stub(shown) and (shown.details or not check.hidden):
            console.print(Padding(check_detail(shown, printed_lines=None), (0, 0, 1, 8)))


def first_failure(stage: StageResult, instructor: bool) -> CheckResult | None:
    """The check to show in full: the first that did not pass, preferring one whose details a student may see."""
    failing = [c for c in stage.checks if c.status in NOT_PASSED]
    return next((c for c in failing if view(c, instructor=instructor).details), failing[0] if failing else None)


# -- the footer ----------------------------------------------------------------------------------------
def next_step(current: StageResult, focus: CheckResult | None, console: Console, instructor: bool) -> None:
    try:
        stage: Stage | None = find_stage(current.stage)
    except LookupError:
        stage = None
    filename = stage.filename if stage is not None else "its module"
    if current.status == "missing":
        advice = f"create {current.stage}/{filename}: copy the stub from the course's exercises/ folder."
    elif current.status == "error":
        advice = f"fix the problem above: no check of this stage can run until Python imports {filename}."
    else:
        advice = (view(focus, instructor=instructor).hint if focus is not None else "") or (
            stage.hints[0] if stage and stage.hints else "")
    if not advice:
        return
    more = []
    if stage is not None:
        more = [f"tcplab hint {stage.number}"] if stage.hints else []
        readme = EXERCISES / stage.id / "README.md"
        if readme.is_file():
            more.append(f"the lesson: {shown_path(readme)}")
    console.print(labelled("Next:", Text(f"stage {current.stage} — {advice}"),
                           Text(f"(more: {' · '.join(more)})", style="dim") if more else None))


def success(result: SubmissionResult, console: Console, hidden: Mapping[str, HiddenChecks],
            following: Stage | None, instructor: bool) -> None:
    ids = [s.stage for s in result.stages]
    if set(ids) >= {s.id for s in all_stages()}:
        console.print(Text("Every stage passed. Well done!", style="bold green"))
    else:
        names = ids[0] if len(ids) == 1 else ", ".join(ids[:-1]) + f" and {ids[-1]}"
        console.print(Text(f"{'Stage' if len(ids) == 1 else 'Stages'} {names} passed. Well done!", style="bold green"))
    ran_hidden = instructor or any(c.hidden for s in result.stages for c in s.checks)
    ahead = [hidden[i] for i in ids if i in hidden]
    if ahead and not ran_hidden:
        if len(ids) == 1:
            note = ahead[0].sentence("on this stage")
        else:
            total = HiddenChecks(sum(h.count for h in ahead), sum(h.points for h in ahead))
            note = total.sentence("on these stages").removesuffix(".") + ": each stage's README says what they add."
        console.print(Text(note, style="green"))
    if following is not None:
        readme = EXERCISES / following.id / "README.md"
        lesson = f"read its lesson, {shown_path(readme)}, then " if readme.is_file() else ""
        console.print(labelled("Next:", Text(f"stage {following.id} — {lesson}edit {following.filename} "
                                             f"and run `tcplab check {following.number}`.")))


def labelled(label: str, *lines: Text | None) -> Table:
    """`label` in bold, and beside it lines that wrap under themselves, not under the label."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for number, line in enumerate(x for x in lines if x is not None):
        grid.add_row(Text(label if number == 0 else "", style="bold"), line)
    return grid


# -- lines ---------------------------------------------------------------------------------------------
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


def check_line(check: CheckView, *, stub_state: bool = True) -> Text:
    """The check's title, points and state, as one piece of text (without its mark)."""
    line = Text(check.title)
    line.append_text(check_tail(check, stub_state=stub_state))
    if check.status == "skipped":
        line.append(f"\n{check.message or 'skipped'}", style="dim")
    return line


def check_tail(check: CheckView, *, stub_state: bool = True) -> Text:
    _, style = MARKS.get(check.status, ("?", ""))
    tail = Text(f"  [{fmt(check.score)}/{fmt(check.max_score)}]", style="dim")
    if check.hidden:
        tail.append("  (hidden)", style="dim")
    if check.status in ("timeout", "error"):
        tail.append(f"  {check.status}", style=style)
    if stub_state and is_stub(check):
        tail.append("  not implemented yet", style="dim")
    return tail


def check_row(check: CheckView, *, one_line: bool = False, stub_state: bool = True) -> Table | Group:
    """A check's mark, then its line; a line that wraps goes on under the title, not under the mark.

    `one_line`: the title is cut to fit the width (with "…"), so that a stage of 18 checks stays
    18 lines; a skipped check keeps why it was skipped, whole, on a line of its own."""
    _, style = MARKS.get(check.status, ("?", ""))
    mark = check.mark
    row = Table.grid(padding=(0, 1), expand=one_line)
    row.add_column(width=6, justify="right", no_wrap=True)
    if not one_line:
        row.add_column()
        row.add_row(Text(mark, style=style), check_line(check, stub_state=stub_state))
        return row
    row.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    row.add_column(no_wrap=True)
    row.add_row(Text(mark, style=style), Text(check.title, no_wrap=True, overflow="ellipsis"),
                check_tail(check, stub_state=stub_state))
    if check.status == "skipped":
        return Group(row, Padding(Text(check.message or "skipped", style="dim"), (0, 0, 0, 7)))
    return row


# Why 20: enough print() debugging to follow one call; a print in a loop stays a screenful.
PRINTED_LINES = 20


def check_detail(check: CheckView, *, hint: bool = True, wire: bool = True,
                 printed_lines: int | None = PRINTED_LINES) -> Group:
    """A check's details; `printed_lines` caps what its calls printed (None: all of it, as -v)."""
    parts: list = []
    if check.message:
        parts.append(Text(check.message))
    if check.transcript and wire:
        parts.append(Text("what crossed the wire:", style="bold dim"))
        parts.append(Text("\n".join(check.transcript), style="dim"))
    if check.printed:
        parts.append(Text("what your code printed:", style="bold dim"))
        parts.append(printed_block(check.printed, printed_lines))
    if check.seed is not None:
        parts.append(Text(f"(short reads and writes were injected with seed {check.seed}; "
                          f"replay with --seed {check.seed})", style="dim"))
    if check.hint and hint:
        parts.append(Text.from_markup(f"[bold cyan]hint:[/] {escape(check.hint)}"))
    return Group(*parts)


def printed_block(printed: str, limit: int | None) -> Text:
    """What the code printed, its last `limit` lines, saying how many were cut and where they are."""
    lines = printed.splitlines()
    if limit is None or len(lines) <= limit:
        return Text("\n".join("  │ " + line for line in lines))
    cut = len(lines) - limit
    kept = Text(f"  … {cut} earlier line{'s' if cut != 1 else ''} cut (tcplab check -v shows them all)\n",
                style="dim")
    kept.append("\n".join("  │ " + line for line in lines[-limit:]))
    return kept


def shown_path(path: Path) -> str:
    """`path` as a student would type it where they are: relative when it is below the current folder."""
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return str(path)
