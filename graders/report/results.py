"""One results model — submission → stage → check — and its JSON form (the stable contract), both ways.

Every rendering (text, JSON, Gradescope, feedback, gradebook rows) starts from these.
The JSON form keeps exactly the keys of DESIGN.md's contract and adds only new keys.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

CHECK_STATUSES = ("passed", "failed", "error", "timeout", "skipped")
STAGE_STATUSES = ("passed", "failed", "missing", "error")


@dataclass
class CheckResult:
    id: str
    title: str
    status: str
    score: float
    max_score: float
    hidden: bool
    message: str = ""
    hint: str = ""
    transcript: list[str] = field(default_factory=list)
    seed: int | None = None
    seconds: float = 0.0
    printed: str = ""  # what the check's calls printed (print() debugging), for a check that did not pass

    @property
    def name(self) -> str:
        return self.id.split(".", 1)[1]

    def to_json(self) -> dict[str, Any]:
        data = {
            "id": self.id,
            "status": self.status,
            "score": self.score,
            "max_score": self.max_score,
            "hidden": self.hidden,
            "message": self.message,
            "hint": self.hint,
            "title": self.title,
            "transcript": self.transcript,
            "seconds": round(self.seconds, 3),
        }
        if self.seed is not None:
            data["seed"] = self.seed
        if self.printed:
            data["printed"] = self.printed
        return data


@dataclass
class StageResult:
    stage: str
    title: str
    status: str
    checks: list[CheckResult] = field(default_factory=list)
    problem: str = ""  # why the stage is missing or in error, for a person to read

    @property
    def score(self) -> float:
        return sum(c.score for c in self.checks)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.checks)

    def to_json(self) -> dict[str, Any]:
        data = {
            "stage": self.stage,
            "status": self.status,
            "score": self.score,
            "max_score": self.max_score,
            "checks": [c.to_json() for c in self.checks],
            "title": self.title,
        }
        if self.problem:
            data["problem"] = self.problem
        return data


@dataclass
class SubmissionResult:
    submission: str
    stages: list[StageResult] = field(default_factory=list)
    problem: str = ""  # the submission itself could not be read (a corrupt zip, say)

    @property
    def score(self) -> float:
        return sum(s.score for s in self.stages)

    @property
    def max_score(self) -> float:
        return sum(s.max_score for s in self.stages)

    @property
    def all_passed(self) -> bool:
        return not self.problem and all(s.status == "passed" for s in self.stages)

    def to_json(self) -> dict[str, Any]:
        data = {
            "submission": self.submission,
            "score": self.score,
            "max_score": self.max_score,
            "stages": [s.to_json() for s in self.stages],
        }
        if self.problem:
            data["problem"] = self.problem
        return data


def result_from_json(data: dict[str, Any]) -> SubmissionResult:
    """SubmissionResult.to_json's form back into the model (what a grading child printed).

    Raises KeyError, TypeError or ValueError when `data` is not that form.
    """
    stages = []
    for s in data["stages"]:
        checks = [check_from_json(c) for c in s["checks"]]
        stages.append(StageResult(str(s["stage"]), str(s.get("title", "")), str(s["status"]), checks,
                                  str(s.get("problem", ""))))
    return SubmissionResult(str(data["submission"]), stages, problem=str(data.get("problem", "")))


def check_from_json(c: dict[str, Any]) -> CheckResult:
    """CheckResult.to_json's form back into a CheckResult (KeyError, TypeError or ValueError if it is not)."""
    return CheckResult(
        id=str(c["id"]), title=str(c.get("title", "")), status=str(c["status"]),
        score=float(c["score"]), max_score=float(c["max_score"]), hidden=bool(c["hidden"]),
        message=str(c.get("message", "")), hint=str(c.get("hint", "")),
        transcript=[str(x) for x in c.get("transcript", [])],
        seed=int(c["seed"]) if c.get("seed") is not None else None, seconds=float(c.get("seconds", 0.0)),
        printed=str(c.get("printed", "")),
    )


# Lone surrogates: bytes that are not UTF-8, smuggled into a str (os.fsdecode's surrogateescape,
# a file name on Linux) or made up by student code. No UTF-8 file, SQLite text or terminal takes them.
_SURROGATE = re.compile("[\ud800-\udfff]")


def safe_text(text: str) -> str:
    """`text` as valid UTF-8 that says what it was: an undecodable byte of a name as \\xNN.

    Why: names are bytes on Linux, and Python keeps the ones that are not UTF-8 as lone
    surrogates, which every writer of text (the gradebook, JSON, a terminal) refuses.
    """
    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"

    return _SURROGATE.sub(escape, text)


def rewrite_text(result: SubmissionResult, rewrite: Callable[[str], str]) -> None:
    """Applies `rewrite` to every piece of text of `result` (labels, problems, messages, transcripts)."""
    result.submission = rewrite(result.submission)
    result.problem = rewrite(result.problem)
    for stage in result.stages:
        stage.title, stage.problem = rewrite(stage.title), rewrite(stage.problem)
        for check in stage.checks:
            check.title, check.message, check.hint = rewrite(check.title), rewrite(check.message), rewrite(check.hint)
            check.transcript = [rewrite(line) for line in check.transcript]


def report_json(submissions: list[SubmissionResult]) -> dict[str, Any]:
    return {"submissions": [s.to_json() for s in submissions]}


def stage_status(import_kind: str, checks: list[CheckResult]) -> str:
    if import_kind == "missing":
        return "missing"
    if import_kind in ("syntax", "error"):
        return "error"
    return "passed" if checks and all(c.status == "passed" for c in checks) else "failed"
