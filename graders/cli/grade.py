"""`tcplab grade` and `tcplab export` as a person meets them: arguments, progress, summaries.

stdout carries the results (the JSON contract, or text); stderr carries the progress bar
(only when it is a terminal), warnings about the sandbox, and a one-line summary.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import time

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from graders.batch import isolation as iso
from graders.batch.coordinator import DEFAULT_TIMEOUT, Batch, Outcome, expand
from graders.batch.gradebook import Gradebook, GradebookError
from graders.report.results import report_json, safe_text
from graders.stages import select_stages


class RateColumn(ProgressColumn):
    """Submissions per minute: the figure an instructor plans a class around."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed * 60:.1f}/min" if speed else "–/min", style="progress.data.speed")


class Terminated(BaseException):
    """SIGTERM (`kill`, a scheduler's time limit): stopped like Ctrl-C, with the same report.

    A BaseException, as KeyboardInterrupt is, so that no `except Exception` on the way
    (one submission's safety net) takes it for a problem of that submission.
    """


def _terminated(signum: int, frame: object) -> None:
    # Stop the children and clean up, as for Ctrl-C. What is already graded is committed;
    # the next run goes on from there. Once: the cleanup must not be cut short.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


def fail(message: str) -> int:
    Console(stderr=True, soft_wrap=True).print(f"[red]tcplab:[/] {escape(safe_text(message))}")
    return 2


def grade_command(args: argparse.Namespace) -> int:
    err = Console(stderr=True, soft_wrap=True)
    stages = select_stages(args.stages)
    if args.jobs < 1:
        return fail(f"--jobs must be at least 1, not {args.jobs}")
    if args.runners is not None and args.runners < 1:
        return fail(f"--runners must be at least 1, not {args.runners}")
    if args.timeout is not None and args.timeout <= 0:
        return fail("--timeout must be a positive number of seconds")
    # A path that is not there is the instructor's typo, not a student: nothing is graded or recorded.
    absent = [p for p in args.paths if not os.path.lexists(p)]
    if absent:
        return fail(f"no such file or folder: {', '.join(map(str, absent))}")
    gradebook = None
    if not args.no_gradebook:
        try:
            gradebook = Gradebook(args.gradebook)
        except GradebookError as exc:
            return fail(f"{exc} (use --gradebook PATH, or --no-gradebook)")
    jobs = expand(args.paths, warn=lambda message: err.print(f"[yellow]tcplab:[/] {escape(message)}"))
    isolation = iso.detect()
    err.print(f"tcplab: sandbox: {escape(isolation.describe())}", highlight=False)
    for note in isolation.notes:
        err.print(f"[yellow]tcplab: sandbox:[/] {escape(note)}")

    progress = Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(), RateColumn(),
                        TextColumn("time left"), TimeRemainingColumn(), TimeElapsedColumn(),
                        console=err, disable=not err.is_terminal, transient=True)
    task = progress.add_task("grading", total=len(jobs))

    finished: list[Outcome] = []

    def advance(outcome: Outcome) -> None:
        finished.append(outcome)
        progress.advance(task)
        if outcome.status == "error":
            progress.console.print(f"[magenta]tcplab:[/] {escape(outcome.result.problem.splitlines()[0])}")

    batch = Batch(stages, jobs=args.jobs, runners=args.runners, gradebook=gradebook, force=args.force, seed=args.seed,
                  timeout=args.timeout or DEFAULT_TIMEOUT, isolation=isolation, on_done=advance)
    started = time.monotonic()
    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        with progress:
            outcomes = batch.run(jobs)
    except (KeyboardInterrupt, Terminated) as exc:
        graded = sum(1 for o in finished if o.status == "graded")
        skipped = sum(1 for o in finished if o.status == "skipped")
        how = "interrupted" if isinstance(exc, KeyboardInterrupt) else "stopped (SIGTERM)"
        where = (f"; they are in {args.gradebook}: run the same command again to go on where it stopped"
                 if gradebook is not None else "; --no-gradebook: nothing was kept")
        err.print(f"tcplab: {how}: {graded} of {len(jobs)} submissions graded, {skipped} already in the "
                  f"gradebook{escape(safe_text(where))}", highlight=False)
        return 130 if isinstance(exc, KeyboardInterrupt) else 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)
        if gradebook is not None:
            gradebook.close()
    wall = time.monotonic() - started

    if args.format == "json":
        data = report_json([o.result for o in outcomes])
        for sub, outcome in zip(data["submissions"], outcomes, strict=False):
            sub["student"] = outcome.job.student  # a new key: the contract only grows
        print(json.dumps(data, indent=2))
    else:
        render_text(outcomes, Console())
    for failure in sorted(batch.sandbox_failures):
        err.print(f"[yellow]tcplab: sandbox:[/] {escape(failure)}")
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in ("graded", "skipped", "error")}
    where = escape(safe_text(f" into {args.gradebook}")) if gradebook is not None else ""
    err.print(f"tcplab: {len(outcomes)} submissions{where}: {counts['graded']} graded, "
              f"{counts['skipped']} already in the gradebook, {counts['error']} could not be graded "
              f"— {wall:.1f} s at --jobs {args.jobs}", highlight=False)
    return 1 if counts["error"] else 0


def render_text(outcomes: list[Outcome], console: Console) -> None:
    if len(outcomes) == 1:
        from graders.report.text import render

        render(outcomes[0].result, console, verbose=True, instructor=True)  # the instructor grades
        return
    table = Table(title="tcplab grades")
    for column in ("student", "submission", "points", "stages passed", "note"):
        table.add_column(column)
    for o in outcomes:
        passed = sum(1 for s in o.result.stages if s.status == "passed")
        note = o.result.problem.splitlines()[0] if o.result.problem else ("unchanged" if o.status == "skipped" else "")
        table.add_row(escape(o.job.student), escape(o.job.label), f"{o.result.score:g}/{o.result.max_score:g}",
                      f"{passed}/{len(o.result.stages)}", escape(note))
    console.print(table)


def export_command(args: argparse.Namespace) -> int:
    from graders.batch.export import export_csv, export_feedback

    if args.csv is None and args.feedback is None:
        return fail("say what to export: --csv FILE and/or --feedback DIR")
    if args.csv is not None and not args.csv.parent.is_dir():
        return fail(f"cannot write {args.csv}: {args.csv.parent} is not a directory")
    if args.feedback is not None and args.feedback.exists() and not args.feedback.is_dir():
        return fail(f"{args.feedback} exists and is not a directory")
    try:
        gradebook = Gradebook(args.gradebook, create=False)
    except GradebookError as exc:
        return fail(str(exc))
    out = Console()
    try:
        if args.csv is not None:
            rows = export_csv(gradebook, args.csv)
            out.print(f"wrote {args.csv}: {rows} students", highlight=False)
        if args.feedback is not None:
            files = export_feedback(gradebook, args.feedback)
            out.print(f"wrote {len(files) // 2} feedback pages (Markdown and HTML) to {args.feedback}",
                      highlight=False)
    except OSError as exc:
        return fail(f"could not write the export: {exc}")
    finally:
        gradebook.close()
    return 0


