"""How check outcomes become results: passes, failures, grader faults, backstops, dependencies."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap

from graders.checking.declare import (
    CallTimedOut,
    CheckSpec,
    CodeError,
    Failure,
    NotImplementedYet,
    spec_of,
)
from graders.grading import outcome as outcomes
from graders.grading.outcome import result_of
from graders.grading.plugin import Collector
from graders.grading.runner import run_pytest
from graders.stages import SOLUTIONS, find_stage

CHECKS = textwrap.dedent('''
    import time
    from graders.api import Failure, check

    @check(points=1, hint="h1")
    def test_passes(lab):
        """passes"""
        lab.returned(lab.call("create_tcp_socket")).close()

    @check(points=2, hint="h2")
    def test_fails(lab):
        """fails"""
        raise Failure("wrong", expected="a", actual="b")

    @check(points=1, hint="h3", depends="fails")
    def test_needs_the_failing_one(lab):
        """needs fails"""

    @check(points=1, hint="h4")
    def test_grader_bug(lab):
        """grader bug"""
        {}["missing"]

    @check(points=1, hint="h5", backstop=0.5)
    def test_runs_past_its_backstop(lab):
        """runs past its backstop"""
        time.sleep(5)  # a check that hangs: only the backstop can end it
''')


def test_outcomes_become_results(tmp_path):
    stage = find_stage("1")
    folder = tmp_path / stage.id
    folder.mkdir()
    (folder / "test_fake.py").write_text(CHECKS)
    collector = Collector(SOLUTIONS, [stage])
    try:
        run_pytest([str(folder / "test_fake.py")], collector)
        (result,) = collector.stage_results()
    finally:
        collector.close()
    by_name = {c.name: c for c in result.checks}
    assert by_name["passes"].status == "passed" and by_name["passes"].score == 1
    fails = by_name["fails"]
    assert fails.status == "failed" and fails.score == 0 and fails.hint == "h2"
    assert "expected: a" in fails.message and "got:      b" in fails.message
    skipped = by_name["needs_the_failing_one"]
    assert skipped.status == "skipped" and "fails" in skipped.message
    bug = by_name["grader_bug"]
    assert bug.status == "error" and "the grader ran into an error" in bug.message
    assert by_name["runs_past_its_backstop"].status == "timeout"
    assert result.status == "failed" and result.max_score == 6


def test_a_module_that_is_not_there_fails_every_check_without_running_it(tmp_path):
    stage = find_stage("1")
    folder = tmp_path / stage.id
    folder.mkdir()
    (folder / "test_fake.py").write_text(CHECKS)
    collector = Collector(tmp_path / "empty", [stage])
    try:
        run_pytest([str(folder / "test_fake.py")], collector)
        (result,) = collector.stage_results()
    finally:
        collector.close()
    ran = {c.name: c for c in result.checks if c.status != "skipped"}
    # Even the checks that never call the student's code (and the one that would hang) fail
    # at once with what the first call would have said: there is no module to judge.
    assert set(ran) == {"passes", "fails", "grader_bug", "runs_past_its_backstop"}
    assert all(c.status == "failed" and "create_socket.py was not found" in c.message for c in ran.values()), ran
    assert result.status == "missing"


# -- one set of rules, for pytest and for notebooks alike --------------------------------------------
def test_a_grade_cell_judges_the_checks_as_pytest_does(tmp_path):
    """The same checks, run by the plugin and by a notebook's run_check: the same results."""
    import importlib.util
    import runpy

    from graders.notebook.cells import NotebookCheck, run_check

    stage = find_stage("1")
    folder = tmp_path / stage.id
    folder.mkdir()
    path = folder / "test_fake.py"
    path.write_text(CHECKS)
    collector = Collector(SOLUTIONS, [stage])
    try:
        run_pytest([str(path)], collector)
        (result,) = collector.stage_results()
    finally:
        collector.close()
    by_pytest = {c.name: c for c in result.checks}

    module_spec = importlib.util.spec_from_file_location("tcplab_fake_checks", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    namespace = runpy.run_path(str(stage.module_path(SOLUTIONS)))
    for value in vars(module).values():
        spec = spec_of(value)
        if spec is None or spec.depends:  # a grade cell stands alone: it never skips
            continue
        in_notebook = run_check(NotebookCheck(stage, spec, value, False, path), namespace)
        in_pytest = by_pytest[spec.name]
        assert (in_notebook.status, in_notebook.score, in_notebook.max_score, in_notebook.hint) == \
            (in_pytest.status, in_pytest.score, in_pytest.max_score, in_pytest.hint), spec.name
        # pytest knows where a grader fault was raised (" (test_fake.py, line N)"); a grade cell does not say
        assert in_notebook.message == re.sub(r" \(test_fake\.py, line \d+\)", "", in_pytest.message), spec.name


def test_outcomes_become_results_by_one_set_of_rules():
    spec = CheckSpec(name="x", title="does x", points=2.0, hint="the check's hint", backstop=3.0)

    def result(outcome, **kwargs):
        return result_of(outcome, spec, id="01_create_socket.x", hidden=False, **kwargs)

    passed = result(outcomes.returned())
    assert (passed.status, passed.score, passed.message, passed.hint) == ("passed", 2.0, "", "")
    stub = result(outcomes.raised(NotImplementedYet("not implemented yet: f() still raises NotImplementedError")))
    assert (stub.status, stub.score, stub.hint) == ("failed", 0.0, "the check's hint")
    wrong = result(outcomes.raised(Failure("wrong", expected="a", actual="b", hint="its own hint")))
    assert (wrong.status, wrong.message, wrong.hint) == ("failed", "wrong\nexpected: a\ngot:      b", "its own hint")
    assert result(outcomes.raised(CallTimedOut("f() did not return within 2 s"))).status == "timeout"
    missing = result(outcomes.raised(CodeError("x.py was not found")), module_file="01_create_socket/x.py")
    assert missing.status == "error" and missing.hint.startswith("Create 01_create_socket/x.py")
    assert result(outcomes.raised(CodeError("x.py was not found"))).hint == "the check's hint"
    bug = result(outcomes.raised(KeyError("missing"), " (test_x.py, line 3)"))
    assert bug.status == "error" and bug.message == (
        "the grader ran into an error, not your code's fault: KeyError: 'missing' (test_x.py, line 3). "
        "Please tell your instructor.")
    # a Failure raised while setting a check up is still the grader's fault, not the student's
    assert result(outcomes.set_up_failed(Failure("from a fixture"))).status == "error"
    late = result(outcomes.ran_past_backstop())
    assert (late.status, late.message, late.hint) == ("timeout", "the check did not finish within its 3 s backstop",
                                                      "the check's hint")
    skip = result(outcomes.skipped(outcomes.needs_message("does y")))
    assert (skip.status, skip.message, skip.hint) == ("skipped", "skipped: it needs “does y”, which did not pass", "")


def test_outcome_rules_need_no_pytest():
    done = subprocess.run([sys.executable, "-c", "import sys, graders.grading.outcome, graders.notebook; "
                           "sys.exit('pytest' in sys.modules)"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr or "graders.grading.outcome (or graders.notebook) imports pytest"
