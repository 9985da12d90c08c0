"""Intake: which arguments are submissions, and the private copy each one is graded from.

A submission's stage folders are copied into a folder of the batch — regular files only,
streamed under the size cap, never through a link (graders/grading/submission.py keeps those
rules) — and hashed as copied; the original is only ever read. The hash and the grading
key (what the checks are) decide whether the gradebook already holds this grading.

Names are bytes on Linux: a student id or file name that is not UTF-8 reaches here as a
str with lone surrogates. The filesystem gets the bytes back; everything a person or a
file reads (ids, labels, notes, results) gets them escaped (results.safe_text).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath

from graders.grading.submission import (
    MAX_UNPACKED,
    Budget,
    SubmissionError,
    kind_of,
    link_note,
    open_regular,
    open_submission,
    shown,
    stream,
    walk_without_links,
)
from graders.report.results import (
    CheckResult,
    StageResult,
    SubmissionResult,
    rewrite_text,
    safe_text,
)
from graders.stages import COURSE_ROOT, GRADERS, Stage, all_stages


@dataclass
class Job:
    index: int
    student: str  # safe to show and store (undecodable bytes escaped)
    label: str  # as given (a folder of submissions: folder/entry), safe to show and store
    path: Path  # the real name on disk
    source: Path | None = None  # the argument it came from (the folder of submissions)


@dataclass
class Prepared:
    job: Job
    workdir: Path | None = None  # private: the copy and the child's scratch folder
    root: Path | None = None  # the copy's folder of stage folders
    content_hash: str = ""
    problem: str = ""  # the submission could not be read: this is its result
    fault: bool = False  # ...because the grader failed, not the submission: an error, tried again next run
    shown_root: str = ""  # where the stage folders are in the submission, as the student laid it out
    # What the student should know about the copy, by stage id: the links left out of it.
    notes: dict[str, list[str]] = field(default_factory=dict)


# -- which arguments are submissions -----------------------------------------------------------------
def is_one_submission(folder: Path) -> bool:
    """A folder is one submission when it holds stage folders or an exercises/ folder.

    By name: a link named exercises/ or like a stage makes it a submission too (one whose
    link is reported), never a folder of students.
    """
    names = {"exercises", *(s.id for s in all_stages())}
    try:
        return any(e.rel.name in names and e.kind in ("dir", "link") for e in walk_without_links(folder, depth=1))
    except (OSError, SubmissionError):
        return False


def student_id(path: Path) -> str:
    name = path.resolve().name if path.name in ("", ".", "..") else path.name
    return safe_text(name[:-4] if name.lower().endswith(".zip") else name)


def expand(paths: list[Path], *, warn: Callable[[str], None] | None = None) -> list[Job]:
    """Each argument is a submission (folder or .zip), or a folder of them, one per student.

    A class folder's entry that is a link is a submission still — one reported as a link
    and worth 0 — when it looks like one (named .zip, or pointing at a folder). One student,
    one grading: given twice, a student is graded once (see `one_per_student`).
    """
    jobs: list[Job] = []
    for path in paths:
        entries = []
        if kind_of(path) == "dir" and not is_one_submission(path):
            try:
                entries = [e.path for e in walk_without_links(path, depth=1) if not e.rel.name.startswith((".", "__"))
                           and (e.kind == "dir" or (e.kind in ("file", "link") and e.rel.suffix.lower() == ".zip")
                                or (e.kind == "link" and e.path.is_dir()))]
            except OSError:  # a folder that cannot be listed: graded as given, so its problem is reported
                entries = []
        if entries:
            jobs += [Job(len(jobs) + i, student_id(e), shown(str(e)), e, path) for i, e in enumerate(entries)]
        else:  # a submission, or nothing recognisable: graded as given, so the problem is reported
            jobs.append(Job(len(jobs), student_id(path), shown(str(path)), path, path))
    return one_per_student(jobs, warn or (lambda message: None))


def one_per_student(jobs: list[Job], warn: Callable[[str], None]) -> list[Job]:
    """One job per student id: a folder over a zip, either over a link; else the first given.

    Why: the gradebook and the CSV keep one grade per student; grading both would keep
    whichever finished last, silently.
    """
    def rank(job: Job) -> int:
        return {"dir": 0, "file": 1}.get(kind_of(job.path), 2)

    kept: dict[str, Job] = {}
    for job in jobs:
        first = kept.get(job.student)
        if first is None:
            kept[job.student] = job
            continue
        if os.path.realpath(first.path) == os.path.realpath(job.path):
            warn(f"{job.label} is given twice: graded once")
            continue
        keep, drop = (job, first) if rank(job) < rank(first) else (first, job)
        why = ("the first given" if rank(keep) == rank(drop) else
               "the folder over the zip" if (rank(keep), rank(drop)) == (0, 1) else "not the symbolic link")
        warn(f"student {job.student} is given twice ({first.label} and {job.label}): grading {keep.label}, "
             f"not {drop.label} ({why})")
        kept[job.student] = keep
    chosen = {id(j) for j in kept.values()}
    return [Job(i, j.student, j.label, j.path, j.source) for i, j in enumerate(j for j in jobs if id(j) in chosen)]


# -- what "the same grading" means ------------------------------------------------------------------------
# What can change a check's outcome: the engine, the checking and grading wings, the course data
# and the results model. The rest (the command, the batch, renderings, packagings, notebooks)
# presents or orchestrates: editing it must not make a whole class be graded again.
GRADING_WINGS = ("engine", "checking", "grading")
NOT_GRADING = {"engine/inprocess.py"}  # the notebooks' subject: never runs in a batch


def grading_key(stages: list[Stage], seed: int | None) -> str:
    """A hash of the checks, the engine and the choices: equal keys grade equal content equally."""
    digest = hashlib.sha256(json.dumps({"stages": [s.id for s in stages], "seed": seed}).encode())
    files = sorted(GRADERS.glob("*.py")) + sorted(GRADERS.glob("*.toml")) + [GRADERS / "report" / "results.py"]
    for wing in GRADING_WINGS:
        files += [f for f in sorted((GRADERS / wing).rglob("*")) if f.suffix in (".py", ".ini")
                  and f.relative_to(GRADERS).as_posix() not in NOT_GRADING]
    files += [f for s in stages for f in s.check_files(True)]
    for f in files:
        digest.update(str(f.relative_to(COURSE_ROOT)).encode() + b"\0" + f.read_bytes() + b"\0")
    return digest.hexdigest()


# -- the private copy -----------------------------------------------------------------------------------
def prepare(job: Job, stages: list[Stage], workroot: Path) -> Prepared:
    """Copies the submission's stage folders into a private folder and hashes them.

    Never raises for what a submission holds: an unreadable one gets its `problem`, and a
    fault of the grader's own is that submission's error (`fault`), so the batch goes on.
    """
    prepared = Prepared(job)
    try:
        submission = open_submission(job.path, job.label, scratch=workroot)
    except SubmissionError as exc:
        prepared.problem = str(exc)
        prepared.content_hash = unreadable_hash(job.path, prepared.problem)
        return prepared
    except Exception as exc:  # a bug of ours must cost one submission, not the batch
        prepared.problem = f"the grader failed reading {job.label}: {type(exc).__name__}: {safe_text(str(exc))}"
        prepared.fault = True
        return prepared
    try:
        prepared.shown_root = submission.shown_root()
        workdir = Path(tempfile.mkdtemp(prefix="job-", dir=workroot))
        os.chmod(workdir, 0o711)  # others may pass through (to the copy), never list
        prepared.workdir = workdir
        copy = workdir / "submission"
        copy.mkdir(mode=0o755)
        prepared.content_hash = copy_stages(submission.root, copy, stages, Budget.copying(job.label),
                                            note=lambda stage, rel: prepared.notes.setdefault(stage, []).append(
                                                link_note(_under(prepared.shown_root, rel))))
        prepared.root = copy
    except SubmissionError as exc:
        prepared.problem = str(exc)
        prepared.content_hash = unreadable_hash(job.path, prepared.problem)
    except OSError as exc:
        prepared.problem = f"{job.label} could not be read ({exc.strerror or type(exc).__name__})"
    except Exception as exc:
        prepared.problem = f"the grader failed reading {job.label}: {type(exc).__name__}: {safe_text(str(exc))}"
        prepared.fault = True
    finally:
        submission.cleanup()
    return prepared


def copy_stages(root: Path, copy: Path, stages: list[Stage], budget: Budget,
                note: Callable[[str, PurePosixPath], None]) -> str:
    """Copies root/<stage>/ into copy/<stage>/ for each stage; returns the hash of what was copied.

    Regular files only (no __pycache__), each opened without following a link, its size
    checked against `budget` before it is opened and its bytes while they stream. A link
    is never copied: `note(stage id, its path)` is told, and the link's name is part of
    the hash (renaming it changes what the student is told).
    """
    digest = hashlib.sha256()
    for stage in stages:
        source = root / stage.id
        kind = kind_of(source)
        if kind == "link":
            note(stage.id, PurePosixPath(stage.id))
            digest.update(b"link\0" + os.fsencode(stage.id) + b"\0")
        if kind != "dir":
            continue
        (copy / stage.id).mkdir(mode=0o755)
        skip_cache = lambda e: e.kind == "dir" and e.rel.name == "__pycache__"  # noqa: E731
        for entry in walk_without_links(source, skip=skip_cache):
            rel = PurePosixPath(stage.id) / entry.rel
            if entry.kind == "link":
                note(stage.id, rel)
                digest.update(b"link\0" + os.fsencode(str(rel)) + b"\0")
                continue
            if entry.kind == "dir":
                (copy / rel).mkdir(mode=0o755)
                continue
            if entry.kind != "file":
                continue  # a fifo, socket or device is no source file
            budget.one_file()
            budget.expect(entry.size)  # before opening: a 1 GiB sparse file is never read
            digest.update(os.fsencode(str(rel)) + b"\0")
            with open_regular(entry.path) as src, open(copy / rel, "xb") as dst:
                stream(src, dst, budget, digest)
            os.chmod(copy / rel, 0o644)
            digest.update(b"\0")
    return digest.hexdigest()


def _under(shown_root: str, rel: PurePosixPath) -> str:
    return shown(PurePosixPath(shown_root) / rel if shown_root else rel)


def unreadable_hash(path: Path, problem: str) -> str:
    """What identifies an unreadable submission, so that a run again skips it until it changes.

    A regular file (a damaged zip) by its bytes, streamed — or, beyond the size cap, by its
    size and time, never read whole; anything else (a link, a folder) by its problem.
    """
    try:
        if kind_of(path) == "file":
            st = os.lstat(path)
            if st.st_size > MAX_UNPACKED:
                return f"file:{st.st_size}:{st.st_mtime_ns}"
            digest = hashlib.sha256()
            with open_regular(path) as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
            return "file:" + digest.hexdigest()
    except OSError:
        pass
    return "problem:" + hashlib.sha256(problem.encode("utf-8", "backslashreplace")).hexdigest()


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


# -- results, in the submission's own terms ------------------------------------------------------------
def problem_result(label: str, stages: list[Stage], problem: str, stage_status: str = "missing") -> SubmissionResult:
    """A submission that was not graded (the grader failed on it): no checks ran, none is counted."""
    return SubmissionResult(label, [StageResult(s.id, s.title, stage_status, [], problem) for s in stages],
                            problem=problem)


def unreadable_result(label: str, stages: list[Stage], problem: str) -> SubmissionResult:
    """A submission that cannot be read is graded: every check failed, 0 of the course's points, not 0 of 0."""
    return SubmissionResult(label, [
        StageResult(s.id, s.title, "missing", [CheckResult(c.id, c.title, "failed", 0.0, c.max_score, c.hidden)
                                               for c in course_checks(s.id)], problem)
        for s in stages], problem=problem)


@cache
def course_checks(stage_id: str) -> tuple[CheckResult, ...]:
    """Each check of a stage (public, then hidden) with its points, read from the check files (none run)."""
    from graders.notebook import stage_checks

    try:
        return tuple(CheckResult(c.id, c.spec.title, "failed", 0.0, c.spec.points, c.hidden)
                     for c in stage_checks(stage_id, hidden=True))
    except Exception:  # a check file that does not load: the grading itself will say so
        return ()


# The grader's private folders, wherever a message may quote them (a traceback, a child's stderr).
PRIVATE_PATH = re.compile(re.escape(tempfile.gettempdir().rstrip("/")) +
                          r"/tcplab-(?:batch|zip)-[^/\s'\"]*(?:/(?:job|tcplab-zip)-[^/\s'\"]*)*(?:/submission)?/?")


def present(result: SubmissionResult, prepared: Prepared | None) -> None:
    """The result in the submission's terms: its own paths, the links found, text safe to store and show.

    Paths in the private copy become paths in the submission as the student laid it out
    (exercises/01_create_socket/create_socket.py), never /tmp/tcplab-batch-…; each stage
    a link was found in says so first.
    """
    rewrites: list[tuple[str, str]] = []
    if prepared is not None and prepared.root is not None:
        inside = f"{prepared.shown_root}/" if prepared.shown_root else ""
        rewrites = [(f"{prepared.root}/", inside), (f"{prepared.root.parent}/", "")]

    def relative(text: str) -> str:
        for private, public in rewrites:
            text = text.replace(private, public)
        return PRIVATE_PATH.sub("", text)

    rewrite_text(result, lambda text: safe_text(relative(text)))
    if prepared is None:
        return
    for stage in result.stages:
        notes = prepared.notes.get(stage.stage, [])
        if notes:
            stage.problem = "\n".join([*notes, stage.problem]).strip()
