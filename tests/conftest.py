"""Fixtures shared by the test modules that grade the fixture corpus (tests/corpus.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Where the corpus modules are graded, once a session: test_corpus and the hint tests read the
    same gradings (tests/corpus.py's graded_corpus caches them by this folder)."""
    return str(tmp_path_factory.mktemp("corpus"))
