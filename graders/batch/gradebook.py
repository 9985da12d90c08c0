"""The gradebook: every graded submission, kept in SQLite.

Rules this module keeps:
1. One submission is written in one transaction (its row, its stage rows, its check rows),
   so a crash mid-batch loses nothing already committed and never leaves half a submission.
2. A submission is "already graded" when a row with the same student, the same content
   hash and the same grading key (the checks, the stages, the seed) has status 'graded'.
   A row with status 'error' (the grader, not the student, failed) is retried next run.
3. Only the coordinator process opens the gradebook; grading children and the student
   code they run never see its path (see graders/batch/lockdown.py).
WAL mode lets `tcplab export` read while a batch writes.
"""

from __future__ import annotations

import copy
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from graders.report.results import (
    CheckResult,
    StageResult,
    SubmissionResult,
    rewrite_text,
    safe_text,
)

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS students (
    id TEXT PRIMARY KEY,
    first_seen TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    student TEXT NOT NULL REFERENCES students(id),
    label TEXT NOT NULL,            -- the path as the instructor gave it
    content_hash TEXT NOT NULL,     -- sha256 over the graded files (names and bytes)
    grading_key TEXT NOT NULL,      -- what grading means this time: checks, stages, seed
    stages TEXT NOT NULL,           -- the stage ids graded, comma-separated
    status TEXT NOT NULL CHECK (status IN ('graded', 'error')),
    problem TEXT NOT NULL DEFAULT '',
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    graded_at TEXT NOT NULL,
    seconds REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS submissions_lookup ON submissions (student, content_hash, grading_key);
CREATE TABLE IF NOT EXISTS stage_results (
    submission_id INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    stage TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    problem TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (submission_id, stage)
);
CREATE TABLE IF NOT EXISTS check_results (
    submission_id INTEGER NOT NULL REFERENCES submissions(id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    position INTEGER NOT NULL,
    check_id TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    score REAL NOT NULL,
    max_score REAL NOT NULL,
    hidden INTEGER NOT NULL,
    message TEXT NOT NULL,
    hint TEXT NOT NULL,
    transcript TEXT NOT NULL,       -- JSON list of lines
    seed INTEGER,
    seconds REAL NOT NULL,
    PRIMARY KEY (submission_id, check_id)
);
"""

# Why 30 s: `tcplab export` or a second batch may hold the write lock for a moment;
# waiting is right, failing is not.
BUSY_TIMEOUT_MS = 30_000


class GradebookError(Exception):
    """The gradebook cannot be opened or is not a tcplab gradebook; the message says why."""


@dataclass
class GradedSubmission:
    """One row of `submissions`, with its results."""

    id: int
    student: str
    label: str
    content_hash: str
    status: str
    graded_at: str
    seconds: float
    result: SubmissionResult
    note: str = ""  # for the instructor: a later submission that could not be graded


class Gradebook:
    def __init__(self, path: str | Path, *, create: bool = True) -> None:
        self.path = Path(path)
        if not create and not self.path.is_file():
            raise GradebookError(f"there is no gradebook at {self.path} (run `tcplab grade` first)")
        if create and not self.path.parent.is_dir():
            raise GradebookError(f"cannot create {self.path}: {self.path.parent} is not a directory")
        try:
            self.db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
            self.db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: durable at commit boundaries
            self.db.execute("PRAGMA foreign_keys = ON")
            if create:
                self.db.executescript(SCHEMA)
                self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            version = self.db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise GradebookError(f"{self.path} is not a tcplab gradebook ({exc})") from exc
        if version is None or int(version[0]) != SCHEMA_VERSION:
            raise GradebookError(f"{self.path} was written by another version of tcplab (schema {version})")

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Gradebook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------------
    def find_graded(self, student: str, content_hash: str, grading_key: str) -> int | None:
        """The newest submission already graded with this content and these checks, if any."""
        row = self.db.execute(
            "SELECT id FROM submissions WHERE student = ? AND content_hash = ? AND grading_key = ? "
            "AND status = 'graded' ORDER BY id DESC LIMIT 1",
            (student, content_hash, grading_key),
        ).fetchone()
        return int(row[0]) if row else None

    def load(self, submission_id: int) -> GradedSubmission:
        row = self.db.execute(
            "SELECT id, student, label, content_hash, status, graded_at, seconds, problem "
            "FROM submissions WHERE id = ?", (submission_id,),
        ).fetchone()
        if row is None:
            raise KeyError(submission_id)
        stages = []
        for stage_row in self.db.execute(
            "SELECT stage, title, status, problem FROM stage_results WHERE submission_id = ? ORDER BY position",
            (submission_id,),
        ).fetchall():
            checks = [
                CheckResult(id=c[0], title=c[1], status=c[2], score=c[3], max_score=c[4], hidden=bool(c[5]),
                            message=c[6], hint=c[7], transcript=json.loads(c[8]), seed=c[9], seconds=c[10])
                for c in self.db.execute(
                    "SELECT check_id, title, status, score, max_score, hidden, message, hint, transcript, "
                    "seed, seconds FROM check_results WHERE submission_id = ? AND stage = ? ORDER BY position",
                    (submission_id, stage_row[0]),
                )
            ]
            stages.append(StageResult(stage_row[0], stage_row[1], stage_row[2], checks, stage_row[3]))
        result = SubmissionResult(row[2], stages, problem=row[7])
        return GradedSubmission(row[0], row[1], row[2], row[3], row[4], row[5], row[6], result)

    def latest_per_student(self) -> list[GradedSubmission]:
        """Each student's latest graded submission; a grader error is not a grade, but it is noted.

        A student whose later submission could not be graded keeps the earlier grade, with a
        note saying so; a student never graded at all is listed with the error.
        """
        out = []
        rows = self.db.execute(
            "SELECT student, MAX(CASE WHEN status = 'graded' THEN id END), MAX(id) "
            "FROM submissions GROUP BY student ORDER BY student"
        ).fetchall()
        for _, graded_id, latest_id in rows:
            graded = self.load(int(graded_id if graded_id is not None else latest_id))
            if graded_id is None or latest_id > graded_id:
                error = self.load(int(latest_id))
                why = (error.result.problem or "the grader failed").splitlines()[0]
                graded.note = (f"could not be graded: {why}" if graded_id is None else
                               f"a later submission ({error.graded_at}) could not be graded: {why}")
            out.append(graded)
        return out

    def counts(self) -> dict[str, int]:
        return {
            table: int(self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
            for table in ("students", "submissions", "stage_results", "check_results")
        }

    # -- writing -----------------------------------------------------------------------------
    def record(self, *, student: str, result: SubmissionResult, content_hash: str, grading_key: str,
               stages: list[str], status: str, seconds: float) -> int:
        """Writes one graded submission in one transaction; returns its id.

        Text is stored as valid UTF-8 whatever it held (results.safe_text): SQLite refuses the
        lone surrogates of a non-UTF-8 name, and that must not stop a batch mid-way.
        """
        now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        student = safe_text(student)
        result = copy.deepcopy(result)
        rewrite_text(result, safe_text)
        cur = self.db.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            cur.execute("INSERT OR IGNORE INTO students (id, first_seen) VALUES (?, ?)", (student, now))
            cur.execute(
                "INSERT INTO submissions (student, label, content_hash, grading_key, stages, status, problem, "
                "score, max_score, graded_at, seconds) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (student, result.submission, content_hash, grading_key, ",".join(stages), status,
                 result.problem, result.score, result.max_score, now, seconds),
            )
            sub_id = int(cur.lastrowid or 0)
            for position, stage in enumerate(result.stages):
                cur.execute(
                    "INSERT INTO stage_results VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (sub_id, position, stage.stage, stage.title, stage.status, stage.score,
                     stage.max_score, stage.problem),
                )
                cur.executemany(
                    "INSERT OR REPLACE INTO check_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(sub_id, stage.stage, i, c.id, c.title, c.status, c.score, c.max_score, int(c.hidden),
                      c.message, c.hint, json.dumps(c.transcript), c.seed, c.seconds)
                     for i, c in enumerate(stage.checks)],
                )
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        return sub_id
