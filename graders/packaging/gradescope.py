"""Gradescope: grading a submission inside the autograder bundle (graders/packaging/gradescope_bundle.py).

On Gradescope, run_autograder calls `python -m graders.packaging.gradescope run /autograder`,
which gathers the student's files into a stage tree, grades every stage with every check and
writes results.json in Gradescope's format (graders/report/gradescope_json.py renders it, and
says what students see of it).

Each stage is graded by graders.batch.coordinator in its own grading child, behind the walls `tcplab
grade` uses: on Gradescope, which runs us as root, student code gets its own namespaces, an
unprivileged uid, and no sight of the hidden checks, the results or the upload. One child per
stage costs about a second each, and buys this: results.json is rewritten before every stage,
so a submission that exhausts the time budget keeps the points of the stages already graded.

What an upload cannot do: be graded through a link (none is followed: a link named
`exercises` and pointing at solutions grades as nothing, and is named in the output), sink the
run with a damaged extra archive (ignored with a note; the files beside it count), or cost the
results.json with a file name that is not UTF-8 (shown escaped, \\xff). Messages name files as
the student did, never by the grader's private paths.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

from graders.grading.submission import Entry, SubmissionError, unpack_zip, walk_without_links
from graders.report.gradescope_json import (
    Gathered,
    failure_json,
    results_json,
    tidier,
    write_results,
)
from graders.report.results import StageResult, safe_text
from graders.stages import GRADERS, HIDDEN, Stage, all_stages, select_stages

DEFAULT_ROOT = "/autograder"
# Why 540 s: under the 10-minute autograder timeout Gradescope assignments commonly use, with a
# minute to spare for starting up and writing the results.
DEFAULT_BUDGET = 540
# Folders in a submission that never hold a student's stage module.
SKIPPED_DIRS = {"__MACOSX", "__pycache__", "node_modules", "site-packages", "venv", "env"}
# How many links or folders a note names before it counts the rest.
MAX_NAMED = 5


# -- gathering a submission -----------------------------------------------------------------------
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
    def litter(entry: Entry) -> bool:  # not entered, and a link there is not worth a note
        name = entry.rel.name
        return (name in SKIPPED_DIRS or name.startswith(".")) and entry.kind in ("dir", "link")

    walked = Walked()
    unreadable: list[PurePosixPath] = []
    for entry in walk_without_links(top, skip=litter, unreadable=unreadable):
        if entry.kind == "link":
            walked.links.append(shown_path(entry.rel))
        elif entry.kind == "file":
            walked.files.append(entry.path)
    walked.unreadable = [shown_path(rel) if rel.parts else "." for rel in unreadable]
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
    return safe_text(PurePosixPath(rel).as_posix())


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
    tmp = Path(tempfile.mkdtemp(prefix="tcplab-gradescope-"))  # a name gradescope_json.PRIVATE knows
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
