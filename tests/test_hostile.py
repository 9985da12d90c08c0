"""Hostile submissions (tests/hostile/<stage>/*.py) graded in one batch beside honest ones.

Each hostile module must be worth 0 at its stage, the honest submissions graded before
and after it (at --jobs 2, so something hostile always runs beside something honest)
must get full marks, and afterwards: no process left, no port left listening, the
originals untouched, the gradebook holding exactly what the grader wrote, and nothing of
the hidden checks in any result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

import pytest

from graders.batch.isolation import detect
from graders.stages import EXERCISES, HIDDEN, SOLUTIONS, all_stages

HERE = Path(__file__).resolve().parent
HOSTILE = HERE / "hostile"
MARKER = "tcplab-hostile-marker"
# Set in the instructor's shell that runs `tcplab grade`: student code must never see them.
SECRETS = {"GITHUB_TOKEN": "ghp_tcplabHostileTokenNeverShown0001",
           "AWS_SECRET_ACCESS_KEY": "tcplab/hostile/AwsSecretNeverShown0002"}
IPC_KEYS = {0x7C9A0001, 0x7C9A0002, 0x7C9A0003}  # ipc_leftovers.py's
SHM_NAME = "tcplab-hostile-shm"
# Scratch files a beginner keeps beside the module, named like standard modules; each one
# ends the process if it is ever imported.
STDLIB_NAMES = ("socket", "struct", "json", "select", "selectors", "codecs")
PORTS = {47474, 47475, 47476}  # the squatter's and the daemon's unusual ports
ISOLATION = detect()
# Without a mount namespace, secrets are hidden only by file permissions (a clone of the
# course is world-readable), and without a separate uid the gradebook is as writable to
# student code as to the grader: those protections are claimed, and tested, only where
# they exist. And only pid 1 of a pid namespace ignores the signals it does not handle.
PROTECTS_FILES = ISOLATION.namespaces or ISOLATION.switch_uid
UNPROTECTED = {"write_gradebook", "fake_result"} if not PROTECTS_FILES else set()
UNPROTECTED |= {"steal_secrets", "signal_grader"} if not ISOLATION.namespaces else set()


def hostile_modules() -> list[tuple[str, Path]]:
    stages = {s.id for s in all_stages()}
    return [(folder.name, f) for folder in sorted(HOSTILE.iterdir()) if folder.name in stages
            for f in sorted(folder.glob("*.py")) if f.stem not in UNPROTECTED]


def cheat_kit() -> str:
    text = (HOSTILE / "cheat_kit.py").read_text()
    return text[text.index("# BEGIN CHEAT"):text.index("# END CHEAT")]


def spliced(source: str) -> str:
    """A hostile module with its '# BASED ON: <corpus module>' and '# CHEAT' lines filled in:
    a realistic buggy module from tests/submissions, and the patching of cheat_kit.py."""
    lines = []
    for line in source.splitlines(keepends=True):
        if line.startswith("# BASED ON:"):
            line = (HERE / "submissions" / line.split(":", 1)[1].strip()).read_text() + "\n"
        elif line.startswith("# CHEAT"):
            line = cheat_kit()
        lines.append(line)
    return "".join(lines)


def must_fail(module: Path) -> list[str]:
    """The checks a hostile module's 'Must fail:' line names (none: the stage must be worth 0)."""
    for line in module.read_text().splitlines():
        if line.startswith("Must fail:"):
            return [name.strip() for name in line.split(":", 1)[1].split(",") if name.strip()]
    return []


def ipc_left() -> list[str]:
    """System V IPC objects under ipc_leftovers.py's keys, and its POSIX shared memory."""
    left = []
    for kind in ("shm", "msg", "sem"):
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        except OSError:
            continue
        left += [f"{kind} {line.split()[0]}" for line in lines if line.split() and int(line.split()[0]) in IPC_KEYS]
    if Path("/dev/shm", SHM_NAME).exists():
        left.append(f"/dev/shm/{SHM_NAME}")
    return left


def listening_ports() -> set[int]:
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A":  # TCP_LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def processes_of(coordinator: int) -> list[str]:
    """Processes that are hostile daemons, or that work in this batch's private folders."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if MARKER in cmdline or f"tcplab-batch-{coordinator}-" in cwd:
            found.append(f"{pid}: {cmdline[:120]} (in {cwd})")
    return found


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        h.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            h.update(path.read_bytes())
    return h.hexdigest()


@cache
def graded_batch(tmp: str) -> dict:
    """Builds the class (honest first and last), grades it once, and records what it saw."""
    root = Path(tmp)
    klass, gradebook = root / "class", root / "gradebook.db"
    # Another clone of the course on the machine, world-readable as a clone is (pytest's
    # own temporary folders are private to their user: this one must not be).
    elsewhere = Path(tempfile.mkdtemp(prefix="tcplab-another-clone-"))
    os.chmod(elsewhere, 0o755)
    shutil.copytree(SOLUTIONS, elsewhere / "solutions")
    names = []
    for stage_id, module in hostile_modules():
        stage = next(s for s in all_stages() if s.id == stage_id)
        folder = klass / f"{stage.number:02d}-{module.stem}" / stage.id
        folder.mkdir(parents=True)
        source = module.read_text().replace("@GRADEBOOK@", str(gradebook)).replace("@ELSEWHERE@", str(elsewhere))
        (folder / stage.filename).write_text(spliced(source))
        names.append(folder.parent.name)
    stage_ids = sorted({s for s, _ in hostile_modules()})
    for name in ("00-honest-first", "99-honest-last", "50-stdlib-scratch-files"):
        for stage_id in stage_ids:
            shutil.copytree(SOLUTIONS / stage_id, klass / name / stage_id)
    for stage_id in stage_ids:  # correct code with a beginner's scratch files beside it
        for scratch in STDLIB_NAMES:
            (klass / "50-stdlib-scratch-files" / stage_id / f"{scratch}.py").write_text(
                f"raise SystemExit('the scratch file {scratch}.py was imported in place of Python\\'s {scratch}')\n")
    before = digest(klass)
    ports_before = listening_ports()
    args = [sys.executable, "-m", "graders.cli", "grade", str(klass), "--jobs", "2", "--gradebook", str(gradebook),
            "--format", "json"] + [a for s in stage_ids for a in ("--stage", s)]
    try:
        proc = subprocess.Popen(args, cwd=HERE.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, **SECRETS})
        out, err = proc.communicate(timeout=600)
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)
    return {
        "returncode": proc.returncode, "stdout": out, "stderr": err,
        "results": {s["student"]: s for s in json.loads(out)["submissions"]} if out.strip() else {},
        "left": processes_of(proc.pid), "new_ports": (listening_ports() - ports_before) & PORTS,
        "untouched": digest(klass) == before, "gradebook": gradebook, "hostile": names, "ipc_left": ipc_left(),
    }


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> dict:
    return graded_batch(str(tmp_path_factory.mktemp("hostile")))


def test_the_batch_completes_and_honest_submissions_beside_hostile_ones_get_full_marks(batch):
    assert "Traceback" not in batch["stderr"], batch["stderr"]
    assert batch["returncode"] == 0, batch["stderr"]
    for name in ("00-honest-first", "99-honest-last"):
        result = batch["results"][name]
        assert result["score"] == result["max_score"] > 0, json.dumps(result, indent=1)[:3000]


def test_scratch_files_named_like_standard_modules_cost_a_correct_submission_nothing(batch):
    """The worker starts with `-c` and puts the student's folder last on sys.path."""
    result = batch["results"]["50-stdlib-scratch-files"]
    failing = [(c["id"], c["message"][:300]) for s in result["stages"] for c in s["checks"] if c["status"] != "passed"]
    assert result["score"] == result["max_score"] > 0, failing


@pytest.mark.parametrize("stage_id,module", hostile_modules(), ids=lambda v: getattr(v, "stem", v))
def test_a_hostile_submission_gains_nothing(batch, stage_id, module):
    stage = next(s for s in all_stages() if s.id == stage_id)
    result = batch["results"][f"{stage.number:02d}-{module.stem}"]
    graded = next(s for s in result["stages"] if s["stage"] == stage_id)
    checks = {c["id"].split(".", 1)[1]: c for c in graded["checks"]}
    named = must_fail(module)
    if named:  # a buggy module that rewrites the worker's report: its bugs are caught all the same
        passed = [n for n in named if checks[n]["status"] == "passed"]
        assert not passed, [(n, checks[n]["message"][:200]) for n in named]
        return
    assert graded["score"] == 0, [(c["id"], c["status"], c["message"][:200]) for c in graded["checks"]]


def test_the_graders_environment_reaches_no_student_code(batch):
    """Student code starts from an allow-list environment (graders/engine/limits.py's ALLOWED_ENV)."""
    for name, value in SECRETS.items():
        assert value not in batch["stdout"] and value not in batch["stderr"], f"{name} reached the results"


@pytest.mark.skipif(not (ISOLATION.ipc or ISOLATION.switch_uid),
                    reason="needs an IPC namespace, or a uid of the job's own whose IPC objects can be removed")
def test_no_ipc_object_outlives_the_grading(batch):
    assert batch["ipc_left"] == []


def test_nothing_is_left_running_or_listening(batch):
    assert batch["left"] == []
    assert batch["new_ports"] == set()


def test_the_originals_are_untouched(batch):
    assert batch["untouched"]


def test_the_gradebook_holds_only_what_the_grader_wrote(batch):
    db = sqlite3.connect(batch["gradebook"])
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "pwned" not in tables
    rows = dict(db.execute("SELECT student, score FROM submissions"))
    assert rows == {name: r["score"] for name, r in batch["results"].items()}
    assert db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == len(batch["results"])


def test_no_hidden_check_and_no_solution_reaches_the_results(batch):
    text = batch["stdout"]
    # Lines a hostile module or a stub shares with a solution may show in a traceback: not a leak.
    public = {ln.strip() for f in [*HOSTILE.rglob("*.py"), *EXERCISES.rglob("*.py")] for ln in f.read_text().splitlines()}
    for secret in list(HIDDEN.rglob("test_*.py")) + list(SOLUTIONS.rglob("*.py")):
        lines = [ln.strip() for ln in secret.read_text().splitlines()
                 if len(ln.strip()) > 40 and not ln.strip().startswith(('"', "#")) and ln.strip() not in public]
        leaked = [ln for ln in lines if json.dumps(ln)[1:-1] in text]
        assert not leaked, f"{secret} leaked: {leaked[:3]}"


@pytest.mark.skipif(not ISOLATION.namespaces, reason="needs a mount namespace (read-only filesystem)")
def test_fake_results_land_nowhere(batch):
    assert not Path("/tmp/results.json").exists() or "fake" not in Path("/tmp/results.json").read_text()
    for result in batch["results"].values():
        assert result["submission"] != "fake" and result["score"] <= result["max_score"]


def grading_processes(coordinator: int) -> list[str]:
    """Processes grading in the batch that `coordinator` started: its private folder is in
    their command line (the child's --root, a worker's module path) or is their cwd."""
    folder = f"tcplab-batch-{coordinator}-"
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if folder in cmdline:
            found.append(f"{pid}: {cmdline[:160]}")
    return found + [p for p in processes_of(coordinator) if MARKER not in p and p not in found]


def _switched_uid(line: str) -> bool:
    pid = line.split(":")[0]
    try:
        return any(ln.split()[1] != str(os.getuid()) for ln in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if ln.startswith("Uid:"))
    except OSError:
        return False


@pytest.mark.skipif(not ISOLATION.switch_uid, reason="needs a uid per job slot (the uid switch is what disarms "
                    "the parent-death signal)")
def test_kill_9_on_the_coordinator_ends_the_grading_it_started(tmp_path):
    """The grading child arms its parent-death signal again after it becomes the job's uid.

    (graders/batch/lockdown.py die_with_parent: the kernel clears that signal on a uid change.)
    """
    klass = tmp_path / "class"
    # Every function of every stage sleeps forever: grading it waits out every check's
    # deadline, minutes in all, far longer than the 60 s this test gives the kill to work.
    for stage in all_stages():
        folder = klass / "sleeper" / stage.id
        folder.mkdir(parents=True)
        (folder / stage.filename).write_text(
            "import time\n\n\ndef sleep_forever(*args, **kwargs):\n    while True:\n        time.sleep(1)\n\n\n"
            "def __getattr__(name):\n    return sleep_forever\n")
    args = [sys.executable, "-m", "graders.cli", "grade", str(klass), "--no-gradebook"]
    proc = subprocess.Popen(args, cwd=HERE.parent, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Wait (bounded) until student code runs: a worker of this batch is alive.
        deadline = time.monotonic() + 120
        while not any("graders.engine.worker" in p and _switched_uid(p) for p in grading_processes(proc.pid)):
            assert proc.poll() is None and time.monotonic() < deadline, "the grading never reached student code"
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 60  # the kernel's signal is immediate; the reaping takes a moment
        while grading_processes(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert grading_processes(proc.pid) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        for line in grading_processes(proc.pid):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(line.split(":")[0]), signal.SIGKILL)
