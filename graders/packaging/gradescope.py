"""Gradescope: build the autograder bundle, and grade a submission inside it.

`tcplab gradescope autograder.zip` packs setup.sh, run_autograder, the engine with its
hidden checks, and the stage folders (stubs and public checks — never solutions).
On Gradescope, run_autograder calls `python -m graders.packaging.gradescope run /autograder`, which
gathers the student's files into a stage tree, grades every stage with every check and
writes results.json in Gradescope's format (gradescope-autograders.readthedocs.io, "specs"):
score, execution_time, output, stdout_visibility, tests[] with name, number, score,
max_score, status, output, visibility.

Each stage is graded by graders.batch.coordinator in its own grading child, behind the walls `tcplab
grade` uses: on Gradescope, which runs us as root, student code gets its own namespaces, an
unprivileged uid, and no sight of the hidden checks, the results or the upload. One child per
stage costs about a second each, and buys this: results.json is rewritten before every stage,
so a submission that exhausts the time budget keeps the points of the stages already graded.

What students see: public checks are "visible", with the check's message, transcript and
hint. Hidden checks are "after_published" — Gradescope shows nothing of them, and no total,
until the grades are published — and even then only their name, status and score: a hidden
check's message can quote what it sent or expected. The top-level output speaks only of the
public checks and of the files found, so it cannot give the hidden results away early.

What an upload cannot do: be graded through a link (none is followed: a link named
`exercises` and pointing at solutions grades as nothing, and is named in the output), sink the
run with a damaged extra archive (ignored with a note; the files beside it count), or cost the
results.json with a file name that is not UTF-8 (shown escaped, \\xff). Messages name files as
the student did, never by the grader's private paths.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

from graders.grading.submission import SubmissionError, unpack_zip
from graders.packaging.release import (
    COURSE_ROOT,
    GRADERS,
    PackagingError,
    refuse_secrets,
    render_template,
    requirements_text,
    walk_files,
)
from graders.report.results import CheckResult, StageResult
from graders.report.student_view import HIDDEN_FAILED_NOTE, CheckView, view
from graders.stages import HIDDEN, Stage, all_stages, select_stages

DEFAULT_ROOT = "/autograder"
# Why 540 s: under the 10-minute autograder timeout Gradescope assignments commonly use, with a
# minute to spare for starting up and writing the results.
DEFAULT_BUDGET = 540
# Fixed zip timestamps: the same course gives the same bundle, byte for byte.
ZIP_TIME = (2024, 1, 1, 0, 0, 0)
# Folders in a submission that never hold a student's stage module.
SKIPPED_DIRS = {"__MACOSX", "__pycache__", "node_modules", "site-packages", "venv", "env"}
# How many links or folders a note names before it counts the rest.
MAX_NAMED = 5
Tidy = Callable[[str], str]


# -- the bundle -----------------------------------------------------------------------------------
@dataclass
class Bundle:
    path: Path
    files: int
    checks: dict[str, tuple[int, int]]  # stage id -> (public check files, hidden check files)


def build_bundle(out: Path, *, budget: int = DEFAULT_BUDGET) -> Bundle:
    out = Path(os.path.abspath(out))
    if out.is_dir():
        raise PackagingError(f"{out} is a folder: give the path of the .zip file to write")
    if budget < 10:
        raise PackagingError(f"a budget of {budget} s leaves no time to grade: give at least 10 seconds")
    members = bundle_members(budget)
    # The bundle carries the hidden checks (it grades with them), never the solutions.
    refuse_secrets(((name, data) for name, data, _ in members), hidden=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, data, mode in members:
                info = zipfile.ZipInfo(name, ZIP_TIME)
                info.external_attr = (0o100000 | mode) << 16  # a regular file with these permissions
                info.compress_type = zipfile.ZIP_DEFLATED
                zf.writestr(info, data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    checks = {s.id: (len(s.check_files(hidden=False)), len(s.check_files(hidden=True)) - len(s.check_files(hidden=False)))
              for s in all_stages()}
    return Bundle(out, len(members), checks)


def bundle_members(budget: int) -> list[tuple[str, bytes, int]]:
    """(name in the zip, content, permissions): Gradescope wants setup.sh and run_autograder at the root."""
    members = [
        ("setup.sh", render_template("gradescope_setup.sh").encode(), 0o755),
        ("run_autograder", render_template("gradescope_run_autograder", budget=str(budget)).encode(), 0o755),
        ("README.md", render_template("gradescope_README.md").encode(), 0o644),
        ("requirements-grading.txt", requirements_text().encode(), 0o644),
    ]
    for name in ("pyproject.toml", "conftest.py"):
        if (COURSE_ROOT / name).is_file():
            members.append((name, (COURSE_ROOT / name).read_bytes(), 0o644))
    for top, prefix in ((GRADERS, "graders"), (COURSE_ROOT / "exercises", "exercises")):
        for path in walk_files(top):
            members.append((f"{prefix}/{path.relative_to(top).as_posix()}", path.read_bytes(), 0o644))
    return members


def describe(bundle: Bundle) -> list[str]:
    public = sum(p for p, _ in bundle.checks.values())
    hidden = sum(h for _, h in bundle.checks.values())
    lines = [f"wrote {bundle.path} ({bundle.files} files, {bundle.path.stat().st_size // 1024} KiB): "
             f"{public} public and {hidden} hidden check files over {len(bundle.checks)} stages",
             "upload it as the assignment's autograder (Ubuntu 22.04 or newer base image)"]
    empty = [sid for sid, (p, h) in bundle.checks.items() if not p + h]
    if empty:
        lines.append(f"no checks yet, so no points: {', '.join(empty)}")
    return lines


# -- gathering a submission -----------------------------------------------------------------------
@dataclass
class Gathered:
    graded: dict[str, str] = field(default_factory=dict)  # stage id -> the file as the student named it
    notes: list[str] = field(default_factory=list)


@dataclass
class Walked:
    files: list[Path] = field(default_factory=list)  # regular files, reached through real folders only
    links: list[str] = field(default_factory=list)  # every link met, relative to the top, never entered
    unreadable: list[str] = field(default_factory=list)  # folders that could not be listed


def gather_submission(submission: Path, tree: Path, scratch: Path) -> Gathered:
    """Copies each stage's module, wherever the student put it, to tree/<stage id>/<module>.py.

    A module is recognised by its file name, loose or in any folder, in the upload or in a
    .zip in it. When several copies exist, the one in its stage folder wins, then a loose file
    over one from a zip, then the shallowest. No link is followed, whatever it is named (a
    stage folder, exercises/, a module, a .zip): a link to the solutions must grade as nothing.
    An archive that cannot be unpacked is left out with a note, so that the files beside it
    still count.
    """
    gathered = Gathered()
    if submission.is_symlink():
        gathered.notes.append("the submission folder is a symbolic link: links are never followed, so nothing was graded")
        return gathered
    if not submission.is_dir():
        return gathered
    top = walk_submission(submission)
    note_walk(gathered, top, "")
    sources: list[tuple[Walked, Path, str]] = [(top, submission, "")]
    for number, archive in enumerate(p for p in top.files if p.suffix.lower() == ".zip"):
        dest = scratch / f"zip{number}"
        shown = shown_path(archive.relative_to(submission))
        try:
            unpack_zip(archive, dest)
        except Exception as exc:  # noqa: BLE001 - SubmissionError, zlib.error, anything: one archive never sinks the run
            shutil.rmtree(dest, ignore_errors=True)  # nothing half-unpacked is graded
            gathered.notes.append(f"{shown} cannot be unpacked: {unpack_reason(exc, archive, dest, shown)} — ignored")
            continue
        inside = walk_submission(dest)  # a link member, unpacked as a link or not at all, is never entered
        note_walk(gathered, inside, f"{shown}: ")
        sources.append((inside, dest, f"{shown}: "))
    wanted = {s.filename: s for s in all_stages()}
    found: dict[str, list[tuple[tuple, Path, str]]] = {}
    for from_zip, (walked, base, prefix) in enumerate(sources):
        for path in walked.files:
            stage = wanted.get(path.name)
            if stage is None:
                continue
            rel = path.relative_to(base)
            rank = (path.parent.name != stage.id, from_zip > 0, len(rel.parts), rel.as_posix())
            found.setdefault(stage.id, []).append((rank, path, prefix + shown_path(rel)))
    for stage in all_stages():
        copies = sorted(found.get(stage.id, []), key=lambda c: c[0])
        if not copies:
            continue
        _, path, shown = copies[0]
        (tree / stage.id).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, tree / stage.id / stage.filename)  # a regular file: walk_submission saw to it
        gathered.graded[stage.id] = shown
        if len(copies) > 1:
            gathered.notes.append(f"{len(copies)} copies of {stage.filename}: graded {shown}, "
                                  f"not {', '.join(c[2] for c in copies[1:])}")
    return gathered


def walk_submission(top: Path) -> Walked:
    """Every regular file under `top`, in a stable order, no link followed: each directory entry
    is looked at with lstat (is_symlink, follow_symlinks=False), so a link is listed and never
    entered or read, and every component of a path returned is a real folder. Litter folders
    (SKIPPED_DIRS, dot folders) are not entered."""
    walked = Walked()
    pending = [(top, PurePosixPath())]  # a stack, not recursion: a deep tree cannot exhaust it
    while pending:
        folder, rel = pending.pop()
        try:
            with os.scandir(folder) as entries:
                listed = sorted(entries, key=lambda e: e.name)
        except OSError:
            walked.unreadable.append(shown_path(rel) if rel.parts else ".")
            continue
        subfolders = []
        for entry in listed:
            here = rel / entry.name
            if entry.name in SKIPPED_DIRS or entry.name.startswith("."):
                if entry.is_symlink() or entry.is_dir(follow_symlinks=False):
                    continue  # litter: not entered, and a link there is not worth a note
            if entry.is_symlink():
                walked.links.append(shown_path(here))
            elif entry.is_dir(follow_symlinks=False):
                subfolders.append((folder / entry.name, here))
            elif entry.is_file(follow_symlinks=False):
                walked.files.append(folder / entry.name)
        pending += reversed(subfolders)  # depth first, in name order
    return walked


def note_walk(gathered: Gathered, walked: Walked, prefix: str) -> None:
    if walked.links:
        named = ", ".join(walked.links[:MAX_NAMED]) + (f" and {len(walked.links) - MAX_NAMED} more"
                                                        if len(walked.links) > MAX_NAMED else "")
        gathered.notes.append(f"{prefix}ignored {len(walked.links)} symbolic "
                              f"link{'s' if len(walked.links) > 1 else ''} ({named}): links are never followed; "
                              "upload the files themselves")
    if walked.unreadable:
        gathered.notes.append(f"{prefix}could not read the folder(s) {', '.join(walked.unreadable[:MAX_NAMED])}: ignored")


def unpack_reason(exc: BaseException, archive: Path, dest: Path, shown: str) -> str:
    """Why an archive cannot be unpacked, naming it as the student does (no private path)."""
    reason = str(exc).replace(str(archive), shown).replace(str(dest), shown) or type(exc).__name__
    if not isinstance(exc, SubmissionError):  # a failure unpack_zip did not expect (zlib.error, say)
        return f"it is damaged ({type(exc).__name__}: {reason})"
    if reason.startswith(f"{shown} cannot be unpacked: "):
        return reason.removeprefix(f"{shown} cannot be unpacked: ")
    return "it " + reason.removeprefix(f"{shown} ") if reason.startswith(f"{shown} ") else reason


def shown_path(rel: PurePath) -> str:
    return printable(PurePosixPath(rel).as_posix())


def printable(text: str) -> str:
    """Text any UTF-8 output can carry. A Linux file name is bytes, and Python gives the bytes
    that are not UTF-8 as lone surrogates, which json.dumps passes on and no UTF-8 encoder
    takes: they become \\xNN, as Python would show the bytes."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no file name makes (from JSON, say)
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


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


def fmt(points: float) -> str:
    return f"{points:g}"


def failure_json(message: str, seconds: float) -> dict[str, Any]:
    return {"score": 0.0, "execution_time": round(seconds), "stdout_visibility": "hidden", "tests": [],
            "output": f"{message} This is a problem with the autograder, not a judgement of your code: "
                      "please tell your instructor, who can read the details in the autograder output."}


def write_results(path: Path, data: dict[str, Any]) -> None:
    """Atomically: Gradescope, or a reader racing us, sees the old file or the new one. Every
    string goes through printable() first: one file name that is not UTF-8 must not cost the
    whole results.json."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(printable_json(data), indent=2, ensure_ascii=False), "utf-8")
    os.replace(tmp, path)


def printable_json(data: Any) -> Any:
    if isinstance(data, str):
        return printable(data)
    if isinstance(data, dict):
        return {printable_json(k): printable_json(v) for k, v in data.items()}
    if isinstance(data, list):
        return [printable_json(v) for v in data]
    return data


# -- grading inside Gradescope --------------------------------------------------------------------
class Stopped(KeyboardInterrupt):
    """SIGTERM: run_autograder's hard stop arrived before our own deadline."""


def hidden_from_students(root: Path) -> list[str]:
    """What of /autograder student code must not see, besides what graders.batch.coordinator hides itself.

    The results (a submission must not write its own), the original upload, Gradescope's
    submission_metadata.json (names and e-mails of the students) and the scripts.
    """
    names = ("results", "submission", "submission_metadata.json", "run_autograder", "setup.sh")
    return [str(root / n) for n in names if (root / n).exists()]


def grade_stage(tree: Path, stage: Stage, root: Path, timeout: float) -> tuple[StageResult, bool]:
    """One stage, every check, through graders.batch.coordinator: the walls `tcplab grade` puts around a child.

    On Gradescope (root) that is the child's own network, pid and mount namespaces, the hidden
    checks and the files above hidden from it, and an unprivileged uid for the student's code.
    Returns the stage's result and whether it ran out of time.
    """
    from graders.batch.coordinator import Batch, Job

    batch = Batch([stage], jobs=1, gradebook=None, timeout=timeout, hide=hidden_from_students(root))
    started = time.monotonic()
    [outcome] = batch.run([Job(0, "submission", "submission", tree)])
    out_of_time = outcome.status == "error" and time.monotonic() - started >= timeout * 0.95
    result = outcome.result.stages[0]
    if outcome.status == "error" and not out_of_time:
        # A grader fault: its details (a traceback, maybe a hidden check's lines) are for the
        # instructor, in the log; the student learns that it was not their code.
        print(f"tcplab: grading {stage.id} failed: {result.problem}", flush=True)
        result.problem = ("the grader failed on this stage, not because of your code; "
                          "please tell your instructor, who can read why in the autograder output")
    return result, out_of_time


def engine_of_children() -> str:
    """Why grading children would import another engine than this one ("" when they would not).

    graders.batch.coordinator starts them without PYTHONPATH, so they import the graders that this Python
    finds by itself: setup.sh's editable install of the bundle. Grading with another copy would
    use other hidden checks, so better fail loudly at "Test Autograder" than grade wrongly.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "TCPLAB_"))}
    try:
        found = subprocess.run([sys.executable, "-c", "import graders; print(graders.__file__)"], env=env,
                               cwd="/", capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"cannot start {sys.executable}: {exc}"
    if not found or Path(found).resolve().parent != GRADERS:
        return (f"{sys.executable} imports graders from {found or 'nowhere'}, not from {GRADERS}: "
                "run setup.sh (it installs this course with pip install -e)")
    return ""


def run(root: Path) -> int:
    """Grades root/submission into root/results/results.json; always writes it, returns 0."""
    started = time.monotonic()
    results = root / "results" / "results.json"
    budget = float(os.environ.get("TCPLAB_AUTOGRADER_BUDGET") or DEFAULT_BUDGET)
    # Our own deadline comes first, leaving time to stop a stage and write the results before
    # run_autograder's hard stop (SIGTERM at the budget).
    deadline = started + budget - min(10.0, budget / 4)
    print(f"tcplab: engine {GRADERS}, hidden checks {HIDDEN}, submission {root / 'submission'}, "
          f"budget {budget:g} s", flush=True)

    def on_term(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the cleanup must not be cut short
        raise Stopped()

    signal.signal(signal.SIGTERM, on_term)
    misplaced = engine_of_children()
    if misplaced:
        print(f"tcplab: {misplaced}", flush=True)
        write_results(results, failure_json("The autograder is not set up right.", time.monotonic() - started))
        return 0
    stages: list[Stage] = []
    done: list[StageResult] = []
    gathered = Gathered()
    tidy = tidier(gathered)
    tmp = Path(tempfile.mkdtemp(prefix="tcplab-gradescope-"))
    try:
        stages = stages_to_grade()
        tree = tmp / "submission"
        tree.mkdir()
        gathered = gather_submission(root / "submission", tree, tmp / "zips")
        tidy = tidier(gathered)
        print(f"tcplab: files graded: {gathered.graded or 'none'}", flush=True)
        for index, stage in enumerate(stages):
            # Written before each stage: if grading is cut short, the stages done still count.
            write_results(results, results_json(done, gathered, tidy, seconds=time.monotonic() - started,
                                                pending=stages[index:], stopped=unfinished()))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise Stopped()
            # Each stage gets an equal share of what is left (time a stage leaves unused passes
            # on), so one stage whose calls never return cannot starve the stages after it.
            share = remaining / (len(stages) - index)
            result, out_of_time = grade_stage(tree, stage, root, share)
            if out_of_time:
                result.problem = (f"grading this stage did not finish within {share:.0f} s, its share of the "
                                  "time budget, so it gives no points; a call that never returns or a loop "
                                  "that never ends does this")
            done.append(result)
            print(f"tcplab: {stage.id} {result.score:g}/{result.max_score:g} {result.status}", flush=True)
        write_results(results, results_json(done, gathered, tidy, seconds=time.monotonic() - started))
    except Stopped:
        print("tcplab: out of time", flush=True)
        graded = {r.stage for r in done}
        write_results(results, results_json(done, gathered, tidy, seconds=time.monotonic() - started,
                                            pending=[s for s in stages if s.id not in graded],
                                            stopped=unfinished(f"it ran out of time ({budget:g} s)")))
    except Exception:
        traceback.print_exc(file=sys.stdout)
        write_results(results, failure_json("The autograder ran into an error while grading.",
                                            time.monotonic() - started))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def stages_to_grade() -> list[Stage]:
    """Every stage; TCPLAB_AUTOGRADER_STAGES=01,02 grades only those (to try a bundle quickly)."""
    names = [n.strip() for n in os.environ.get("TCPLAB_AUTOGRADER_STAGES", "").split(",") if n.strip()]
    return select_stages(names)


def unfinished(why: str = "it was stopped") -> str:
    return (f"Grading did not finish: {why}. The stages not graded are listed below and give no points; "
            "please tell your instructor.")


# A private folder of this run or of graders.batch.coordinator (its job folder too), wherever TMPDIR is, up to
# where a message may cut a long path short ("/tmp/tcplab-batch-12-ab/job-...").
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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if hasattr(sys.stdout, "reconfigure"):  # the log, too, survives a name that is not UTF-8
        sys.stdout.reconfigure(errors="backslashreplace")
    if len(args) != 2 or args[0] != "run":
        print("usage: python -m graders.packaging.gradescope run AUTOGRADER_ROOT  (run_autograder does this)",
              file=sys.stderr)
        return 2
    return run(Path(args[1]))


if __name__ == "__main__":
    sys.exit(main())
