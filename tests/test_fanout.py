"""Checks side by side (graders/grading/fanout.py, issue 13): the same results as one after
another, in the same order; dependent checks kept together; a runner lost to student code
costs only the checks it was running, and never the grading."""

from __future__ import annotations

import shutil
import time

import pytest

from graders.grading.fanout import Schedule, Unit
from graders.grading.runner import grade_root
from graders.stages import SOLUTIONS, all_stages, find_stage

STAGES = list(all_stages())


def verdicts(result) -> list[tuple[str, str, float]]:
    return [(c.id, c.status, c.score) for s in result.stages for c in s.checks]


def test_side_by_side_gives_the_results_of_one_after_another_in_the_same_order():
    chosen = [find_stage("2"), find_stage("6")]  # stage 06 has checks that depend on others
    alone = grade_root(SOLUTIONS, chosen, label="s", hidden=True, runners=1)
    side_by_side = grade_root(SOLUTIONS, chosen, label="s", hidden=True, runners=6)
    assert verdicts(side_by_side) == verdicts(alone)
    assert all(status == "passed" for _, status, _ in verdicts(side_by_side))
    assert [s.status for s in side_by_side.stages] == ["passed", "passed"]


def test_a_check_that_waits_for_another_is_skipped_when_that_one_fails_side_by_side(tmp_path):
    # Stage 02's port-reuse check depends on its listener check: a module that opens no
    # listener must get it skipped, naming the check it waits for, as in a serial run.
    root = tmp_path / "exercises"
    shutil.copytree(SOLUTIONS / "02_bind_listen", root / "02_bind_listen")
    module = root / "02_bind_listen" / "bind_listen.py"
    module.write_text(module.read_text().replace("def open_listener(", "def _unused(") +
                      "\n\ndef open_listener(*args, **kwargs):\n    raise OSError('no listener today')\n")
    stage = [find_stage("2")]
    alone = grade_root(root, stage, label="s", runners=1)
    side_by_side = grade_root(root, stage, label="s", runners=4)
    assert verdicts(side_by_side) == verdicts(alone)
    skipped = [c for c in side_by_side.stages[0].checks if c.status == "skipped"]
    assert skipped and all(c.message.startswith("skipped: it needs “") for c in skipped), [c.message for c in skipped]


@pytest.mark.parametrize("signum", ["SIGKILL", "SIGSTOP"])
def test_a_runner_killed_or_stopped_by_student_code_costs_only_its_checks(tmp_path, signum):
    # A student's worker is the child of a runner, as the same user: code that kills or
    # freezes its parent ends that runner. Its checks fail, worth nothing; the others still
    # run, and a frozen runner does not hold up the grading.
    root = tmp_path / "exercises"
    shutil.copytree(SOLUTIONS / "01_create_socket", root / "01_create_socket")
    module = root / "01_create_socket" / "create_socket.py"
    module.write_text(module.read_text() + (
        "\n\nimport os as _os, signal as _signal\n_real = describe_socket\n\n"
        f"def describe_socket(sock):\n    _os.kill(_os.getppid(), _signal.{signum})\n    return _real(sock)\n"))
    started = time.monotonic()
    result = grade_root(root, [find_stage("1")], label="s", runners=3)
    assert time.monotonic() - started < 60
    checks = result.stages[0].checks
    assert len(checks) == len(grade_root(SOLUTIONS, [find_stage("1")], label="s", runners=1).stages[0].checks)
    lost = [c for c in checks if "the grader's process running this check was killed" in c.message]
    assert lost and all(c.status == "failed" and c.score == 0 for c in lost), [c.message for c in checks]
    assert any(c.status == "passed" for c in checks), "checks that never call describe_socket still pass"
    assert result.stages[0].status == "failed"


def test_a_runner_stays_on_the_stages_it_has_workers_for():
    units = [Unit("a", [0]), Unit("a", [1]), Unit("b", [2]), Unit("b", [3]), Unit("c", [4])]
    schedule = Schedule(units)
    assert schedule.first_stages(2) == ["a", "b"]
    assert units[schedule.take({"a"})].stage == "a"
    assert units[schedule.take({"a"})].stage == "a"
    schedule.finished(0, 1.0)
    # "a" is done: the runner moves to the stage with the most waiting left (b: 2 units)
    assert units[schedule.take({"a"})].stage == "b"
    assert units[schedule.take({"c"})].stage == "c"
    assert units[schedule.take({"c"})].stage == "b"
    assert schedule.take({"a", "b", "c"}) is None
