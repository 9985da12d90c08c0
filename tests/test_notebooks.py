"""The notebook course: up to date with the checks, runnable, and graded by nbgrader as the scripts are.

The round trip runs nbgrader the way an instructor does, in a temporary copy of
notebooks/: generate_assignment for every stage, autograde three students — one who
submits the source notebooks (the reference solutions: full marks), one who submits the
released notebooks untouched (zero), one with a known bug from the fixture corpus in one
stage (exactly the points `tcplab grade` takes off for it, the rest kept) — then
generate_feedback (no hidden test source in it) and export (the CSV says the same).
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from graders.notebook import BEGIN_HIDDEN, stage_checks, strip_hidden_tests
from graders.stages import all_stages
from tests.corpus import CAUGHT_BY, CORPUS, EXERCISES, as_submission, intended_checks, tcplab

ROOT = Path(__file__).resolve().parent.parent
COURSE = ROOT / "notebooks"
STAGES = list(all_stages())
STAGES_WITH_CHECKS = [s for s in STAGES if stage_checks(s)]
GRADE_CALL = re.compile(r'grade\("(?P<stage>[^"]+)", "(?P<name>[^"]+)"\)')


def notebook(kind: str, stage) -> nbformat.NotebookNode:
    return nbformat.read(COURSE / kind / stage.id / f"{stage.id}.ipynb", as_version=4)


def grade_cells(nb: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade")]


def check_of(cell: nbformat.NotebookNode) -> str:
    """The check a source grade cell runs (hidden ones too: their call is in the source)."""
    found = GRADE_CALL.search(cell.source)
    assert found, cell.source
    return found["name"]


def _errors_of(log: str) -> str:
    """nbgrader's log, from its first traceback or error on (its tail alone only says that
    an assignment failed, not why)."""
    starts = [i for i in (log.find("Traceback"), log.find("| ERROR]")) if i >= 0]
    first = min(starts) if starts else max(0, len(log) - 4000)
    return log[max(0, first - 500):][:8000]


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])  # nbgrader runs `alembic`
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout}\n{_errors_of(done.stderr)}"
    return done


# -- the committed notebooks -----------------------------------------------------------------------------
def test_committed_source_notebooks_are_up_to_date_with_the_checks():
    done = subprocess.run([sys.executable, str(COURSE / "build.py"), "--check"], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr + "\nrun: .venv/bin/python notebooks/build.py"


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.id)
def test_grade_cells_are_the_stage_checks_with_their_points(stage):
    cells = grade_cells(notebook("source", stage))
    checks = stage_checks(stage)
    assert [check_of(c) for c in cells] == [c.spec.name for c in checks]
    for cell, check in zip(cells, checks, strict=True):
        assert cell.metadata.nbgrader["points"] == check.spec.points
        assert (BEGIN_HIDDEN in cell.source) == check.hidden
    assert sum(c.metadata.nbgrader["points"] for c in cells) == sum(c.spec.points for c in checks)


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.id)
def test_released_notebooks_hold_no_solution_and_no_hidden_test(stage):
    released = nbformat.writes(notebook("release", stage))
    assert "BEGIN SOLUTION" not in released and "BEGIN HIDDEN TESTS" not in released
    for check in stage_checks(stage):
        if check.hidden:
            assert f'"{check.spec.name}"' not in released, f"the hidden check {check.spec.name} shows"
    source_answer, released_answer = (answer_cell(notebook(kind, stage)) for kind in ("source", "release"))
    stub = {line.strip() for line in stage.module_path(EXERCISES).read_text("utf-8").splitlines()}
    released_lines = {line.strip() for line in released_answer.splitlines()}
    leaked = [line for line in _solution_lines(source_answer) if line in released_lines and line not in stub]
    assert not leaked, f"solution code in the released answer cell: {leaked[:3]}"
    assert "raise NotImplementedError()" in released_answer


def answer_cell(nb: nbformat.NotebookNode) -> str:
    return next(c.source for c in nb.cells if c.get("metadata", {}).get("nbgrader", {}).get("solution"))


def _solution_lines(source: str) -> list[str]:
    """The distinctive lines between the solution markers (long enough not to occur by chance)."""
    out, inside = [], False
    for line in source.splitlines():
        if "### BEGIN SOLUTION" in line:
            inside = True
        elif "### END SOLUTION" in line:
            inside = False
        elif inside and len(line.strip()) > 30 and not line.strip().startswith("#"):
            out.append(line.strip())
    return out


# -- running them -----------------------------------------------------------------------------------------
def execute(nb: nbformat.NotebookNode, cwd: Path) -> nbformat.NotebookNode:
    NotebookClient(nb, timeout=300, kernel_name="python3", allow_errors=True,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def problems(nb: nbformat.NotebookNode) -> list[str]:
    """Every error and every stderr output of an executed notebook, with the cell that made it."""
    out = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                html = " ".join(o.get("data", {}).get("text/html", "") for o in cell.outputs)
                out.append(f"{cell.source[:120]!r}: {output.ename}: {output.evalue}\n{re.sub('<[^>]+>', ' ', html)[:3000]}")
            elif output.output_type == "stream" and output.name == "stderr":
                out.append(f"{cell.source[:120]!r} wrote to stderr: {output.text[:1000]}")
    return out


@pytest.mark.slow
@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.id)
def test_every_source_notebook_runs_top_to_bottom_without_error(stage, tmp_path):
    nb = execute(notebook("source", stage), tmp_path)
    assert not problems(nb), "\n\n".join(problems(nb))


GRADE_CELL_BUGS = '''
import socket, sys, threading, time, warnings

def create_tcp_socket(family=socket.AF_INET):
    print("a student's debugging line", file=sys.stderr)
    warnings.warn("deprecated, says the student", DeprecationWarning)
    socket.socket()  # dropped without close(): a ResourceWarning when it is collected
    threading.Thread(target=lambda: 1 / 0).start()  # a thread that dies
    raise ValueError("nope")

def describe_socket(sock):
    while True:  # a hang: the check's deadline must end it
        time.sleep(0.01)
'''


@pytest.mark.slow
def test_a_failing_grade_cell_writes_nothing_to_stderr_and_ends_at_its_deadline(tmp_path):
    stage = STAGES[0]
    checks = [c for c in stage_checks(stage, hidden=False)]
    creating = next(c for c in checks if "create_tcp_socket" in c.spec.title)
    describing = next(c for c in checks if "describe_socket" in c.spec.title)
    cells = [nbformat.v4.new_code_cell(GRADE_CELL_BUGS)] + [
        nbformat.v4.new_code_cell(f'from graders.notebook import grade\ngrade("{stage.id}", "{c.spec.name}")')
        for c in (creating, describing)
    ] + [nbformat.v4.new_code_cell("import gc; gc.collect(); print('the kernel is still fine')")]
    nb = nbformat.v4.new_notebook(cells=cells)
    started = time.monotonic()
    execute(nb, tmp_path)
    assert time.monotonic() - started < 60
    for cell in nb.cells[1:3]:
        kinds = [(o.output_type, o.get("name")) for o in cell.outputs]
        assert ("stream", "stderr") not in kinds, cell.outputs
        assert [o.ename for o in cell.outputs if o.output_type == "error"] == ["AssertionError"]
        assert any("text/html" in o.get("data", {}) for o in cell.outputs), "the report is shown"
    report = nb.cells[1].outputs[0].data["text/html"]
    assert "a student&#x27;s debugging line" in report, "stderr is shown inside the report instead"
    assert "did not return within" in nb.cells[2].outputs[0].data["text/html"]
    assert nb.cells[3].outputs[-1].get("text", "").strip() == "the kernel is still fine"
    assert not any(o.get("name") == "stderr" for o in nb.cells[3].outputs)


# -- the nbgrader round trip ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def graded_course(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A copy of the course, released, with three students submitted, autograded, fed back, exported."""
    course = tmp_path_factory.mktemp("course")
    shutil.copy(COURSE / "nbgrader_config.py", course)
    shutil.copytree(COURSE / "source", course / "source")
    nbgrader(course, "generate_assignment", "*", "--force")

    bug_stage, bug_file = _known_bug()
    for stage in STAGES:
        for student, kind in (("complete", "source"), ("untouched", "release"), ("buggy", "source")):
            folder = course / "submitted" / student / stage.id
            folder.mkdir(parents=True)
            nb = nbformat.read(course / kind / stage.id / f"{stage.id}.ipynb", as_version=4)
            if student == "buggy" and stage == bug_stage:
                answer = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution"))
                # without its `Caught by:` line: fixture metadata, which names hidden checks
                answer.source = CAUGHT_BY.sub("", bug_file.read_text("utf-8"))
            nbformat.write(nb, folder / f"{stage.id}.ipynb")
    started = time.monotonic()
    nbgrader(course, "autograde", "*", "--force")
    autograde_seconds = time.monotonic() - started
    nbgrader(course, "generate_feedback", "*", "--force")
    nbgrader(course, "export")
    return {"course": course, "bug_stage": bug_stage, "bug_file": bug_file, "seconds": autograde_seconds}


def _known_bug():
    """The first corpus bug (stage by stage) that a public check catches: its stage and module."""
    for stage in STAGES_WITH_CHECKS:
        public = {c.spec.name for c in stage_checks(stage, hidden=False)}
        for bug in sorted((CORPUS / stage.id).glob("bug_*.py")):
            if public & set(intended_checks(bug)):
                return stage, bug
    pytest.skip("no bug in tests/submissions/ is caught by a public check")


def _cell_scores(course: Path, student: str, stage) -> dict[str, float]:
    """nbgrader's score for each check, by check name (grade cells mapped through the source)."""
    from nbgrader.api import Gradebook

    names = {c.metadata.nbgrader["grade_id"]: check_of(c) for c in grade_cells(notebook("source", stage))}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        submitted = gb.find_submission_notebook(stage.id, stage.id, student)
        return {names[g.name]: g.score for g in submitted.grades if g.name in names}


def test_released_by_nbgrader_as_committed(graded_course):
    for stage in STAGES:
        fresh = (graded_course["course"] / "release" / stage.id / f"{stage.id}.ipynb").read_text("utf-8")
        committed = (COURSE / "release" / stage.id / f"{stage.id}.ipynb").read_text("utf-8")
        assert fresh == committed, f"notebooks/release/{stage.id} is stale: run notebooks/build.py"


def test_the_reference_solutions_get_full_marks(graded_course):
    for stage in STAGES:
        scores = _cell_scores(graded_course["course"], "complete", stage)
        full = {c.spec.name: c.spec.points for c in stage_checks(stage)}
        assert scores == full, stage.id


def test_the_untouched_release_gets_zero(graded_course):
    for stage in STAGES:
        scores = _cell_scores(graded_course["course"], "untouched", stage)
        assert set(scores) == {c.spec.name for c in stage_checks(stage)}
        assert all(score == 0 for score in scores.values()), (stage.id, scores)


def test_a_known_bug_loses_the_points_tcplab_grade_takes_off(graded_course, tmp_path):
    stage, bug_file = graded_course["bug_stage"], graded_course["bug_file"]
    submission = as_submission(tmp_path, stage, bug_file, "script")
    done = tcplab("grade", str(submission), "--stage", stage.id, "--format", "json", "--no-gradebook")
    assert done.returncode == 0, done.stderr
    script = {c["id"].split(".", 1)[1]: c for c in json.loads(done.stdout)["submissions"][0]["stages"][0]["checks"]}
    notebook_scores = _cell_scores(graded_course["course"], "buggy", stage)
    assert any(c["score"] < c["max_score"] for c in script.values()), f"{bug_file.name} loses no points"
    for name, check in script.items():
        if check["status"] == "skipped":
            continue  # a skipped check runs in a notebook (each grade cell stands alone): either score
        assert notebook_scores[name] == check["score"], (name, check["status"], check["message"][:300])
    for other in STAGES:
        if other != stage:
            assert _cell_scores(graded_course["course"], "buggy", other) == \
                {c.spec.name: c.spec.points for c in stage_checks(other)}, other.id


def test_feedback_shows_no_hidden_test_source(graded_course):
    feedback = graded_course["course"] / "feedback"
    pages = sorted(feedback.rglob("*.html"))
    assert len(pages) == 3 * len(STAGES)
    hidden_names = {c.spec.name for s in STAGES for c in stage_checks(s) if c.hidden}
    hidden_sources = {line.strip() for s in STAGES for c in stage_checks(s) if c.hidden
                      for line in c.path.read_text("utf-8").splitlines() if len(line.strip()) > 40}
    for page in pages:
        text = page.read_text("utf-8")
        assert "BEGIN HIDDEN TESTS" not in text, page
        for name in hidden_names:
            assert name not in text, f"{page}: shows the hidden check {name}"
        for line in hidden_sources:
            assert line not in text, f"{page}: quotes hidden check source {line!r}"
    buggy = (feedback / "buggy" / graded_course["bug_stage"].id).rglob("*.html")
    assert any("Hint:" in page.read_text("utf-8") for page in buggy), "a failed check explains itself"


def test_the_exported_csv_has_every_student_and_stage(graded_course):
    with open(graded_course["course"] / "grades.csv", newline="") as f:
        rows = {(r["student_id"], r["assignment"]): r for r in csv.DictReader(f)}
    assert len(rows) == 3 * len(STAGES)
    for stage in STAGES:
        total = sum(c.spec.points for c in stage_checks(stage))
        assert float(rows["complete", stage.id]["raw_score"]) == total
        assert float(rows["complete", stage.id]["max_score"]) == total
        assert float(rows["untouched", stage.id]["raw_score"]) == 0
        buggy = float(rows["buggy", stage.id]["raw_score"])
        assert (buggy < total) if stage == graded_course["bug_stage"] else (buggy == total), stage.id


def test_strip_hidden_tests_keeps_the_summary_and_drops_the_source():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f'# A hidden check\n{BEGIN_HIDDEN}\ngrade("01_create_socket", "secret_name")\n### END HIDDEN TESTS')])
    nb.cells[0].outputs = [nbformat.v4.new_output(
        "error", ename="AssertionError", evalue="1 check(s) did not pass — hidden check: a title",
        traceback=['----> 3 grade("01_create_socket", "secret_name")', "AssertionError: ..."])]
    text = nbformat.writes(strip_hidden_tests(nb))
    assert "secret_name" not in text and "BEGIN HIDDEN" not in text
    assert "hidden check: a title" in text
