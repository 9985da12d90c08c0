"""`tcplab export`: the CSV of grades and the per-student feedback, from a graded class."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

import pytest

from graders.stages import HIDDEN, all_stages
from tests.corpus import CORPUS, EXERCISES, SOLUTIONS, intended_checks, tcplab

STAGE = all_stages()[0]
SOLUTION = (SOLUTIONS / STAGE.id / STAGE.filename).read_text()
STUB = (EXERCISES / STAGE.id / STAGE.filename).read_text()
HOSTILE_MESSAGE = '<script>alert("x")</script> & **bold** `tick`'


def hidden_names(stage=STAGE) -> set[str]:
    return {m.group(1) for f in (HIDDEN / stage.id).glob("test_*.py")
            for m in re.finditer(r"^def test_(\w+)", f.read_text(), re.MULTILINE)}


def bug_caught_by_a_hidden_check() -> Path | None:
    """A corpus module whose bug a hidden check of stage 1 is meant to catch (if any exists yet)."""
    for path in sorted((CORPUS / STAGE.id).glob("bug_*.py")):
        if set(intended_checks(path)) & hidden_names():
            return path
    return None


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("export")
    klass = tmp / "class"
    sources = {"alice": SOLUTION, "bob": STUB,
               "mallory": SOLUTION.replace("def describe_socket(sock", "def describe_socket(sock, *_):\n"
                                           f"    raise RuntimeError({HOSTILE_MESSAGE!r})\n\ndef _was(sock")}
    bug = bug_caught_by_a_hidden_check()
    if bug is not None:
        sources["carol"] = bug.read_text()
    for name, source in sources.items():
        (klass / name / STAGE.id).mkdir(parents=True)
        (klass / name / STAGE.id / STAGE.filename).write_text(source)
    gb = tmp / "gb.db"
    done = tcplab("grade", str(klass), "--stage", STAGE.id, "--gradebook", str(gb), "--jobs", "2")
    assert done.returncode == 0, done.stderr
    results = {s["student"]: s for s in json.loads(done.stdout)["submissions"]}
    (tmp / "feedback").mkdir()
    (tmp / "feedback" / "alice.md").write_text("an old export, to be replaced")
    done = tcplab("export", "--gradebook", str(gb), "--csv", str(tmp / "grades.csv"), "--feedback", str(tmp / "feedback"))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    return {"tmp": tmp, "results": results, "gb": gb, "stdout": done.stdout}


def test_the_csv_has_a_row_per_student_a_column_per_stage_and_the_total(exported):
    with open(exported["tmp"] / "grades.csv", newline="") as f:
        rows = {r["student"]: r for r in csv.DictReader(f)}
    assert set(rows) == set(exported["results"])
    header = list(next(iter(rows.values())))
    assert header[1:1 + len(all_stages())] == [s.id for s in all_stages()]
    for name, result in exported["results"].items():
        assert float(rows[name][STAGE.id]) == result["stages"][0]["score"]
        assert float(rows[name]["total"]) == result["score"]
        assert float(rows[name]["max_score"]) == result["max_score"]
        assert rows[name][all_stages()[-1].id] == ""  # not graded this time


def test_each_student_gets_markdown_and_html_with_every_check(exported):
    folder = exported["tmp"] / "feedback"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{n}.{ext}" for n in exported["results"] for ext in ("md", "html"))
    for name, result in exported["results"].items():
        md = (folder / f"{name}.md").read_text()
        page = (folder / f"{name}.html").read_text()
        assert f"{result['score']:g} / {result['max_score']:g}" in md
        for check in result["stages"][0]["checks"]:
            assert check["title"] in md
            if check["status"] not in ("passed", "skipped") and not check["hidden"] and check["hint"]:
                assert check["hint"] in md
        assert page.startswith("<!DOCTYPE html>") and "</html>" in page
    assert "an old export" not in (folder / "alice.md").read_text()


def test_hidden_checks_show_their_name_and_score_but_never_their_message(exported):
    folder = exported["tmp"] / "feedback"
    hidden_failures = [(name, c) for name, r in exported["results"].items() for c in r["stages"][0]["checks"]
                       if c["hidden"] and c["status"] == "failed" and c["message"]]
    if not hidden_failures:
        pytest.skip("no corpus module fails a hidden check of stage 1 yet")
    for name, check in hidden_failures:
        md = (folder / f"{name}.md").read_text()
        assert check["title"] in md
        first_line = check["message"].splitlines()[0]
        public = [c["message"] for c in exported["results"][name]["stages"][0]["checks"] if not c["hidden"]]
        if any(first_line in m for m in public):
            continue  # a public check said the same thing (a stub's "not implemented yet")
        assert first_line not in md and first_line not in (folder / f"{name}.html").read_text()
    for path in folder.iterdir():
        assert "def test_" not in path.read_text() and "@check" not in path.read_text()


def test_student_text_is_escaped_in_html(exported):
    page = (exported["tmp"] / "feedback" / "mallory.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_exports_are_whole_files_with_no_leftovers(exported):
    tmp = exported["tmp"]
    assert not [p for p in tmp.rglob("*") if p.name.endswith(".tmp")]
    first = (tmp / "grades.csv").read_text()
    done = tcplab("export", "--gradebook", str(exported["gb"]), "--csv", str(tmp / "grades.csv"))
    assert done.returncode == 0 and (tmp / "grades.csv").read_text() == first


def test_bad_export_requests_are_explained(exported, tmp_path):
    gb = str(exported["gb"])
    for args, message in [((), "say what to export"),
                          (("--csv", str(tmp_path / "no" / "grades.csv")), "not a directory"),
                          (("--feedback", str(exported["tmp"] / "grades.csv")), "is not a directory")]:
        done = tcplab("export", "--gradebook", gb, *args)
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_cells_that_look_like_formulas_are_neutralised_in_the_csv():
    """Protection: export.neutralised on every cell (OWASP: a leading single quote)."""
    from graders.batch.export import grades_csv
    from graders.batch.gradebook import GradedSubmission
    from graders.report.results import StageResult, SubmissionResult

    hostile = ["=HYPERLINK(\"http://evil\",\"x\")", "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR"]
    graded = [GradedSubmission(i, name, f"={name}", "h", "graded", "2024-01-01", 1.0,
                               SubmissionResult(name, [StageResult(STAGE.id, STAGE.title, "passed", [])],
                                                problem=f"-{name}"))
              for i, name in enumerate(hostile)]
    graded.append(GradedSubmission(9, "alice", "class/alice", "h", "graded", "2024-01-01", 1.0,
                                   SubmissionResult("class/alice", [StageResult(STAGE.id, STAGE.title, "passed", [])])))
    rows = list(csv.DictReader(io.StringIO(grades_csv(graded))))
    assert len(rows) == len(graded)  # a carriage return splits no row
    for row, name in zip(rows, hostile, strict=False):
        assert row["student"] == "'" + name.replace("\r", "\\r")
        assert row["submission"].startswith("'=") and row["problem"].startswith("'-")
    assert rows[-1]["student"] == "alice" and rows[-1]["submission"] == "class/alice"  # the rest as it was
    assert rows[-1]["total"] == "0" and rows[-1]["problem"] == ""


def test_what_the_code_printed_is_in_feedback_files_and_gradescope_output():
    # A student debugging with print() sees it in every report of a check that did not pass.
    from graders.report.feedback import render_feedback_html, render_feedback_markdown
    from graders.report.gradescope_json import check_test
    from graders.report.results import CheckResult, StageResult, SubmissionResult

    check = CheckResult(id=f"{STAGE.id}.some_check", title="some check", status="failed", score=0, max_score=1,
                        hidden=False, message="expected 1, got 2", printed="debug: x = 2\n")
    result = SubmissionResult("alice", [StageResult(STAGE.id, STAGE.title, "failed", [check])])
    assert "What your code printed" in render_feedback_markdown(result) and "debug: x = 2" in render_feedback_markdown(result)
    assert "debug: x = 2" in render_feedback_html(result)
    assert "What your code printed:\ndebug: x = 2" in check_test(STAGE, 1, check, lambda text: text)["output"]
