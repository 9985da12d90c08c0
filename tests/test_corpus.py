"""Every stage: the solution passes, the stub fails cleanly, the corpus is judged right."""

from __future__ import annotations

import pytest

from graders.stages import all_stages
from tests.corpus import (
    EXERCISES,
    SOLUTIONS,
    corpus_files,
    grade_many,
    graded_corpora,
    graded_corpus,
    intended_checks,
    stage_of,
    stages_in_session,
)

STAGES = list(all_stages())


@pytest.fixture(scope="session")
def reference_and_stubs() -> dict[str, dict]:
    return grade_many([SOLUTIONS, EXERCISES])


# Why 1800 s: the first test of a stage grades that stage's whole corpus (a few dozen
# submissions, some of which hang until their deadline by design) before it can assert.
pytestmark = pytest.mark.timeout(1800)


@pytest.fixture
def corpus(corpus_dir, stage, request) -> dict[str, dict]:
    # Every stage this session tests, graded side by side the first time any is needed.
    graded_corpora(corpus_dir, stages_in_session(request, "corpus") & {s.id for s in STAGES})
    return graded_corpus(corpus_dir, stage.id)


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.id)
def test_reference_solution_passes_every_check(reference_and_stubs, stage):
    result = stage_of(reference_and_stubs[str(SOLUTIONS)], stage)
    assert result["checks"], f"{stage.id} has no checks"
    failing = {c["id"]: c["message"] for c in result["checks"] if c["status"] != "passed"}
    assert not failing
    assert result["status"] == "passed"


@pytest.mark.parametrize("stage", STAGES, ids=lambda s: s.id)
def test_stub_fails_every_check_cleanly(reference_and_stubs, stage):
    result = stage_of(reference_and_stubs[str(EXERCISES)], stage)
    assert result["checks"], f"{stage.id} has no checks"
    for c in result["checks"]:
        assert c["status"] in ("failed", "skipped"), c
        if c["status"] == "failed":
            assert c["message"].startswith("not implemented yet"), c
    assert result["score"] == 0


@pytest.mark.parametrize("stage,path", corpus_files("ok"), ids=lambda v: getattr(v, "stem", None) or v.id)
def test_correct_alternative_passes(corpus, stage, path):
    result = stage_of(corpus[_key(corpus, stage, path)], stage)
    failing = {c["id"]: c["message"] for c in result["checks"] if c["status"] != "passed"}
    assert not failing


@pytest.mark.parametrize("stage,path", corpus_files("bug"), ids=lambda v: getattr(v, "stem", None) or v.id)
def test_buggy_solution_caught_by_its_check(corpus, stage, path):
    wanted = intended_checks(path)
    assert wanted, f"{path.name} does not say which check catches it (a 'Caught by:' line)"
    result = stage_of(corpus[_key(corpus, stage, path)], stage)
    by_name = {c["id"].split(".", 1)[1]: c for c in result["checks"]}
    for name in wanted:
        assert name in by_name, f"{path.name} names {name}, which is not a check of {stage.id}"
        assert by_name[name]["status"] in ("failed", "timeout"), by_name[name]
    assert result["status"] == "failed"


def _key(corpus: dict, stage, path) -> str:
    suffix = f"{stage.id}-{path.stem}"
    return next(k for k in corpus if k.endswith(suffix))
