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
import importlib.util
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

import graders.notebook.cells as cells_module
import graders.notebook.hints as hints_module
from graders.notebook import BEGIN_HIDDEN, hint, run_every_check, stage_checks, strip_hidden_tests
from graders.notebook.hints import forget_hints
from graders.report.notebook_html import STYLE, render_html
from graders.report.results import CheckResult
from graders.stages import all_stages, find_stage
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


def load_build():
    """notebooks/build.py as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location("tcplab_notebooks_build", COURSE / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("kind", ["source", "release"])
@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.id)
def test_a_notebook_says_what_to_do_in_the_notebook(stage, kind):
    nb = notebook(kind, stage)
    build = load_build()
    sent_away = [(index, words) for index, cell in enumerate(nb.cells)
                 for words in build.terminal_words(cell.source, stage)]
    assert not sent_away, (f"cells that send the learner to a file, a command or a terminal: {sent_away} "
                           "(say it the notebook's way in notebooks/build.py's NOTEBOOK_WORDS)")
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    assert f'run_every_check("{stage.id}")' in by_id["run-every-check"].source
    assert f'hint("{stage.id}")' in by_id["hints"].source
    for cell_id in ("run-every-check", "hints"):  # no grade of their own: the check cells are the grade
        assert not by_id[cell_id].metadata.nbgrader["grade"], cell_id


def test_every_name_a_released_notebook_imports_from_graders_exists():
    import graders.notebook

    imported = set()
    for stage in STAGES:
        for cell in notebook("release", stage).cells:
            for names in re.findall(r"^from graders\.notebook import (.+)$", cell.source, re.M):
                imported |= {n.strip() for n in names.split(",")}
    assert {"grade", "run_every_check", "hint"} <= imported
    assert all(callable(getattr(graders.notebook, name, None)) for name in imported), imported


def _hint_shown(monkeypatch) -> list[str]:
    shown: list[str] = []
    monkeypatch.setattr(hints_module, "show_html", shown.append)
    forget_hints()
    return shown


def test_the_hint_cell_gives_one_hint_more_each_run_and_every_hint_when_asked(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    shown = _hint_shown(monkeypatch)
    stage = find_stage("04_send_recv")
    count = len(stage.hints)
    assert count >= 3, "stage 04 needs hints for this test"
    hint(stage.id)
    assert f"Hint 1 of {count}" in shown[-1] and "Hint 2" not in shown[-1]
    assert "Run this cell again for hint 2" in shown[-1]
    hint("4")  # a number names the stage too, and the count is the stage's, not the spelling's
    assert f"Hint 2 of {count}" in shown[-1] and "Hint 3" not in shown[-1]
    assert 'class="hint dim"><strong>Hint 1' in shown[-1], "the hint seen before is dimmed"
    hint(stage.id, every=True)
    assert all(f"Hint {n} of {count}" in shown[-1] for n in range(1, count + 1))
    assert "That is every hint" in shown[-1]
    for _ in range(count + 2):  # past the last one it stays at the last one
        hint(stage.id)
    assert f"Hint {count} of {count}" in shown[-1]
    forget_hints()
    hint(stage.id)
    assert "Hint 2" not in shown[-1]


def test_while_nbgrader_runs_the_notebook_no_hint_is_given_and_no_check_runs_twice(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    shown = _hint_shown(monkeypatch)
    hint("04_send_recv")
    assert "Hint 1" not in shown[-1] and "while your notebook is graded" in shown[-1]
    ran: list[object] = []
    monkeypatch.setattr(cells_module, "run_checks", lambda *a, **k: ran.append(a) or [])
    monkeypatch.setattr(cells_module, "show_html", shown.append)
    run_every_check("04_send_recv", namespace={})
    assert not ran and "while your notebook is graded" in shown[-1]


def _result(name: str, status: str, points: float = 1.0, **details) -> CheckResult:
    return CheckResult(id=f"04_send_recv.{name}", title=f"the check {name}", status=status,
                       score=points if status == "passed" else 0.0, max_score=points, hidden=False, **details)


def test_a_whole_stage_report_shows_the_first_failure_in_full_and_the_rest_one_line_each():
    results = [_result("one", "passed"),
               _result("two", "failed", 2, message="expected 2000 bytes, got 4", transcript=["peer received 4 bytes"],
                       hint="loop `while view:`"),
               _result("three", "failed", message="the second failure's message", hint="the second hint"),
               _result("four", "skipped", message="skipped: it needs “the check two”, which did not pass")]
    markup = render_html(results, focus=True)
    assert "1 of 4 checks passed" in markup and "[1/5 points]" in markup
    for r in results:
        assert r.title in markup, r.title
    assert "expected 2000 bytes, got 4" in markup and "peer received 4 bytes" in markup
    assert "<code>while view:</code>" in markup, "a hint's `code` is shown as code"
    assert "the second failure" not in markup and "the second hint" not in markup, "one failure in full only"
    assert "which did not pass" in markup, "a skipped check says why"
    assert markup.count("in full below") == 1
    everything = render_html(results[1:3])  # one cell's report: each check in full
    assert "the second failure" in everything


def _css_rules(style: str) -> list[tuple[str, dict[str, str]]]:
    body = re.sub(r"</?style>", "", style)
    rules = []
    for selector, declarations in re.findall(r"([^{}]+)\{([^{}]*)\}", body):
        props = dict(d.split(":", 1) for d in declarations.replace("\n", "").split(";") if ":" in d)
        rules.append((selector.strip(), {k.strip(): v.strip() for k, v in props.items()}))
    return rules


def test_the_report_reads_in_a_light_and_a_dark_theme_and_shows_the_wire_in_monospace():
    """No colour for one theme only: each is a JupyterLab theme variable whose fallback reads on any
    background (text: the surrounding colour; boxes: translucent); a status colour only for marks
    and borders. Transcripts and hex dumps (in <pre>) are monospace."""
    rules = _css_rules(STYLE)
    assert rules
    for selector, props in rules:
        for prop, value in props.items():
            if prop == "color" and ".mark" not in selector:
                assert re.fullmatch(r"var\(--jp-[\w-]+,\s*currentColor\)|inherit|currentColor", value), (selector, value)
            if prop.startswith("background"):
                fallback = re.fullmatch(r"var\(--jp-[\w-]+,\s*(rgba\([^)]*,\s*(0?\.\d+)\)|transparent)\)", value)
                assert fallback, f"{selector} {{{prop}: {value}}}: a theme variable with a translucent fallback"
            for literal in re.finditer(r"#[0-9a-fA-F]{3,8}\b|rgba?\(", value):
                before = value[:literal.start()]
                assert re.search(r"var\(--jp-[\w-]+,\s*$", before), \
                    f"{selector} {{{prop}: {value}}}: a colour only as a theme variable's fallback"
    pre = next(props for selector, props in rules if selector.split(",")[0].strip() == ".tcplab pre")
    assert "monospace" in pre["font-family"]


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
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert [o.ename for o in errors] == ["CheckFailed"], "an error output: the cell failed, for nbgrader too"
        assert len(errors[0].traceback) <= 2, f"one line, not a traceback as tall as the report: {errors[0].traceback}"
        assert "Traceback" not in "".join(errors[0].traceback) and "cells.py" not in "".join(errors[0].traceback)
        assert "did not pass" in errors[0].traceback[0]
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


def test_a_failed_grade_cell_is_one_line_of_error_and_nbgrader_gives_it_zero(graded_course):
    course = graded_course["course"]
    for stage in STAGES_WITH_CHECKS:
        autograded = nbformat.read(course / "autograded" / "untouched" / stage.id / f"{stage.id}.ipynb", as_version=4)
        scores = _cell_scores(course, "untouched", stage)
        graded = grade_cells(autograded)
        assert graded and len(graded) == len(scores)
        for cell in graded:
            errors = [o for o in cell.outputs if o.output_type == "error"]
            assert [o.ename for o in errors] == ["CheckFailed"], (stage.id, cell.metadata.nbgrader["grade_id"])
            assert len(errors[0].traceback) <= 2, errors[0].traceback
        assert set(scores.values()) == {0}, (stage.id, scores)
        overview = next(c for c in autograded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "run-every-check")
        assert not [o for o in overview.outputs if o.output_type == "error"], "the overview cell never fails"
        page = (course / "feedback" / "untouched" / stage.id / f"{stage.id}.html").read_text("utf-8")
        assert "Traceback (most recent call last)" not in page and "cells.py" not in page, stage.id


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
