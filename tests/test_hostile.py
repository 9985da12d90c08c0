"""Hostile submissions (tests/hostile/<stage>/*.py) graded in one batch beside honest ones.

Each hostile module must be worth 0 at its stage, the honest submissions graded before
and after it (at --jobs 2, so something hostile always runs beside something honest)
must get full marks, and afterwards: no process left, no port left listening, the
originals untouched, the gradebook holding exactly what the grader wrote, and nothing of
the hidden checks in any result.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from functools import cache
from pathlib import Path

import pytest

from graders.isolation import detect
from graders.stages import EXERCISES, HIDDEN, SOLUTIONS, all_stages

HERE = Path(__file__).resolve().parent
HOSTILE = HERE / "hostile"
MARKER = "tcplab-hostile-marker"
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
        (folder / stage.filename).write_text(source)
        names.append(folder.parent.name)
    stage_ids = sorted({s for s, _ in hostile_modules()})
    for name in ("00-honest-first", "99-honest-last"):
        for stage_id in stage_ids:
            shutil.copytree(SOLUTIONS / stage_id, klass / name / stage_id)
    before = digest(klass)
    ports_before = listening_ports()
    args = [sys.executable, "-m", "graders.cli", "grade", str(klass), "--jobs", "2", "--gradebook", str(gradebook),
            "--format", "json"] + [a for s in stage_ids for a in ("--stage", s)]
    try:
        proc = subprocess.Popen(args, cwd=HERE.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = proc.communicate(timeout=600)
    finally:
        shutil.rmtree(elsewhere, ignore_errors=True)
    return {
        "returncode": proc.returncode, "stdout": out, "stderr": err,
        "results": {s["student"]: s for s in json.loads(out)["submissions"]} if out.strip() else {},
        "left": processes_of(proc.pid), "new_ports": (listening_ports() - ports_before) & PORTS,
        "untouched": digest(klass) == before, "gradebook": gradebook, "hostile": names,
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


@pytest.mark.parametrize("stage_id,module", hostile_modules(), ids=lambda v: getattr(v, "stem", v))
def test_a_hostile_submission_gains_nothing(batch, stage_id, module):
    stage = next(s for s in all_stages() if s.id == stage_id)
    result = batch["results"][f"{stage.number:02d}-{module.stem}"]
    graded = next(s for s in result["stages"] if s["stage"] == stage_id)
    assert graded["score"] == 0, [(c["id"], c["status"], c["message"][:200]) for c in graded["checks"]]


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
