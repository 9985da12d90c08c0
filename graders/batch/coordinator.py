"""The coordinator of `tcplab grade`: many submissions, graded in parallel, into the gradebook.

For each submission, in the order given: make a private copy of its stage folders (the
original is only ever read), hash it, and skip it when the gradebook already holds a
grading of that content by these checks. Otherwise a job slot grades it in a child
process (graders/batch/child.py) behind the walls graders/batch/isolation.py found; the child
prints JSON, which this process — the only one that ever opens the gradebook — commits,
one transaction per submission, as soon as it arrives. A child that hangs past its
deadline or dies is killed with everything it started; the submission is recorded as an
error (retried on the next run) and the batch goes on.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from graders.batch import isolation as iso
from graders.batch.child_output import ChildOutputError, parse_output
from graders.batch.gradebook import Gradebook
from graders.batch.intake import (
    Job,
    Prepared,
    expand,
    grading_key,
    prepare,
    present,
    problem_result,
    restrict_to_group,
    unreadable_result,
)
from graders.batch.lockdown import Lockdown
from graders.batch.processes import descendants
from graders.engine.limits import allowed_env
from graders.grading.capacity import default_runners
from graders.report.results import SubmissionResult
from graders.stages import COURSE_ROOT, EXERCISES, HIDDEN, SOLUTIONS, Stage

__all__ = ["Batch", "Job", "Outcome", "expand", "sweep_stale"]

# Why 900 s: one submission's seven stages take seconds; a submission whose every call
# runs into its deadline takes minutes. Only a grader stuck for good gets near this.
DEFAULT_TIMEOUT = 900.0
# What of the course a grading child needs once its checks are collected; every other
# top-level entry of a course checkout (solutions/, tests/, notebooks/, .git, a gradebook,
# feedback folders) is hidden from student code.
COURSE_NEEDS = {"graders", "exercises", ".venv", "venv", "conftest.py", "pyproject.toml"}


@dataclass
class Outcome:
    job: Job
    result: SubmissionResult
    status: str  # graded | error | skipped
    content_hash: str = ""
    seconds: float = 0.0
    sandbox: dict = field(default_factory=dict)
    record: bool = True  # a path that does not exist is reported, never made a student


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale() -> None:
    """Removes what a coordinator killed outright (SIGKILL, a power cut) left behind."""
    for folder in Path(tempfile.gettempdir()).glob("tcplab-batch-*-*"):
        pid = folder.name.split("-")[2]
        if pid.isdigit() and not _alive(int(pid)) and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
    iso.sweep_stale_cgroups(_alive)


# -- the batch -----------------------------------------------------------------------------------------------
class Batch:
    def __init__(self, stages: list[Stage], *, jobs: int = 1, gradebook: Gradebook | None = None,
                 force: bool = False, seed: int | None = None, timeout: float = DEFAULT_TIMEOUT,
                 isolation: iso.Isolation | None = None, hide: list[Path] | None = None,
                 on_done: Callable[[Outcome], None] | None = None, runners: int | None = None) -> None:
        self.stages = stages
        self.jobs = max(1, jobs)
        # Checks run side by side within a submission too (graders/grading/fanout.py); None:
        # enough to keep the cores busy with the submissions graded at a time.
        self.runners = runners
        self.gradebook = gradebook
        self.force = force
        self.seed = seed
        self.timeout = timeout
        self.isolation = isolation or iso.detect()
        self.on_done = on_done
        self.key = grading_key(stages, seed)
        self.hide = [str(p) for p in (hide or [])]
        self.sandbox_failures: set[str] = set()
        self.sandbox_applied: list[str] = []
        self._procs: dict[int, subprocess.Popen] = {}
        self._uids: iso.UidLease | None = None
        self._nproc = iso.nproc_limit(self.isolation)
        self._setpriv = shutil.which("setpriv") if sys.platform.startswith("linux") else None
        self._intake: dict[int, Prepared] = {}  # each job's copy (paths, notes), until _finish

    # The secrets: never visible to student code, whatever the argument list holds.
    def secrets(self, jobs: list[Job]) -> list[str]:
        hide = [str(HIDDEN), str(SOLUTIONS), *self.hide]
        if (COURSE_ROOT / "graders").is_dir() and EXERCISES.is_dir():
            hide += [str(e) for e in COURSE_ROOT.iterdir() if e.name not in COURSE_NEEDS]
        if self.gradebook is not None:
            db = self.gradebook.path.resolve()
            hide += [str(db), f"{db}-wal", f"{db}-shm", f"{db}-journal"]
        # The originals, by the folder they came from (one mount, not one per student) unless
        # that folder also holds what the child needs (a class kept right in /tmp, say).
        needed = [Path(tempfile.gettempdir()).resolve(), COURSE_ROOT]
        for job in jobs:
            source = (job.source or job.path).resolve()
            if any(source == n or source in n.parents for n in needed):
                source = job.path.resolve()
            if source.exists() and str(source) not in hide:
                hide.append(str(source))
        return hide

    def run(self, jobs: list[Job]) -> list[Outcome]:
        sweep_stale()
        self._intake = {}
        workroot = Path(tempfile.mkdtemp(prefix=f"tcplab-batch-{os.getpid()}-"))
        os.chmod(workroot, 0o711)
        secrets = self.secrets(jobs)
        slots = list(range(self.jobs))
        if self.runners is None:
            self.runners = default_runners(min(self.jobs, max(1, len(jobs))))
        cgroups: dict[int, iso.SlotCgroups] = {}
        outcomes: dict[int, Outcome] = {}
        pool = ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="tcplab-slot")
        pending: set[Future] = set()
        try:
            self._uids = iso.UidLease(self.jobs) if self.isolation.switch_uid else None
            if self.isolation.cgroups:
                cgroups = {s: iso.SlotCgroups.create(f"tcplab-{os.getpid()}-{s}") for s in slots}
            for job in jobs:
                prepared = prepare(job, self.stages, workroot)
                self._intake[job.index] = prepared  # its copy's paths and notes, for _finish
                skipped = self._already_graded(prepared)
                if skipped is not None:
                    self._finish(skipped, outcomes)
                    continue
                if prepared.root is None:  # unreadable: its problem is its result, 0 of the full points
                    self._cleanup(prepared)
                    if prepared.fault:  # the grader's fault, not the submission's: tried again next run
                        outcome = Outcome(job, problem_result(job.label, self.stages, prepared.problem, "error"),
                                          "error", prepared.content_hash)
                    else:
                        outcome = Outcome(job, unreadable_result(job.label, self.stages, prepared.problem),
                                          "graded", prepared.content_hash, record=os.path.lexists(job.path))
                    self._finish(outcome, outcomes)
                    continue
                while len(pending) >= self.jobs:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        slot, outcome = future.result()
                        slots.append(slot)
                        self._finish(outcome, outcomes)
                slot = slots.pop(0)
                pending.add(pool.submit(self._grade_in_slot, prepared, slot, secrets, cgroups.get(slot)))
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    slot, outcome = future.result()
                    slots.append(slot)
                    self._finish(outcome, outcomes)
        finally:
            self._stop_all()
            pool.shutdown(wait=True)
            for group in cgroups.values():
                group.remove()
            if self._uids is not None:
                self._uids.release()
            shutil.rmtree(workroot, ignore_errors=True)
        return [outcomes[j.index] for j in jobs]

    def _already_graded(self, prepared: Prepared) -> Outcome | None:
        if self.gradebook is None or self.force or not prepared.content_hash:
            return None
        found = self.gradebook.find_graded(prepared.job.student, prepared.content_hash, self.key)
        if found is None:
            return None
        self._cleanup(prepared)
        graded = self.gradebook.load(found)
        graded.result.submission = prepared.job.label
        return Outcome(prepared.job, graded.result, "skipped", prepared.content_hash, graded.seconds)

    def _finish(self, outcome: Outcome, outcomes: dict[int, Outcome]) -> None:
        prepared = self._intake.pop(outcome.job.index, None)
        if outcome.status != "skipped":  # a skipped one was presented when it was graded
            # Paths of the submission, never the grader's private ones; the links left out; safe text.
            present(outcome.result, prepared)
        if self.gradebook is not None and outcome.status != "skipped" and outcome.record:
            self.gradebook.record(student=outcome.job.student, result=outcome.result,
                                  content_hash=outcome.content_hash, grading_key=self.key,
                                  stages=[s.id for s in self.stages], status=outcome.status,
                                  seconds=outcome.seconds)
        if outcome.sandbox:
            self.sandbox_failures.update(outcome.sandbox.get("failed", []))
            if not self.sandbox_applied:
                self.sandbox_applied = list(outcome.sandbox.get("applied", []))
        outcomes[outcome.job.index] = outcome
        if self.on_done is not None:
            self.on_done(outcome)

    # -- one child ---------------------------------------------------------------------------------------
    def plan(self, prepared: Prepared, slot: int, secrets: list[str],
             cgroups: iso.SlotCgroups | None) -> Lockdown:
        assert prepared.workdir is not None and prepared.root is not None
        ns = self.isolation.namespaces
        uid = self._uids.uids[slot] if self._uids is not None else None
        return Lockdown(
            netns=ns, pidns=ns, mountns=ns,
            cgroups=[str(d) for d in cgroups.dirs] if cgroups else [],
            uid=uid, gid=uid, drop_caps=self.isolation.level == "userns",
            scratch=str(prepared.workdir / "scratch"), hide=secrets,
            keep=[str(prepared.root), str(COURSE_ROOT / "graders"), str(EXERCISES)],
        )

    def command(self, prepared: Prepared) -> list[str]:
        assert prepared.root is not None
        cmd = [sys.executable, "-m", "graders.batch.child", "--root", str(prepared.root),
               "--label", prepared.job.label]
        for stage in self.stages:
            cmd += ["--stage", stage.id]
        if self.seed is not None:
            cmd += ["--seed", str(self.seed)]
        # setpriv --pdeathsig: if this coordinator dies, so does the child (and its namespaces).
        pdeath = [self._setpriv, "--pdeathsig", "KILL", "--"] if self._setpriv else []
        return pdeath + self.isolation.prefix + cmd

    def _grade_in_slot(self, prepared: Prepared, slot: int, secrets: list[str],
                       cgroups: iso.SlotCgroups | None) -> tuple[int, Outcome]:
        started = time.monotonic()
        try:
            return slot, self._grade(prepared, slot, secrets, cgroups, started)
        except Exception as exc:  # never lose the batch to one submission
            message = f"the grader failed on this submission: {type(exc).__name__}: {exc}"
            return slot, Outcome(prepared.job, problem_result(prepared.job.label, self.stages, message, "error"),
                                 "error", prepared.content_hash, time.monotonic() - started)
        finally:
            if cgroups is not None:
                cgroups.empty()
            if self._uids is not None and not self.isolation.ipc:
                iso.remove_ipc_of(self._uids.uids[slot])  # no IPC namespace took them with it
            self._cleanup(prepared)

    def _grade(self, prepared: Prepared, slot: int, secrets: list[str], cgroups: iso.SlotCgroups | None,
               started: float) -> Outcome:
        assert prepared.workdir is not None
        plan = self.plan(prepared, slot, secrets, cgroups)
        scratch = Path(plan.scratch)
        scratch.mkdir(mode=0o700)
        if plan.uid is not None and plan.gid is not None:
            os.chown(scratch, plan.uid, plan.gid)
            restrict_to_group(prepared.workdir, plan.gid, skip=scratch)
        # An allow-list, not a deny-list: the instructor's shell may hold tokens and keys.
        env = allowed_env()
        # The child grades with this very engine and these checks, wherever they were imported from.
        env.update(HOME=str(scratch), TMPDIR=str(scratch), PYTHONDONTWRITEBYTECODE="1", PYTHONPATH=str(COURSE_ROOT))
        label = prepared.job.label
        with open(prepared.workdir / "stderr", "w+b") as errors:
            proc = subprocess.Popen(self.command(prepared), stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=errors, cwd=prepared.workdir, env=env,
                                    start_new_session=True)
            self._procs[slot] = proc
            given = json.dumps({"plan": plan.to_json(), "nproc": self._nproc, "runners": self.runners}).encode()
            try:
                out, _ = proc.communicate(given, timeout=self.timeout)
            except subprocess.TimeoutExpired:
                self._kill(proc)
                message = (f"grading {label} did not finish within {self.timeout:g} s: the grading process "
                           "was stopped with everything it started")
                return Outcome(prepared.job, problem_result(label, self.stages, message, "error"), "error",
                               prepared.content_hash, time.monotonic() - started)
            finally:
                self._procs.pop(slot, None)
            errors.seek(0)
            tail = errors.read()[-3000:].decode("utf-8", "replace").strip()
        seconds = time.monotonic() - started
        try:
            result, sandbox = parse_output(out.decode("utf-8", "replace"))
        except ChildOutputError as exc:
            why = f"exit status {proc.returncode}" if proc.returncode >= 0 else f"signal {-proc.returncode}"
            message = f"grading {label} failed ({why}): {exc}" + (f"\n{tail}" if tail else "")
            return Outcome(prepared.job, problem_result(label, self.stages, message, "error"), "error",
                           prepared.content_hash, seconds)
        result.submission = label
        return Outcome(prepared.job, result, "graded", prepared.content_hash, seconds, sandbox)

    def _kill(self, proc: subprocess.Popen) -> None:
        """The child, its namespace and, without a pid namespace, every process below it."""
        stray = [] if self.isolation.namespaces else descendants(proc.pid)
        for target in (lambda: os.killpg(proc.pid, signal.SIGKILL), *[
                (lambda p=p: os.kill(p, signal.SIGKILL)) for p in stray]):
            try:
                target()
            except (ProcessLookupError, PermissionError):
                pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass

    def _stop_all(self) -> None:
        for proc in list(self._procs.values()):
            self._kill(proc)

    @staticmethod
    def _cleanup(prepared: Prepared) -> None:
        if prepared.workdir is not None:
            shutil.rmtree(prepared.workdir, ignore_errors=True)
            prepared.workdir = None
