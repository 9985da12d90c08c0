"""How check outcomes become results: passes, failures, grader faults, backstops, dependencies."""

from __future__ import annotations

import textwrap

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
