"""The student's screen, as a student meets it at 80 columns: focus, one message per broken module,
hints one at a time, skipped checks with their reason, a success that names what comes next,
the hidden checks ahead, and a running state only on a terminal (issue 17)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from graders.cli.hidden_checks import count_hidden_checks, hidden_checks
from graders.report.student_view import fmt
from graders.stages import COURSE_ROOT, EXERCISES, HIDDEN, SOLUTIONS, all_stages, find_stage

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

STAGES = list(all_stages())
BUDGET = 40  # lines of the whole first screen at 80 columns (issue 17)
SOLUTION_1 = (SOLUTIONS / "01_create_socket" / "create_socket.py").read_text()


def run(*args: str, cache: Path | None = None, columns: int = 80) -> subprocess.CompletedProcess:
    """`tcplab ARGS` as a student runs it, at `columns` wide; hints remembered under `cache`."""
    env = {**os.environ, "COLUMNS": str(columns)}
    env.pop("FORCE_COLOR", None)
    if cache is not None:
        env["XDG_CACHE_HOME"] = str(cache)
    return subprocess.run([sys.executable, "-m", "graders.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=COURSE_ROOT, env=env)


def flat(text: str) -> str:
    """The text with its wrapping undone: what a student reads, whatever the width."""
    return " ".join(text.split())


def lines(text: str) -> list[str]:
    return text.rstrip("\n").splitlines()


def one_stage(tmp_path: Path, source: str, stage: str = "01_create_socket", module: str = "create_socket") -> Path:
    (tmp_path / "sub" / stage).mkdir(parents=True)
    (tmp_path / "sub" / stage / f"{module}.py").write_text(source)
    return tmp_path / "sub"


@pytest.fixture(scope="module")
def stubs() -> subprocess.CompletedProcess:
    done = run("check")
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def stubs_json() -> dict:
    return json.loads(run("check", "1", "--format", "json").stdout)["submissions"][0]["stages"][0]


# -- 1. focus ----------------------------------------------------------------------------------------
def test_the_first_screen_on_the_stubs_fits_in_40_lines_at_80_columns(stubs):
    shown = lines(stubs.stdout)
    assert len(shown) <= BUDGET, f"{len(shown)} lines:\n{stubs.stdout}"
    assert all(len(line.rstrip()) <= 80 for line in shown), stubs.stdout
    assert stubs.returncode == 1


def test_the_stubs_open_the_first_stage_and_show_its_first_failure_in_full(stubs, stubs_json):
    first = next(c for c in stubs_json["checks"] if c["status"] == "failed")
    out = flat(stubs.stdout)  # the message, whatever the wrapping
    assert flat(first["message"]) in out
    assert out.count("still raises NotImplementedError") == 1, "only the first failure is shown in full"
    for stage in STAGES[1:]:
        [line] = [x for x in lines(stubs.stdout) if f" {stage.id} " in x]
        assert "not started" in line, line
    later = [title for title in titles("02_bind_listen")]
    assert not any(title[:40] in stubs.stdout for title in later), "a later stage is one line, not its checks"


def titles(stage_id: str) -> list[str]:
    data = json.loads(run("check", stage_id, "--format", "json").stdout)
    return [c["title"] for c in data["submissions"][0]["stages"][0]["checks"]]


def test_every_other_check_of_the_stage_is_one_line(stubs, stubs_json):
    shown = lines(stubs.stdout)
    for check in stubs_json["checks"][1:]:
        rows = [x for x in shown if check["title"][:30] in x]
        assert len(rows) == 1, (check["title"], rows)


def test_a_syntax_error_is_one_message_once_within_the_budget(tmp_path):
    path = one_stage(tmp_path, "import socket\n\ndef create_tcp_socket(family=socket.AF_INET:\n    pass\n")
    done = run("check", "--path", str(path))
    assert "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
    assert done.stdout.count("syntax error") == 1, done.stdout
    assert "create_socket.py, line 3" in flat(done.stdout)
    assert len(lines(done.stdout)) <= BUDGET, done.stdout
    hints = [c["hint"] for c in json.loads(run("check", "1", "--path", str(path), "--format", "json").stdout)
             ["submissions"][0]["stages"][0]["checks"] if c["hint"]]
    out = flat(done.stdout)
    assert hints and not any(h[:30] in out for h in hints), "no check's hint: none of them applies"
    assert "Next: stage 01_create_socket — fix the problem above" in out


def test_an_import_error_is_one_message_once(tmp_path):
    path = one_stage(tmp_path, "import sockett\n" + SOLUTION_1)
    done = run("check", "1", "--path", str(path))
    assert done.stdout.count("importing the module raised") == 1, done.stdout
    assert len(lines(done.stdout)) <= BUDGET, done.stdout


def test_a_missing_file_is_one_message_with_what_to_do(tmp_path):
    (tmp_path / "empty").mkdir()
    done = run("check", "1", "--path", str(tmp_path / "empty"))
    assert done.stdout.count("was not found") == 1, done.stdout
    assert "create 01_create_socket/create_socket.py" in flat(done.stdout)


def test_verbose_shows_every_stage_and_failure_as_before(stubs):
    done = run("check", "-v")
    assert len(lines(done.stdout)) > 2 * len(lines(stubs.stdout))
    for title in titles("02_bind_listen"):
        assert title[:30] in done.stdout, title


# -- 5. the "Next:" hint is the shown failure's ---------------------------------------------------------
def test_next_follows_the_failure_shown_not_the_stages_first_hint(tmp_path):
    # create_tcp_socket done, describe_socket still a stub: the first failure is a describe_socket check.
    source = SOLUTION_1 + "\n\ndef describe_socket(sock):\n    raise NotImplementedError('later')\n"
    path = one_stage(tmp_path, source)
    checks = json.loads(run("check", "1", "--path", str(path), "--format", "json").stdout)[
        "submissions"][0]["stages"][0]["checks"]
    shown = next(c for c in checks if c["status"] == "failed")
    assert shown["id"].split(".")[1].startswith("describes")
    done = run("check", "1", "--path", str(path))
    out = flat(done.stdout)
    nxt = out[out.index("Next:"):]
    assert flat(shown["hint"]) in nxt, done.stdout
    assert find_stage("1").hints[0][:40] not in nxt


# -- 7. skipped checks say why -----------------------------------------------------------------------
def test_a_skipped_check_says_why(stubs, stubs_json):
    skipped = [c for c in stubs_json["checks"] if c["status"] == "skipped"]
    assert skipped, "the stubs of stage 1 skip a check whose dependency failed"
    out = flat(stubs.stdout)
    for check in skipped:
        assert flat(check["message"]) in out, check["message"]


# -- 5. hints one at a time --------------------------------------------------------------------------
def test_hints_come_one_at_a_time_and_all_with_all(tmp_path):
    hints = find_stage("4").hints
    first = run("hint", "4", cache=tmp_path)
    assert first.returncode == 0 and hints[0] in flat(first.stdout) and hints[1] not in flat(first.stdout), first.stdout
    second = run("hint", "4", cache=tmp_path)
    assert hints[1] in flat(second.stdout) and hints[2] not in flat(second.stdout), second.stdout
    assert "hint 2 of" in second.stdout
    every = run("hint", "4", "--all", cache=tmp_path)
    assert all(h in flat(every.stdout) for h in hints), every.stdout
    other = flat(run("hint", "5", cache=tmp_path).stdout)
    assert find_stage("5").hints[0] in other and find_stage("5").hints[1] not in other, "each stage has its own count"
    assert (tmp_path / "tcplab" / "hints.json").is_file()


def test_hints_still_show_when_the_state_cannot_be_written(tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be")
    for _ in range(2):
        done = run("hint", "1", cache=blocked)
        assert done.returncode == 0 and "Traceback" not in done.stdout + done.stderr, done.stdout + done.stderr
        assert find_stage("1").hints[0] in flat(done.stdout)
        assert "could not remember" in done.stdout


def test_hints_after_the_last_one_show_them_all(tmp_path):
    hints = find_stage("1").hints
    for _ in hints:
        run("hint", "1", cache=tmp_path)
    done = run("hint", "1", cache=tmp_path)
    assert all(h in flat(done.stdout) for h in hints) and "every hint" in done.stdout


# -- 6. success, 4. hidden checks ahead ----------------------------------------------------------------
def test_one_stage_passed_says_stage_n_passed_the_hidden_checks_and_what_is_next():
    done = run("check", "1", "--path", "solutions")
    assert done.returncode == 0
    out = flat(done.stdout)
    assert "Stage 01_create_socket passed" in out and "Every stage passed" not in out
    ahead = hidden_checks([STAGES[0]])["01_create_socket"]
    assert f"also runs {ahead.count} hidden checks worth {fmt(ahead.points)} points on this stage" in out
    assert ahead.cases and ahead.cases in out
    assert "Next: stage 02_bind_listen" in out and "exercises/02_bind_listen/README.md" in out


def test_the_instructor_who_ran_the_hidden_checks_is_not_told_about_them():
    done = run("check", "1", "--path", "solutions", "--hidden")
    assert done.returncode == 0, done.stdout
    assert "hidden checks worth" not in done.stdout


def test_the_hidden_counts_shipped_in_stages_toml_match_the_hidden_files():
    data = {s["id"]: s for s in tomllib.loads((COURSE_ROOT / "graders" / "stages.toml").read_text())["stage"]}
    for stage in STAGES:
        if not (HIDDEN / stage.id).is_dir():
            continue
        counted = count_hidden_checks(stage)
        assert counted is not None, f"{stage.id}: its hidden checks do not import"
        assert (data[stage.id]["hidden_checks"], data[stage.id]["hidden_points"]) == counted, \
            f"{stage.id}: stages.toml says {data[stage.id]['hidden_checks']} hidden checks worth " \
            f"{data[stage.id]['hidden_points']}; graders/hidden/{stage.id}/ holds {counted[0]} worth {counted[1]}"
        assert data[stage.id]["hidden_cases"], stage.id


def test_each_stage_readme_says_how_many_hidden_checks_it_has():
    for stage, ahead in hidden_checks(STAGES).items():
        readme = flat((EXERCISES / stage / "README.md").read_text("utf-8"))
        assert f"also runs {ahead.count} hidden checks worth {fmt(ahead.points)} points on this stage" in readme, stage


def test_a_release_without_hidden_files_tells_the_numbers_of_stages_toml(monkeypatch, tmp_path):
    import graders.cli.hidden_checks as module

    monkeypatch.setattr(module, "HIDDEN", tmp_path / "none")
    released = hidden_checks(STAGES)
    monkeypatch.undo()
    assert released == hidden_checks(STAGES)


# -- 6. watch keeps the success on screen -----------------------------------------------------------------
def test_watch_keeps_the_success_until_the_next_save_then_checks_the_next_stage(tmp_path):
    import shutil

    from graders.cli.watch import watch

    root = tmp_path / "course"
    shutil.copytree(EXERCISES, root)
    console = Console(record=True, width=80)
    screens: list[str] = []

    def saves():
        (root / "01_create_socket" / "create_socket.py").write_text(SOLUTION_1)
        yield "saved stage 1"
        screens.append(console.export_text(clear=False))  # what was on screen until this save
        yield "saved again"

    assert watch(root, "1", console=console, changes=saves()) == 0
    [after_success] = screens
    success = after_success[after_success.rindex("tcplab — 01_create_socket"):]
    assert "01_create_socket is green — on to 02_bind_listen" in flat(success)
    assert "exercises/02_bind_listen/README.md" in success or str(EXERCISES / "02_bind_listen") in success
    assert "02_bind_listen (watching)" not in success, "the next stage waits for the next save"
    assert "02_bind_listen (watching)" in console.export_text(), "after the next save, the next stage is checked"


# -- 2. the running state ----------------------------------------------------------------------------
def test_the_running_state_names_the_check_and_what_it_waits_for():
    from graders.checking.transcript import Transcript
    from graders.cli.progress import RunningDisplay
    from graders.grading.runner import Running

    transcript = Transcript()
    transcript.add("student", "called echo_server(<socket>, 2)")
    running = Running("04_send_recv", "echo_server(listener, 2) echoes each client's bytes", 8, 9,
                      time.monotonic() - 5, transcript)
    display = RunningDisplay("checking 04_send_recv")
    display.update(running)
    console = Console(record=True, width=80, force_terminal=True)
    console.print(display)
    out = console.export_text()
    assert "04_send_recv" in out and "8/9" in out and "echo_server(listener, 2)" in out
    assert "for your echo_server(<socket>, 2) to return" in out
    assert all(len(line) <= 80 for line in out.splitlines())


def test_grade_root_tells_its_progress_callback_of_each_check():
    from graders.grading.runner import grade_root

    seen = []
    result = grade_root(SOLUTIONS, [STAGES[0]], label="solutions", progress=seen.append, runners=1)
    assert [r.title for r in seen] == [c.title for c in result.stages[0].checks]
    assert [r.number for r in seen] == list(range(1, len(seen) + 1)) and {r.total for r in seen} == {len(seen)}
    # Side by side, each check is told as it starts, and as one ends, the one running longest.
    seen = []
    result = grade_root(SOLUTIONS, STAGES[:2], label="solutions", progress=seen.append, runners=4)
    checks = [c for s in result.stages for c in s.checks]
    assert {r.title for r in seen} == {c.title for c in checks}
    assert {r.number for r in seen} == set(range(1, len(checks) + 1)) and {r.total for r in seen} == {len(checks)}


def on_a_terminal(*args: str) -> tuple[int, str]:
    """`tcplab ARGS` with stdout and stderr on a pseudo-terminal, as in a student's shell."""
    leader, follower = pty.openpty()
    env = {**os.environ, "COLUMNS": "80", "LINES": "40"}
    child = subprocess.Popen([sys.executable, "-m", "graders.cli", *args], stdin=subprocess.DEVNULL,
                             stdout=follower, stderr=follower, cwd=COURSE_ROOT, env=env)
    os.close(follower)
    out = b""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the child closed its end
                break
            if not chunk:
                break
            out += chunk
        elif child.poll() is not None:
            break
    os.close(leader)
    return child.wait(timeout=60), out.decode("utf-8", "replace")


def test_on_a_terminal_text_shows_the_running_check_and_json_stays_pure():
    code, text = on_a_terminal("check", "1")
    assert code == 1
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text)
    assert "checking 01_create_socket: starting…" in plain or "01_create_socket 1/" in plain, text  # the status line
    assert "Progress: 0/1 stages passed" in plain
    code, raw = on_a_terminal("check", "1", "--format", "json")
    data = json.loads(raw)  # nothing but the JSON, even on a terminal
    assert data["submissions"][0]["stages"][0]["stage"] == "01_create_socket"


def test_no_running_state_when_the_output_is_not_a_terminal(stubs):
    assert stubs.stderr == "" and "starting…" not in stubs.stdout


def test_the_prints_of_a_failing_checks_calls_are_shown_capped_with_the_cut_counted(tmp_path):
    # print() debugging, the way a beginner does it: a wrong socket type, and a print in a loop.
    source = SOLUTION_1.replace(
        "    return socket.socket(family, socket.SOCK_STREAM)",
        "    print('debug: family is', family)\n"
        "    for i in range(500):\n"
        "        print('tick', i)\n"
        "    return socket.socket(family, socket.SOCK_DGRAM)")
    assert source != SOLUTION_1
    sub = one_stage(tmp_path, source)
    done = run("check", "1", "--path", str(sub))
    assert done.returncode == 1
    out = done.stdout
    assert "what your code printed:" in out
    assert "tick 499" in out  # the last lines are kept ...
    assert "debug: family is" not in out  # ... the first ones cut, and counted
    assert re.search(r"… \d+ earlier lines cut \(tcplab check -v shows them all\)", out)
    assert len(lines(out)) <= BUDGET + 20
    verbose = run("check", "1", "--path", str(sub), "-v").stdout
    assert "debug: family is" in verbose and "tick 0" in verbose
    graded = json.loads(run("check", "1", "--path", str(sub), "--format", "json").stdout)
    printed = [c.get("printed", "") for s in graded["submissions"] for st in s["stages"] for c in st["checks"]
               if c["status"] != "passed"]
    assert any("tick 499" in p for p in printed)
