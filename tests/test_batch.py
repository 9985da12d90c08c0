"""`tcplab grade` on a class: folders of submissions, the gradebook, resuming, sandboxing.

Graded with stage 01 only (its checks are quick), through the command as an instructor
types it.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from graders.batch.isolation import detect
from tests.corpus import EXERCISES, SOLUTIONS, tcplab

STAGE = "01_create_socket"
SOLUTION = (SOLUTIONS / STAGE / "create_socket.py").read_text()
STUB = (EXERCISES / STAGE / "create_socket.py").read_text()
HERE = Path(__file__).resolve().parent


def student(folder: Path, name: str, source: str, *, nested: str = "") -> Path:
    stage = folder / name / nested / STAGE if nested else folder / name / STAGE
    stage.mkdir(parents=True)
    (stage / "create_socket.py").write_text(source)
    return folder / name


def grade(*args: str, timeout: float = 300) -> tuple[subprocess.CompletedProcess, dict]:
    jobs = () if "--jobs" in args else ("--jobs", "2")
    done = tcplab("grade", *args, *jobs, "--stage", "1", "--format", "json", timeout=timeout)
    assert "Traceback" not in done.stderr, done.stderr
    data = json.loads(done.stdout) if done.stdout.strip() else {}
    return done, {s["student"]: s for s in data.get("submissions", [])}


def tree_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        st = path.lstat()
        digest.update(f"{path.relative_to(folder)} {st.st_mode} {st.st_mtime_ns}".encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def klass(tmp_path) -> Path:
    folder = tmp_path / "class"
    student(folder, "alice", SOLUTION)
    student(folder, "bob", STUB)
    student(folder, "carol", SOLUTION, nested="exercises")  # a clone of the course repository
    with zipfile.ZipFile(folder / "dave.zip", "w") as zf:
        zf.writestr(f"dave/exercises/{STAGE}/create_socket.py", SOLUTION)
    (folder / "notes.txt").write_text("not a submission")
    return folder


def test_a_folder_of_submissions_is_graded_one_student_each_without_touching_them(klass, tmp_path):
    before = tree_digest(klass)
    done, subs = grade(str(klass), "--gradebook", str(tmp_path / "gb.db"), "--jobs", "2")
    assert done.returncode == 0, done.stderr
    assert list(subs) == ["alice", "bob", "carol", "dave"]  # in order; notes.txt is no submission
    full = subs["alice"]["max_score"]
    assert full > 0
    assert [subs[s]["score"] for s in ("alice", "bob", "carol", "dave")] == [full, 0, full, full]
    assert subs["alice"]["submission"] == str(klass / "alice")
    assert tree_digest(klass) == before  # graded from private copies: nothing written, nothing moved
    db = sqlite3.connect(tmp_path / "gb.db")
    assert db.execute("SELECT COUNT(*) FROM students").fetchone()[0] == 4
    rows = dict(db.execute("SELECT student, score FROM submissions"))
    assert rows == {"alice": full, "bob": 0, "carol": full, "dave": full}
    assert db.execute("SELECT COUNT(*) FROM check_results WHERE submission_id = 1").fetchone()[0] == \
        len(subs["alice"]["stages"][0]["checks"])


def test_a_run_again_skips_what_is_graded_and_regrades_what_changed(klass, tmp_path):
    gb = str(tmp_path / "gb.db")
    _, first = grade(str(klass), "--gradebook", gb)
    (klass / "bob" / STAGE / "create_socket.py").write_text(SOLUTION)  # bob fixed his code
    done, again = grade(str(klass), "--gradebook", gb)
    assert "1 graded, 3 already in the gradebook" in " ".join(done.stderr.split())
    assert again["bob"]["score"] == again["bob"]["max_score"] > 0
    for name in ("alice", "carol", "dave"):  # read back from the gradebook, the same results
        assert again[name]["stages"] == first[name]["stages"]
    done, _ = grade(str(klass), "--gradebook", gb, "--force")
    assert "4 graded, 0 already" in " ".join(done.stderr.split())
    count = sqlite3.connect(gb).execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
    assert count == 4 + 1 + 4


def test_no_gradebook_means_no_file(klass, tmp_path):
    done, subs = grade(str(klass / "alice"), "--no-gradebook")
    assert done.returncode == 0 and list(subs) == ["alice"]
    assert not list(tmp_path.glob("*.db"))


def test_a_submission_that_hangs_the_grader_is_an_error_and_the_batch_goes_on(tmp_path):
    folder = tmp_path / "class"
    # The import alone outlasts --timeout (the worker gives an import 10 s); 8 s is for bob,
    # whose grading takes a second on a quiet machine and must not time out on a busy one.
    student(folder, "alice", "while True:\n    pass\n")
    student(folder, "bob", SOLUTION)
    gb = str(tmp_path / "gb.db")
    started = time.monotonic()
    done, subs = grade(str(folder), "--gradebook", gb, "--timeout", "8")
    assert time.monotonic() - started < 60
    assert done.returncode == 1  # some submission could not be graded
    assert "did not finish within 8 s" in subs["alice"]["problem"]
    assert subs["alice"]["score"] == 0 and subs["alice"]["stages"][0]["status"] == "error"
    assert subs["bob"]["score"] == subs["bob"]["max_score"] > 0
    done, _ = grade(str(folder), "--gradebook", gb, "--timeout", "8")
    # The error is tried again (and fails again); the graded one is not.
    assert "0 graded, 1 already in the gradebook, 1 could not be graded" in " ".join(done.stderr.split())


def test_an_interrupted_batch_resumes_where_it_stopped(tmp_path):
    folder = tmp_path / "class"
    for i in range(8):
        student(folder, f"s{i}", SOLUTION if i % 2 else STUB)
    gb = tmp_path / "gb.db"
    proc = subprocess.Popen([sys.executable, "-m", "graders.cli", "grade", str(folder), "--stage", "1",
                             "--gradebook", str(gb)], cwd=HERE.parent, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    committed = 0
    while committed < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)  # polling the gradebook for the batch's progress, not waiting for readiness
        if gb.exists():
            try:
                committed = sqlite3.connect(gb).execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
            except sqlite3.Error:
                pass
    assert committed >= 2, proc.stderr.read() if proc.poll() is not None else "no progress"
    proc.send_signal(signal.SIGKILL)  # a crash: no chance to clean up
    proc.wait()
    assert wait_until(lambda: not batch_processes(proc.pid)), batch_processes(proc.pid)  # they die with it
    db = sqlite3.connect(gb)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    kept = db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
    assert 2 <= kept < 8
    for sub_id, in db.execute("SELECT id FROM submissions"):  # nothing half-written
        assert db.execute("SELECT COUNT(*) FROM stage_results WHERE submission_id = ?", (sub_id,)).fetchone()[0] == 1
        assert db.execute("SELECT COUNT(*) FROM check_results WHERE submission_id = ?", (sub_id,)).fetchone()[0] > 0
    db.close()
    done, subs = grade(str(folder), "--gradebook", str(gb))
    assert f"{8 - kept} graded, {kept} already in the gradebook" in " ".join(done.stderr.split())
    assert [subs[f"s{i}"]["score"] > 0 for i in range(8)] == [bool(i % 2) for i in range(8)]
    assert not list(Path(tempfile.gettempdir()).glob(f"tcplab-batch-{proc.pid}-*"))  # swept by the next run


def wait_until(predicate, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.05)  # polling the process table with a deadline
    return predicate()


def batch_processes(coordinator: int) -> list[str]:
    """Processes working in the private folders of the batch run by `coordinator`."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if f"tcplab-batch-{coordinator}-" in os.readlink(f"/proc/{pid}/cwd"):
                found.append(pid)
        except OSError:
            continue
    return found


ISOLATION = detect()
needs_namespaces = pytest.mark.skipif(not ISOLATION.namespaces, reason=f"no namespaces here ({ISOLATION.level})")


@needs_namespaces
def test_student_code_reaches_no_network_outside_its_own(tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as outside:
        port = outside.getsockname()[1]
        probe = SOLUTION + f'''
import socket as _s
try:
    _s.create_connection(("127.0.0.1", {port}), timeout=2).close()
    _REACHED = "reached the grader's machine"
except OSError as _exc:
    _REACHED = f"unreachable ({{type(_exc).__name__}})"

def create_tcp_socket(family=_s.AF_INET):
    raise RuntimeError(_REACHED)
'''
        done, subs = grade(str(student(tmp_path, "eve", probe)), "--no-gradebook")
        outside.settimeout(0)
        with pytest.raises(BlockingIOError):
            outside.accept()  # nobody came
    messages = " ".join(c["message"] for c in subs["eve"]["stages"][0]["checks"])
    assert "unreachable (ConnectionRefusedError)" in messages and "reached the grader" not in messages


def test_bad_arguments_are_usage_errors(tmp_path):
    done = tcplab("grade", str(tmp_path), "--jobs", "0")
    assert done.returncode == 2 and "--jobs must be at least 1" in done.stderr
    done = tcplab("grade", str(tmp_path), "--gradebook", str(tmp_path / "no" / "such" / "gb.db"))
    assert done.returncode == 2 and "not a directory" in done.stderr
    assert "Traceback" not in done.stderr
    # A typo is no student: exit 2, and nothing graded or recorded (not "1 graded" with exit 0).
    student(tmp_path, "alice", SOLUTION)
    done = tcplab("grade", str(tmp_path / "alice"), str(tmp_path / "alcie"), "--stage", "1",
                  "--gradebook", str(tmp_path / "gb.db"))
    assert done.returncode == 2, done.stderr
    assert f"no such file or folder: {tmp_path / 'alcie'}" in " ".join(done.stderr.split())
    assert "graded" not in done.stderr and "Traceback" not in done.stderr and not done.stdout
    assert not (tmp_path / "gb.db").exists()


@pytest.mark.parametrize("signum, status, said", [(signal.SIGINT, 130, "interrupted"),
                                                  (signal.SIGTERM, 143, "stopped (SIGTERM)")])
def test_ctrl_c_and_sigterm_say_how_many_were_graded_and_that_a_run_again_resumes(tmp_path, signum, status, said):
    """Protection: grade_command catches KeyboardInterrupt and its own Terminated (raised by the
    SIGTERM handler), after Batch.run's cleanup, and reports the outcomes already finished."""
    folder = tmp_path / "class"
    student(folder, "a-first", SOLUTION)
    student(folder, "b-second", STUB)
    student(folder, "c-hangs", "while True:\n    pass\n")  # in flight when the signal comes
    student(folder, "d-never-started", SOLUTION)
    gb = tmp_path / "gb.db"
    # As a terminal starts it: a suite run in the background (CI, nohup) has SIGINT ignored, and
    # an ignored signal would be inherited, so Ctrl-C is given back its default here.
    proc = subprocess.Popen([sys.executable, "-m", "graders.cli", "grade", str(folder), "--stage", "1", "--jobs", "1",
                             "--timeout", "300", "--gradebook", str(gb)], cwd=HERE.parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))

    def committed() -> int:
        try:
            with sqlite3.connect(gb) as db:
                return db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
        except sqlite3.Error:
            return 0

    # Polling the gradebook for the batch's progress, with a deadline.
    assert wait_until(lambda: proc.poll() is not None or committed() >= 2, timeout=120), "no progress"
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == status, err
    assert "Traceback" not in err, err
    assert (f"tcplab: {said}: 2 of 4 submissions graded, 0 already in the gradebook; they are in {gb}: "
            "run the same command again to go on where it stopped") in " ".join(err.split()), err
    assert wait_until(lambda: not batch_processes(proc.pid)), batch_processes(proc.pid)
    db = sqlite3.connect(gb)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert sorted(r[0] for r in db.execute("SELECT student FROM submissions")) == ["a-first", "b-second"]
    db.close()
    assert not list(Path(tempfile.gettempdir()).glob(f"tcplab-batch-{proc.pid}-*"))  # cleaned up on the way out


def test_the_progress_bar_shows_count_rate_and_time_left_on_a_terminal(klass, tmp_path):
    import pty

    leader, follower = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "graders.cli", "grade", str(klass / "alice"), str(klass / "bob"),
                             "--stage", "1", "--no-gradebook"], cwd=HERE.parent, stdout=subprocess.DEVNULL,
                            stderr=follower, env={**os.environ, "COLUMNS": "120", "TERM": "xterm"})
    os.close(follower)
    seen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the terminal closes when the command ends
            break
        if not chunk:
            break
        seen += chunk
    proc.wait(timeout=120)
    os.close(leader)
    text = seen.decode("utf-8", "replace")
    assert "grading" in text and "/2" in text and "/min" in text and "time left" in text
    assert "2 submissions" in text


def test_an_alarm_forged_by_student_code_does_not_fire_a_checks_timeout():
    from graders.batch.child import only_when_due

    rang = []
    previous = signal.signal(signal.SIGALRM, only_when_due(lambda *_: rang.append("timeout")))
    try:
        signal.setitimer(signal.ITIMER_REAL, 30)
        os.kill(os.getpid(), signal.SIGALRM)  # forged: the timer still has 30 s to go
        assert rang == []
        signal.setitimer(signal.ITIMER_REAL, 0.01)
        assert wait_until(lambda: rang == ["timeout"], timeout=5)  # the real one still rings
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
