"""The gradebook keeps every graded submission whole: one transaction each, read back exactly."""

from __future__ import annotations

import os
import sqlite3

import pytest

from graders.batch.gradebook import Gradebook, GradebookError
from graders.report.results import CheckResult, StageResult, SubmissionResult
from tests.corpus import tcplab


def a_result(label: str = "class/alice", score: float = 1.0) -> SubmissionResult:
    checks = [
        CheckResult("01_create_socket.creates_ipv4_tcp_socket", "creates a socket", "passed", score, 1.0, False),
        CheckResult("01_create_socket.hidden_one", "a hidden check", "failed", 0.0, 2.0, True,
                    message="expected b'ab', got b'a'", hint="loop", transcript=["0.1 ms grader sent 2 bytes"],
                    seed=1234, seconds=0.25),
    ]
    return SubmissionResult(label, [StageResult("01_create_socket", "Create a socket", "failed", checks)])


def test_a_recorded_submission_reads_back_exactly(tmp_path):
    with Gradebook(tmp_path / "gb.db") as gb:
        sub_id = gb.record(student="alice", result=a_result(), content_hash="h1", grading_key="k",
                           stages=["01_create_socket"], status="graded", seconds=1.5)
        graded = gb.load(sub_id)
    assert graded.student == "alice" and graded.content_hash == "h1" and graded.status == "graded"
    assert graded.result.to_json() == a_result().to_json()


def test_a_write_that_fails_half_way_leaves_nothing_behind(tmp_path):
    broken = a_result()
    broken.stages[0].checks[1].seconds = object()  # SQLite refuses it after the first rows are written
    with Gradebook(tmp_path / "gb.db") as gb:
        gb.record(student="bob", result=a_result("class/bob"), content_hash="h0", grading_key="k",
                  stages=["01_create_socket"], status="graded", seconds=1.0)
        before = gb.counts()
        with pytest.raises(sqlite3.Error):
            gb.record(student="alice", result=broken, content_hash="h1", grading_key="k",
                      stages=["01_create_socket"], status="graded", seconds=1.0)
        assert gb.counts() == before
        assert gb.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_only_a_graded_row_with_the_same_content_and_checks_counts_as_already_graded(tmp_path):
    with Gradebook(tmp_path / "gb.db") as gb:
        graded = gb.record(student="alice", result=a_result(), content_hash="h1", grading_key="k",
                           stages=["01_create_socket"], status="graded", seconds=1.0)
        gb.record(student="carol", result=a_result("class/carol"), content_hash="h1", grading_key="k",
                  stages=["01_create_socket"], status="error", seconds=1.0)
        assert gb.find_graded("alice", "h1", "k") == graded
        assert gb.find_graded("alice", "h2", "k") is None  # the student changed the code
        assert gb.find_graded("alice", "h1", "other checks") is None  # the checks changed
        assert gb.find_graded("carol", "h1", "k") is None  # the grader failed: try again


def test_the_latest_graded_submission_of_each_student_is_the_one_that_counts(tmp_path):
    with Gradebook(tmp_path / "gb.db") as gb:
        for score in (0.0, 1.0):
            gb.record(student="alice", result=a_result(score=score), content_hash=f"h{score}", grading_key="k",
                      stages=["01_create_socket"], status="graded", seconds=1.0)
        gb.record(student="alice", result=a_result(score=0.0), content_hash="h9", grading_key="k",
                  stages=["01_create_socket"], status="error", seconds=1.0)
        gb.record(student="bob", result=a_result("class/bob"), content_hash="h", grading_key="k",
                  stages=["01_create_socket"], status="graded", seconds=1.0)
        gb.record(student="carol", result=a_result("class/carol"), content_hash="h", grading_key="k",
                  stages=["01_create_socket"], status="error", seconds=1.0)
        latest = {g.student: g for g in gb.latest_per_student()}
    assert sorted(latest) == ["alice", "bob", "carol"]
    assert latest["alice"].result.score == 1.0  # the later error does not erase the grade...
    assert "a later submission" in latest["alice"].note  # ...but the instructor is told
    assert latest["bob"].note == ""
    assert latest["carol"].status == "error" and latest["carol"].note.startswith("could not be graded")


def test_the_gradebook_uses_write_ahead_logging(tmp_path):
    Gradebook(tmp_path / "gb.db").close()
    db = sqlite3.connect(tmp_path / "gb.db")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables >= {"students", "submissions", "stage_results", "check_results"}


def test_a_file_that_is_not_a_gradebook_is_refused_clearly(tmp_path):
    (tmp_path / "notes.txt").write_text("not a database, just notes\n" * 100)
    with pytest.raises(GradebookError):
        Gradebook(tmp_path / "notes.txt")
    done = tcplab("grade", str(tmp_path), "--stage", "1", "--gradebook", str(tmp_path / "notes.txt"))
    assert done.returncode == 2
    assert "not a tcplab gradebook" in done.stderr and "Traceback" not in done.stderr
    assert (tmp_path / "notes.txt").read_text().startswith("not a database")


def test_export_needs_an_existing_gradebook(tmp_path):
    done = tcplab("export", "--gradebook", str(tmp_path / "missing.db"), "--csv", str(tmp_path / "g.csv"))
    assert done.returncode == 2 and "no gradebook" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "missing.db").exists() and not (tmp_path / "g.csv").exists()


def test_names_that_are_not_utf8_are_stored_escaped_not_refused(tmp_path):
    """Protection: Gradebook.record stores text through results.safe_text (lone surrogates escaped)."""
    student = os.fsdecode(b"caf\xe9")  # a folder name in Latin-1, as Linux hands it to Python
    result = a_result(os.fsdecode(b"class/caf\xe9"))
    result.stages[0].checks[1].message = os.fsdecode(b"open('notes-\xff.txt') failed")
    with Gradebook(tmp_path / "gb.db") as gb:
        graded = gb.load(gb.record(student=student, result=result, content_hash="h", grading_key="k",
                                   stages=["01_create_socket"], status="graded", seconds=1.0))
    assert graded.student == "caf\\xe9" and graded.label == "class/caf\\xe9"
    assert graded.result.stages[0].checks[1].message == "open('notes-\\xff.txt') failed"
    assert result.submission == os.fsdecode(b"class/caf\xe9")  # the caller's result is left as it was
