"""`tcplab export`: the gradebook as a CSV of grades and as one feedback file per student.

Both read each student's latest graded submission. Every file is written atomically
(graders/report/files.py): a reader never sees half a file, and an interrupted export
leaves the previous one intact.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from graders.batch.gradebook import Gradebook, GradedSubmission
from graders.report.feedback import render_feedback_html, render_feedback_markdown
from graders.report.files import write_atomically
from graders.stages import all_stages


def stage_columns(graded: list[GradedSubmission]) -> list[str]:
    """Every stage of the course, in order, then any stage only the gradebook knows."""
    known = [s.id for s in all_stages()]
    extra = sorted({st.stage for g in graded for st in g.result.stages} - set(known))
    return known + extra


# A cell a spreadsheet would take for a formula (OWASP, "CSV injection"): a student id such as
# =HYPERLINK(...) must be shown as text, never run.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralised(cell: str) -> str:
    """`cell`, prefixed with a single quote when it starts like a formula.

    A carriage return is shown as \\r: Python's csv module leaves it unquoted with our "\\n"
    line ends, and a reader would then split the row there.
    """
    cell = "'" + cell if cell.startswith(FORMULA_START) else cell
    return cell.replace("\r", "\\r")


def grades_csv(graded: list[GradedSubmission]) -> str:
    """One row per student: each stage's score (empty when not graded), the total, the maximum.

    Every cell is neutralised: ids, labels and problems come from students.
    """
    columns = stage_columns(graded)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["student", *columns, "total", "max_score", "submission", "graded_at", "problem"])
    for g in graded:
        # A student never graded (the grader failed every time) has no scores, not zeros.
        scores = {st.stage: st.score for st in g.result.stages} if g.status == "graded" else {}
        total = f"{g.result.score:g}" if g.status == "graded" else ""
        writer.writerow(map(neutralised, [
            g.student,
            *[f"{scores[c]:g}" if c in scores else "" for c in columns],
            total, f"{g.result.max_score:g}", g.label, g.graded_at,
            " ".join(" — ".join(filter(None, [g.note, g.result.problem])).split()),
        ]))
    return out.getvalue()


def export_csv(gradebook: Gradebook, path: Path) -> int:
    graded = gradebook.latest_per_student()
    write_atomically(path, grades_csv(graded))
    return len(graded)


_UNSAFE = re.compile(r"[^A-Za-z0-9._@+-]")


def file_stem(student: str, taken: set[str]) -> str:
    """A file name for a student id: no separators, no leading dot, no collision."""
    stem = _UNSAFE.sub("_", student).lstrip(".") or "student"
    stem = stem[:120]
    candidate, n = stem, 2
    while candidate.lower() in taken:
        candidate, n = f"{stem}-{n}", n + 1
    taken.add(candidate.lower())
    return candidate


def export_feedback(gradebook: Gradebook, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    taken: set[str] = set()
    for g in gradebook.latest_per_student():
        stem = file_stem(g.student, taken)
        md, page = folder / f"{stem}.md", folder / f"{stem}.html"
        write_atomically(md, render_feedback_markdown(g.result, student=g.student))
        write_atomically(page, render_feedback_html(g.result, student=g.student))
        written += [md, page]
    return written
