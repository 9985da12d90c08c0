"""The results model as Gradescope's results.json, and what of it a student may see there.

The format (gradescope-autograders.readthedocs.io, "specs"): score, execution_time, output,
stdout_visibility, tests[] with name, number, score, max_score, status, output, visibility.
graders/packaging/gradescope.py grades a submission inside Gradescope and writes it with
`write_results`; this module only renders, and imports nothing of the grading itself.

What students see: public checks are "visible", with the check's message, transcript and
hint. Hidden checks are "after_published" — Gradescope shows nothing of them, and no total,
until the grades are published — and even then only what graders/report/student_view.py lets a
student see of a hidden check: its name, status and score (its message can quote what it sent
or expected). The top-level output speaks only of the public checks and of the files found, so
it cannot give the hidden results away early.

Two rewritings keep the grader's own details out of it: `tidier` turns the grader's private
paths back into the names the student used, and `safe_text` (graders/report/results.py) makes every string one that UTF-8
can carry (a file name that is not UTF-8 is shown escaped, \\xff, and never costs the whole
results.json).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graders.report.files import write_atomically
from graders.report.results import CheckResult, StageResult, safe_text
from graders.report.student_view import HIDDEN_FAILED_NOTE, CheckView, fmt, view
from graders.stages import Stage, all_stages

Tidy = Callable[[str], str]


@dataclass
class Gathered:
    """What graders/packaging/gradescope.py found in an upload, as the summary reports it."""

    graded: dict[str, str] = field(default_factory=dict)  # stage id -> the file as the student named it
    notes: list[str] = field(default_factory=list)


# -- results.json ---------------------------------------------------------------------------------
def check_test(stage: Stage, number: int, check: CheckResult, tidy: Tidy) -> dict[str, Any]:
    test: dict[str, Any] = {
        "name": f"{stage.id} · {check.title or check.name}",
        "number": f"{stage.number}.{number}",
        "score": check.score,
        "max_score": check.max_score,
        "status": "passed" if check.status == "passed" else "failed",
        "visibility": "after_published" if check.hidden else "visible",
        "tags": [stage.id],
        "extra_data": {"id": check.id, "status": check.status, "hidden": check.hidden},
    }
    shown = view(check)  # what a student may see of it
    if shown.hidden:
        test["output"] = f"{shown.status}. {HIDDEN_FAILED_NOTE.capitalize()}."
    else:
        test["output"] = tidy(check_output(shown, check.id))
    return test


def check_output(check: CheckView, check_id: str) -> str:
    if check.status == "passed":
        return "passed"
    message = check.message.removeprefix(f"{check.status}: ")  # a skip reason already says "skipped: …"
    parts = [f"{check.status}: {message}" if message else check.status]
    if check.transcript:
        parts.append("What crossed the wire:\n" + "\n".join(check.transcript))
    if check.printed:
        parts.append("What your code printed:\n" + check.printed)
    if check.seed is not None:
        parts.append(f"Short reads and writes were injected with seed {check.seed} "
                     f"(replay: tcplab check {check_id.split('_', 1)[0]} --seed {check.seed}).")
    if check.hint:
        parts.append(f"Hint: {check.hint}")
    return "\n\n".join(parts)


def results_json(stages: list[StageResult], gathered: Gathered, tidy: Tidy, *, seconds: float,
                 pending: Sequence[Stage] = (), stopped: str = "") -> dict[str, Any]:
    """`stages` graded, `pending` not (yet): the stages of this grading, those the summary lists."""
    by_id = {s.id: s for s in all_stages()}
    tests = [check_test(by_id[r.stage], n, c, tidy) for r in stages for n, c in enumerate(r.checks, 1)]
    return {
        "score": float(sum(t["score"] for t in tests)),
        "execution_time": round(seconds),
        "output": summary(stages, gathered, tidy, pending, stopped),
        "stdout_visibility": "hidden",  # the grader's log is for the instructor
        "tests": tests,
    }


def summary(stages: list[StageResult], gathered: Gathered, tidy: Tidy, pending: Sequence[Stage], stopped: str) -> str:
    lines = []
    if stopped:
        lines += [stopped, ""]
    if not gathered.graded:
        names = ", ".join(s.filename for s in all_stages())
        lines += ["No stage module was found in your submission. Upload the files you wrote "
                  f"({names}): loose, in their stage folders, inside exercises/, or as a .zip.", ""]
    lines.append("Files graded:")
    listed = {r.stage for r in stages} | {s.id for s in pending}
    for stage in [s for s in all_stages() if s.id in listed] or all_stages():
        shown = gathered.graded.get(stage.id)
        lines.append(f"  {stage.id}: {shown}" if shown else f"  {stage.id}: no {stage.filename} found")
    lines += [f"  note: {note}" for note in gathered.notes]
    lines += ["", "Public checks (your results on the hidden checks appear when grades are published):"]
    for result in stages:
        if not result.checks and result.problem:  # not graded at all: say why, and only that
            lines.append(f"  {result.stage}: " + tidy(result.problem).replace("\n", "\n    "))
            continue
        public = [c for c in result.checks if not c.hidden]
        hidden = [c for c in result.checks if c.hidden]
        line = (f"  {result.stage}: {fmt(sum(c.score for c in public))}/{fmt(sum(c.max_score for c in public))}"
                f" points from {len(public)} public checks" if public else f"  {result.stage}: no public checks")
        if hidden:
            line += f"; {len(hidden)} hidden checks worth {fmt(sum(c.max_score for c in hidden))} points"
        lines.append(line)
        if result.problem and result.status == "error":
            lines.append("    " + tidy(result.problem).replace("\n", "\n    "))
    lines += [f"  {stage.id}: not graded" for stage in pending]
    return "\n".join(lines)


def failure_json(message: str, seconds: float) -> dict[str, Any]:
    return {"score": 0.0, "execution_time": round(seconds), "stdout_visibility": "hidden", "tests": [],
            "output": f"{message} This is a problem with the autograder, not a judgement of your code: "
                      "please tell your instructor, who can read the details in the autograder output."}


def write_results(path: Path, data: dict[str, Any]) -> None:
    """Atomically (graders/report/files.py): Gradescope, or a reader racing us, sees the old file
    or the new one. Every string goes through safe_text() first: one file name that is not UTF-8
    must not cost the whole results.json."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(printable_json(data), indent=2, ensure_ascii=False))


def printable_json(data: Any) -> Any:
    if isinstance(data, str):
        return safe_text(data)
    if isinstance(data, dict):
        return {printable_json(k): printable_json(v) for k, v in data.items()}
    if isinstance(data, list):
        return [printable_json(v) for v in data]
    return data


# A private folder of a Gradescope run (graders/packaging/gradescope.py's tcplab-gradescope-…) or of
# graders.batch.coordinator (its job folder too), wherever TMPDIR is, up to where a message may cut a
# long path short ("/tmp/tcplab-batch-12-ab/job-...").
PRIVATE = r"(?:/[^\s'\"/]+)*/tcplab-(?:gradescope|batch)-[\w-]*(?:/job-\w*)?"


def tidier(gathered: Gathered) -> Tidy:
    """Rewrites the grader's private paths in messages: the student's files into the names the
    student used, other files of the graded copy relative to the submission, and the checks'
    scratch folders into "<temporary folder>"."""
    patterns = []
    for stage in all_stages():
        shown = gathered.graded.get(stage.id, f"{stage.id}/{stage.filename}")
        # The graded copy of the stage's module, by any absolute path ending in it or relative
        # to the copy (graders.batch.coordinator may have made it relative already).
        patterns.append((re.compile(r"(?:/[^\s'\"]*/|(?<![\w./-]))" + re.escape(f"{stage.id}/{stage.filename}")),
                         shown))
    patterns.append((re.compile(PRIVATE + "/submission/"), ""))  # another file of the graded copy
    patterns.append((re.compile(PRIVATE), "<temporary folder>"))

    def tidy(text: str) -> str:
        for pattern, shown in patterns:
            text = pattern.sub(lambda m, shown=shown: shown, text)
        return text

    return tidy
