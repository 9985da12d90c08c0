"""Intake: which arguments are submissions, and the private copy each one is graded from.

A submission's stage folders are copied (regular files only: links are never followed
out of a submission, size-capped) into a folder of the batch, and hashed as copied; the
original is only ever read. The hash and the grading key (what the checks are) decide
whether the gradebook already holds this grading.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from graders.results import StageResult, SubmissionResult
from graders.stages import COURSE_ROOT, Stage, all_stages
from graders.submission import MAX_UNPACKED, SubmissionError, open_submission


@dataclass
class Job:
    index: int
    student: str
    label: str  # as given (a folder of submissions: folder/entry)
    path: Path
    source: Path | None = None  # the argument it came from (the folder of submissions)


@dataclass
class Prepared:
    job: Job
    workdir: Path | None = None  # private: the copy and the child's scratch folder
    root: Path | None = None  # the copy's folder of stage folders
    content_hash: str = ""
    problem: str = ""  # the submission could not be read: this is its result


# -- which arguments are submissions -----------------------------------------------------------------
def is_one_submission(folder: Path) -> bool:
    """A folder is one submission when it holds stage folders or an exercises/ folder."""
    ids = {s.id for s in all_stages()}
    return (folder / "exercises").is_dir() or any((folder / i).is_dir() for i in ids)


def student_id(path: Path) -> str:
    name = path.resolve().name if path.name in ("", ".", "..") else path.name
    return name[:-4] if name.lower().endswith(".zip") else name


def expand(paths: list[Path]) -> list[Job]:
    """Each argument is a submission (folder or .zip), or a folder of them, one per student."""
    jobs: list[Job] = []
    for path in paths:
        entries = []
        if path.is_dir() and not is_one_submission(path):
            entries = sorted(
                e for e in path.iterdir()
                if not e.name.startswith((".", "__")) and (e.is_dir() or e.suffix.lower() == ".zip")
            )
        if entries:
            jobs += [Job(len(jobs) + i, student_id(e), str(e), e, path) for i, e in enumerate(entries)]
        else:  # a submission, or nothing recognisable: graded as given, so the problem is reported
            jobs.append(Job(len(jobs), student_id(path), str(path), path, path))
    return jobs


# -- what "the same grading" means ------------------------------------------------------------------------
# Engine modules that present or orchestrate results but cannot change a check's outcome:
# editing them must not make a whole class be graded again.
NOT_GRADING = {"cli.py", "grade_command.py", "batch.py", "intake.py", "gradebook.py", "export.py", "feedback.py",
               "render_text.py", "render_junit.py", "watch.py", "gradescope.py", "release.py",
               "isolation.py", "lockdown.py", "grade_child.py", "notebook.py", "inprocess.py"}


def grading_key(stages: list[Stage], seed: int | None) -> str:
    """A hash of the checks, the engine and the choices: equal keys grade equal content equally."""
    digest = hashlib.sha256(json.dumps({"stages": [s.id for s in stages], "seed": seed}).encode())
    engine = Path(__file__).resolve().parent
    files = [f for f in sorted(engine.glob("*.py")) if f.name not in NOT_GRADING]
    files += sorted(engine.glob("*.toml")) + sorted(engine.glob("*.ini"))
    files += [f for s in stages for f in s.check_files(True)]
    for f in files:
        digest.update(str(f.relative_to(COURSE_ROOT)).encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


# -- the private copy -----------------------------------------------------------------------------------
def prepare(job: Job, stages: list[Stage], workroot: Path) -> Prepared:
    """Copies the submission's stage folders into a private folder and hashes them."""
    prepared = Prepared(job)
    try:
        submission = open_submission(job.path, job.label)
    except SubmissionError as exc:
        prepared.problem = str(exc)
        if job.path.is_file():
            prepared.content_hash = "file:" + hashlib.sha256(job.path.read_bytes()).hexdigest()
        return prepared
    try:
        workdir = Path(tempfile.mkdtemp(prefix="job-", dir=workroot))
        os.chmod(workdir, 0o711)  # others may pass through (to the copy), never list
        prepared.workdir = workdir
        copy = workdir / "submission"
        copy.mkdir(mode=0o755)
        digest = hashlib.sha256()
        total = 0
        for stage in stages:
            source = submission.root / stage.id
            if not source.is_dir() or source.is_symlink():
                continue
            for src in sorted(source.rglob("*")):
                rel = src.relative_to(submission.root)
                if src.is_symlink() or "__pycache__" in rel.parts or not (src.is_file() or src.is_dir()):
                    continue  # links are never followed out of a submission
                dst = copy / rel
                if src.is_dir():
                    dst.mkdir(mode=0o755, parents=True, exist_ok=True)
                    continue
                dst.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
                data = src.read_bytes()
                total += len(data)
                if total > MAX_UNPACKED:
                    raise SubmissionError(f"{job.label} holds more than {MAX_UNPACKED // 2**20} MiB of files")
                dst.write_bytes(data)
                os.chmod(dst, 0o644)
                digest.update(str(rel).encode() + b"\0" + data + b"\0")
        for d in [copy, *[p for p in copy.rglob("*") if p.is_dir()]]:
            os.chmod(d, 0o755)
        prepared.root = copy
        prepared.content_hash = digest.hexdigest()
    except SubmissionError as exc:
        prepared.problem = str(exc)
    except OSError as exc:
        prepared.problem = f"{job.label} could not be read ({exc.strerror or exc})"
    finally:
        submission.cleanup()
    return prepared


def restrict_to_group(workdir: Path, gid: int, *, skip: Path) -> None:
    """The private copy: readable by the slot's group only, writable by nobody but root.

    Why: the path of a copy shows in its worker's command line, which every process may
    read; without this, another student's code could read (and call) this one.
    """
    os.chown(workdir, 0, gid)
    os.chmod(workdir, 0o710)
    for path in workdir.rglob("*"):
        if path == skip or skip in path.parents or path.is_symlink():
            continue
        os.chown(path, 0, gid)
        os.chmod(path, 0o750 if path.is_dir() else 0o640)


def problem_result(label: str, stages: list[Stage], problem: str, stage_status: str = "missing") -> SubmissionResult:
    return SubmissionResult(label, [StageResult(s.id, s.title, stage_status, [], problem) for s in stages],
                            problem=problem)
