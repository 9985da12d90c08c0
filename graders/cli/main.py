"""The `tcplab` command: check, watch, list, hint, grade and export.

Exit status: `check` is non-zero when a check failed; `grade` is zero whenever grading
itself worked; 2 means the command was used wrongly (an unknown stage, a bad path).
Nothing a student wrote can make this print a traceback: student code runs in workers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from graders.grading.capacity import cores
from graders.stages import EXERCISES, Stage, UnknownStage, all_stages, find_stage, select_stages

if TYPE_CHECKING:
    from graders.report.results import SubmissionResult


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except UnknownStage as exc:
        Console(stderr=True).print(f"[red]tcplab:[/] {exc}")
        return 2
    except KeyboardInterrupt:
        Console(stderr=True).print("tcplab: interrupted (Ctrl-C) before the checks were done: run the command again for the results")
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tcplab", description="Learn TCP with Python sockets, stage by stage.")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("check", help="run the checks of your stages (all, or the ones named)")
    p.add_argument("stages", nargs="*", metavar="STAGE", help="a stage number (3) or name (03_connect)")
    p.add_argument("--path", type=Path, default=None, help="grade the stage folders in this directory")
    p.add_argument("--format", choices=("text", "json", "junit"), default="text")
    p.add_argument("--hidden", action="store_true", help="also run the hidden checks (instructors)")
    p.add_argument("--seed", type=int, default=None, help="replay a run's injected short reads and writes")
    p.add_argument("-v", "--verbose", action="store_true", help="show the details of every failing check")
    p.add_argument("--only", metavar="CHECK[,CHECK...]", default=None,
                   help="judge only these checks of the stages named: a check's name, or STAGE.name as "
                        "--format json shows its id; the exit status is 0 when all of them pass "
                        "(GitHub Classroom's runners use it)")
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("watch", help="re-run a stage's checks every time you save")
    p.add_argument("stage", nargs="?", metavar="STAGE", help="start here (default: the first stage not passed)")
    p.add_argument("--path", type=Path, default=None)
    p.add_argument("--poll", action="store_true", help="poll for changes instead of waiting for file events")
    p.set_defaults(run=cmd_watch)

    p = sub.add_parser("list", help="the stages, their state and points")
    p.add_argument("--path", type=Path, default=None)
    p.set_defaults(run=cmd_list)

    p = sub.add_parser("hint", help="the next hint of a stage, one more each time (gentlest first)")
    p.add_argument("stage", metavar="STAGE")
    p.add_argument("--all", action="store_true", dest="everything", help="every hint of the stage at once")
    p.set_defaults(run=cmd_hint)

    add_batch_commands(sub)
    add_packaging_commands(sub)
    return parser


def submission_root(path: Path | None) -> Path:
    if path is None:
        return EXERCISES
    from graders.grading.submission import find_root

    return find_root(path)


def cmd_check(args: argparse.Namespace) -> int:
    from graders.cli.progress import running_display
    from graders.grading.runner import grade_root

    stages = select_stages(args.stages)
    if args.path is not None and not args.path.is_dir():
        Console(stderr=True).print(f"[red]tcplab:[/] {args.path} is not a directory")
        return 2
    only = None
    if args.only is not None:
        only = {name.strip() for name in args.only.split(",") if name.strip()}
        if not only:
            Console(stderr=True).print("[red]tcplab:[/] --only needs the names of checks, separated by commas")
            return 2
    root = submission_root(args.path)
    console = Console()
    # The running state only where a person watches the text: never into JSON, JUnit or a pipe.
    shown_to = Console(stderr=True) if args.format == "text" and console.is_terminal else None
    with running_display(shown_to, f"checking {', '.join(s.id for s in stages)}") as progress:
        result = grade_root(root, stages, label=str(args.path or "exercises/"), hidden=args.hidden,
                            seed=args.seed, progress=progress)
    if only is not None:
        result, unknown = only_checks(result, only)
        if unknown:
            from rich.markup import escape

            Console(stderr=True).print(f"[red]tcplab:[/] no check named {escape(', '.join(sorted(unknown)))} in "
                                       f"{', '.join(s.id for s in stages)}; `tcplab check --format json` "
                                       "lists the checks' ids", soft_wrap=True)
            return 2
    if args.format == "json":
        from graders.report.results import report_json

        print(json.dumps(report_json([result]), indent=2))
    elif args.format == "junit":
        from graders.report.junit import render_junit

        print(render_junit([result]))
    else:
        show_text(result, stages, console, verbose=args.verbose, instructor=args.hidden)
    return 0 if result.all_passed else 1


def show_text(result: SubmissionResult, stages: list[Stage], console: Console, *, verbose: bool,
              instructor: bool) -> None:
    """`tcplab check`'s screen; after a success, the hidden checks still ahead and the stage that follows."""
    from graders.cli.hidden_checks import hidden_checks
    from graders.report.text import render

    hidden = hidden_checks(stages) if result.all_passed and not instructor else {}
    course = list(all_stages())
    checked = {course.index(s) for s in stages if s in course}
    last = max(checked, default=len(course))
    # The stage after the last one checked; none when the whole course was checked.
    following = course[last + 1] if last + 1 < len(course) and len(checked) < len(course) else None
    render(result, console, verbose=verbose, instructor=instructor, hidden=hidden, following=following)


def only_checks(result: SubmissionResult, names: set[str]) -> tuple[SubmissionResult, set[str]]:
    """The result with only the checks named (by name, or by id STAGE.name), and the names that
    matched none. Every check of the stages ran, so that a check that depends on another left
    out is judged as in a whole run; a stage keeps its own verdict when its module is missing or
    broken, and otherwise passes when the checks kept all pass."""
    from graders.report.results import StageResult, SubmissionResult, stage_status

    matched: set[str] = set()
    stages = []
    for stage in result.stages:
        kept = [c for c in stage.checks if c.id in names or c.name in names]
        matched |= {c.id for c in kept} | {c.name for c in kept}
        if kept:
            status = stage.status if stage.status in ("missing", "error") else stage_status("ok", kept)
            stages.append(StageResult(stage.stage, stage.title, status, kept, stage.problem))
    return SubmissionResult(result.submission, stages, result.problem), names - matched


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from graders.cli.progress import running_display
    from graders.grading.runner import grade_root
    from graders.report.text import MARKS, fmt, stage_state

    console = Console()
    with running_display(Console(stderr=True) if console.is_terminal else None, "checking every stage") as progress:
        result = grade_root(submission_root(args.path), list(all_stages()), label="exercises/", progress=progress)
    table = Table(title="tcplab stages")
    for column in ("stage", "title", "state", "points"):
        table.add_column(column)
    for stage in result.stages:
        mark, style = MARKS.get(stage.status, ("?", ""))
        table.add_row(stage.stage, stage.title, f"[{style}]{mark} {stage_state(stage)}[/]",
                      f"{fmt(stage.score)}/{fmt(stage.max_score)}")
    console.print(table)
    return 0


def cmd_hint(args: argparse.Namespace) -> int:
    from graders.cli.hints import show_hints

    return show_hints(find_stage(args.stage), Console(), everything=args.everything)


def cmd_watch(args: argparse.Namespace) -> int:
    from graders.cli.watch import watch

    return watch(submission_root(args.path), args.stage, poll=args.poll)


# -- tcplab grade, tcplab export (graders/batch/coordinator.py, graders/cli/grade.py) ----------------------
def add_batch_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("grade", help="grade submissions (directories or .zip files) with every check",
                       description="Each PATH is a submission (a folder or a .zip) or a folder of them, one "
                                   "per student (the folder or zip name is the student id). Results go to "
                                   "the gradebook as each submission is graded; a run again skips what is "
                                   "already graded.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--stage", action="append", dest="stages", metavar="STAGE", help="only these stages")
    p.add_argument("--format", choices=("text", "json"), default="json")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--jobs", "-j", type=int, default=cores(), metavar="N",
                   help="grade N submissions at a time (default: one per core)")
    p.add_argument("--runners", type=int, default=None, metavar="N",
                   help="run each submission's checks in N processes side by side (default: from --jobs "
                        "and the cores; 1: one after another)")
    p.add_argument("--gradebook", type=Path, default=Path("gradebook.db"), metavar="PATH",
                   help="the SQLite gradebook (default: gradebook.db)")
    p.add_argument("--no-gradebook", action="store_true", help="print the results only; keep no gradebook")
    p.add_argument("--force", action="store_true", help="grade again what the gradebook already holds")
    p.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                   help="give up on one submission after this long (default: 900)")
    p.set_defaults(run=cmd_grade)

    p = sub.add_parser("export", help="the gradebook as a CSV of grades and per-student feedback files")
    p.add_argument("--gradebook", type=Path, default=Path("gradebook.db"), metavar="PATH")
    p.add_argument("--csv", type=Path, default=None, metavar="FILE", help="one row per student")
    p.add_argument("--feedback", type=Path, default=None, metavar="DIR",
                   help="one Markdown and one HTML file per student")
    p.set_defaults(run=cmd_export)


def cmd_grade(args: argparse.Namespace) -> int:
    from graders.cli.grade import grade_command

    return grade_command(args)


def cmd_export(args: argparse.Namespace) -> int:
    from graders.cli.grade import export_command

    return export_command(args)


# -- tcplab gradescope, tcplab release (graders/packaging/gradescope_bundle.py, graders/packaging/release.py) ------------
def add_packaging_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gradescope", help="build a Gradescope autograder bundle (instructors)")
    p.add_argument("out", nargs="?", type=Path, default=Path("autograder.zip"), metavar="OUT.zip")
    p.add_argument("--budget", type=int, default=None, metavar="SECONDS",
                   help="stop grading a submission after this long and report what was graded "
                        "(default 540; keep it below the assignment's autograder timeout)")
    p.set_defaults(run=cmd_gradescope)

    p = sub.add_parser("release", help="write the student copy of the course to a new folder (instructors)")
    p.add_argument("out", type=Path, metavar="OUT")
    p.add_argument("--force", action="store_true", help="replace OUT even if it is not empty")
    p.set_defaults(run=cmd_release)


def cmd_gradescope(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from graders.packaging.common import PackagingError
    from graders.packaging.gradescope import DEFAULT_BUDGET
    from graders.packaging.gradescope_bundle import build_bundle, describe

    try:
        bundle = build_bundle(args.out, budget=args.budget or DEFAULT_BUDGET)
    except (PackagingError, OSError) as exc:
        Console(stderr=True).print(f"[red]tcplab:[/] {escape(str(exc))}", soft_wrap=True)
        return 2
    for line in describe(bundle):
        Console().print(escape(line), soft_wrap=True)
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    from rich.markup import escape

    from graders.packaging.common import PackagingError
    from graders.packaging.release import build_release, describe

    try:
        release = build_release(args.out, force=args.force)
    except (PackagingError, OSError) as exc:
        Console(stderr=True).print(f"[red]tcplab:[/] {escape(str(exc))}", soft_wrap=True)
        return 2
    for line in describe(release):
        Console().print(escape(line), soft_wrap=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
