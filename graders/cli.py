"""The `tcplab` command: check, watch, list, hint and grade.

Exit status: `check` is non-zero when a check failed; `grade` is zero whenever grading
itself worked; 2 means the command was used wrongly (an unknown stage, a bad path).
Nothing a student wrote can make this print a traceback: student code runs in workers.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console

from graders.stages import EXERCISES, UnknownStage, all_stages, find_stage, select_stages


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
    p.set_defaults(run=cmd_check)

    p = sub.add_parser("watch", help="re-run a stage's checks every time you save")
    p.add_argument("stage", nargs="?", metavar="STAGE", help="start here (default: the first stage not passed)")
    p.add_argument("--path", type=Path, default=None)
    p.add_argument("--poll", action="store_true", help="poll for changes instead of waiting for file events")
    p.set_defaults(run=cmd_watch)

    p = sub.add_parser("list", help="the stages, their state and points")
    p.add_argument("--path", type=Path, default=None)
    p.set_defaults(run=cmd_list)

    p = sub.add_parser("hint", help="the hints of a stage")
    p.add_argument("stage", metavar="STAGE")
    p.set_defaults(run=cmd_hint)

    p = sub.add_parser("grade", help="grade submissions (directories or .zip files) with every check")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.add_argument("--stage", action="append", dest="stages", metavar="STAGE", help="only these stages")
    p.add_argument("--format", choices=("text", "json"), default="json")
    p.add_argument("--seed", type=int, default=None)
    p.set_defaults(run=cmd_grade)
    return parser


def submission_root(path: Path | None) -> Path:
    if path is None:
        return EXERCISES
    from graders.submission import find_root

    return find_root(path)


def cmd_check(args: argparse.Namespace) -> int:
    from graders.render_text import render
    from graders.runner import grade_root

    stages = select_stages(args.stages)
    if args.path is not None and not args.path.is_dir():
        Console(stderr=True).print(f"[red]tcplab:[/] {args.path} is not a directory")
        return 2
    root = submission_root(args.path)
    result = grade_root(root, stages, label=str(args.path or "exercises/"), hidden=args.hidden, seed=args.seed)
    if args.format == "json":
        from graders.results import report_json

        print(json.dumps(report_json([result]), indent=2))
    elif args.format == "junit":
        from graders.render_junit import render_junit

        print(render_junit([result]))
    else:
        render(result, Console(), verbose=args.verbose)
    return 0 if result.all_passed else 1


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from graders.render_text import MARKS, fmt, stage_state
    from graders.runner import grade_root

    result = grade_root(submission_root(args.path), list(all_stages()), label="exercises/")
    table = Table(title="tcplab stages")
    for column in ("stage", "title", "state", "points"):
        table.add_column(column)
    for stage in result.stages:
        mark, style = MARKS.get(stage.status, ("?", ""))
        table.add_row(stage.stage, stage.title, f"[{style}]{mark} {stage_state(stage)}[/]",
                      f"{fmt(stage.score)}/{fmt(stage.max_score)}")
    Console().print(table)
    return 0


def cmd_hint(args: argparse.Namespace) -> int:
    stage = find_stage(args.stage)
    console = Console()
    console.print(f"[bold]{stage.id}[/] — {stage.title}")
    for number, hint in enumerate(stage.hints, 1):
        console.print(f" {number}. {hint}")
    readme = EXERCISES / stage.id / "README.md"
    if readme.is_file():
        console.print(f"[dim]The whole lesson: {readme}[/]")
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    from graders.results import report_json
    from graders.runner import grade_path

    stages = select_stages(args.stages)
    results = [grade_path(p, stages, hidden=True, seed=args.seed) for p in args.paths]
    if args.format == "json":
        print(json.dumps(report_json(results), indent=2))
    else:
        from graders.render_text import render

        console = Console()
        for result in results:
            render(result, console, verbose=True)
    return 0


def cmd_watch(args: argparse.Namespace) -> int:
    from graders.watch import watch

    return watch(submission_root(args.path), args.stage, poll=args.poll)


if __name__ == "__main__":
    sys.exit(main())
