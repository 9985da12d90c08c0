"""The `tcplab` command as a student and an instructor use it, including bad input."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.corpus import EXERCISES, SOLUTIONS, tcplab

STUB = (EXERCISES / "01_create_socket" / "create_socket.py").read_text()
SOLUTION = (SOLUTIONS / "01_create_socket" / "create_socket.py").read_text()


def submission(tmp_path: Path, source: str, name: str = "student") -> Path:
    folder = tmp_path / name / "01_create_socket"
    folder.mkdir(parents=True)
    (folder / "create_socket.py").write_text(source)
    return tmp_path / name


def no_traceback(done) -> None:
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr


def stage1(done) -> dict:
    data = json.loads(done.stdout)
    return data["submissions"][0]["stages"][0]


def test_check_on_the_stubs_shows_every_stage_fails_cleanly_and_gives_the_first_hint():
    done = tcplab("check")
    no_traceback(done)
    assert done.returncode == 1
    for stage in ("01_create_socket", "04_send_recv", "07_error_handling"):
        assert stage in done.stdout
    assert "not implemented yet" in done.stdout
    assert "Next: stage 01_create_socket" in done.stdout


def test_check_of_the_solutions_is_green_with_exit_status_zero():
    done = tcplab("check", "1", "--path", str(SOLUTIONS))
    no_traceback(done)
    assert done.returncode == 0, done.stdout
    assert "1/1 stages passed" in done.stdout


def test_json_follows_the_contract():
    done = tcplab("check", "01_create_socket", "--path", str(SOLUTIONS), "--format", "json")
    data = json.loads(done.stdout)
    sub = data["submissions"][0]
    assert set(sub) >= {"submission", "score", "max_score", "stages"}
    stage = sub["stages"][0]
    assert set(stage) >= {"stage", "status", "score", "max_score", "checks"}
    for check in stage["checks"]:
        assert set(check) >= {"id", "status", "score", "max_score", "hidden", "message", "hint"}
        assert check["id"].startswith("01_create_socket.")
    assert sub["score"] == sub["max_score"] > 0


def test_an_unknown_stage_is_a_usage_error():
    done = tcplab("check", "99")
    no_traceback(done)
    assert done.returncode == 2 and "there is no stage '99'" in done.stderr


def test_a_missing_file_marks_the_stage_missing_and_names_the_file(tmp_path):
    (tmp_path / "empty").mkdir()
    done = tcplab("check", "1", "--path", str(tmp_path / "empty"), "--format", "json")
    no_traceback(done)
    stage = stage1(done)
    assert stage["status"] == "missing"
    assert "01_create_socket/create_socket.py" in stage["problem"]
    assert all(c["status"] in ("failed", "skipped") for c in stage["checks"])


def test_a_syntax_error_marks_the_stage_error_with_file_and_line(tmp_path):
    path = submission(tmp_path, "import socket\n\ndef create_tcp_socket(family=socket.AF_INET:\n    pass\n")
    done = tcplab("check", "1", "--path", str(path), "--format", "json")
    no_traceback(done)
    stage = stage1(done)
    assert stage["status"] == "error"
    assert "create_socket.py, line 3" in stage["problem"]


@pytest.mark.parametrize("poison", [
    "import os\nos._exit(0)\n",
    "import sys\nsys.exit('bye')\n",
    "raise RuntimeError('boom at import')\n",
])
def test_a_module_that_dies_at_import_is_an_error_stage(tmp_path, poison):
    done = tcplab("check", "1", "--path", str(submission(tmp_path, poison + SOLUTION)), "--format", "json")
    no_traceback(done)
    assert stage1(done)["status"] == "error"


def test_a_call_that_exits_the_process_fails_that_check_and_the_rest_are_still_graded(tmp_path):
    source = SOLUTION.replace('def describe_socket(sock', 'def describe_socket(sock, *_a):\n    import os; os._exit(1)\n\ndef _unused(sock')
    done = tcplab("check", "1", "--path", str(submission(tmp_path, source)), "--format", "json")
    no_traceback(done)
    checks = {c["id"].split(".")[1]: c for c in stage1(done)["checks"]}
    assert checks["describes_a_fresh_socket"]["status"] == "error"
    assert "os._exit" in checks["describes_a_fresh_socket"]["message"]
    assert checks["creates_ipv4_tcp_socket"]["status"] == "passed"


def test_a_zip_submission_is_graded_like_a_directory(tmp_path):
    archive = tmp_path / "student.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("student/exercises/01_create_socket/create_socket.py", SOLUTION)
    done = tcplab("grade", str(archive), "--stage", "1")
    no_traceback(done)
    assert done.returncode == 0
    sub = json.loads(done.stdout)["submissions"][0]
    assert sub["score"] == sub["max_score"] > 0


def test_a_corrupt_zip_is_reported_and_grading_goes_on(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    good = submission(tmp_path, SOLUTION)
    done = tcplab("grade", str(bad), str(good), "--stage", "1")
    no_traceback(done)
    assert done.returncode == 0
    subs = json.loads(done.stdout)["submissions"]
    assert "zip" in subs[0]["problem"] and subs[0]["score"] == 0
    assert subs[1]["score"] == subs[1]["max_score"] > 0


def test_a_zip_member_escaping_the_archive_is_refused(tmp_path):
    archive = tmp_path / "slip.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../evil.py", "x = 1")
    done = tcplab("grade", str(archive), "--stage", "1")
    no_traceback(done)
    assert "outside the archive" in json.loads(done.stdout)["submissions"][0]["problem"]
    assert not (tmp_path.parent / "evil.py").exists()


def test_a_path_that_does_not_exist_is_reported(tmp_path):
    done = tcplab("grade", str(tmp_path / "nope"), "--stage", "1")
    no_traceback(done)
    assert done.returncode == 2  # a usage error: nothing was graded
    assert "no such file or folder" in done.stderr and "nope" in done.stderr
    assert done.stdout.strip() == ""


def test_hint_and_list(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # which hints were shown: not in the real ~/.cache
    done = tcplab("hint", "1")
    assert done.returncode == 0 and "SOCK_STREAM" in done.stdout
    assert (tmp_path / "tcplab" / "hints.json").is_file()
    done = tcplab("list")
    no_traceback(done)
    assert done.returncode == 0 and "not started" in done.stdout


def test_watch_moves_on_when_a_stage_turns_green(tmp_path):
    from rich.console import Console

    from graders.cli.watch import watch

    root = tmp_path / "course"
    shutil.copytree(EXERCISES, root)
    stage_file = root / "01_create_socket" / "create_socket.py"
    console = Console(record=True, width=120)

    def saves():
        stage_file.write_text(SOLUTION)  # the student fixes stage 1 and saves
        yield "saved"

    assert watch(root, "1", console=console, changes=saves()) == 0
    out = console.export_text()
    assert "01_create_socket is green — on to 02_bind_listen" in out
    assert "Stage 01_create_socket passed" in out and "Every stage passed" not in out
    assert "stages passed" in out


def test_junit_output_counts_failures():
    import xml.etree.ElementTree as ET

    done = tcplab("check", "1", "--format", "junit")
    no_traceback(done)
    suite = ET.fromstring(done.stdout).find("testsuite")
    assert int(suite.get("failures")) + int(suite.get("skipped")) == int(suite.get("tests")) > 0


def test_ctrl_c_during_check_says_so_shows_no_half_verdicts_and_leaves_nothing_running(tmp_path):
    # Checks run side by side in forked runners: Ctrl-C reaches them all (one process group,
    # as in a terminal); the command must end at once, not print stages it never finished.
    import os
    import signal
    import subprocess
    import sys
    import time

    marker = tmp_path / "called"
    root = tmp_path / "exercises"
    shutil.copytree(SOLUTIONS, root)
    module = root / "01_create_socket" / "create_socket.py"
    module.write_text(module.read_text() + (
        "\n\nimport time as _time\n_real = create_tcp_socket\n\n"
        "def create_tcp_socket(family=socket.AF_INET):\n"
        f"    open({str(marker)!r}, 'w').close()\n    _time.sleep(60)\n    return _real(family)\n"))
    proc = subprocess.Popen([sys.executable, "-m", "graders.cli", "check", "--path", str(root)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # polling for the student's call to begin
    assert marker.exists(), "the check never called create_tcp_socket"
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert "interrupted (Ctrl-C)" in err and "Traceback" not in err
    assert "01_create_socket" not in out, out
    deadline = time.monotonic() + 10  # the runners' workers were killed just now: the kernel reaps them
    while (left := subprocess.run(["pgrep", "-f", str(root)], capture_output=True, text=True).stdout.split()) \
            and time.monotonic() < deadline:
        time.sleep(0.05)  # polling for the kernel to reap them
    assert not left, f"processes left running: {left}"
