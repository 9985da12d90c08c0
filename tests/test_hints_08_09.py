"""Stages 08–09: a failure names the student's real mistake, and a README rule's common violation
is caught before hand-in.

- Hints follow the diagnosis: where one check can fail in ways that need different fixes (a room
  that waits on a slow member, or one that never drops it; a thread that spins, or one that
  polls; a server that returned early, or one that left a thread behind), the hint is the one for
  what the check saw. Graded the way a user would, on corpus modules.
- Green locally means green when graded, but for depth: every buggy corpus module of these
  stages fails at least one PUBLIC check, unless its docstring says it is "A matter of depth".
"""

from __future__ import annotations

import pytest

from graders.api import concurrency
from graders.stages import all_stages
from tests.corpus import diagnosis_problem, graded_bugs, green_locally

pytestmark = pytest.mark.timeout(1200)

STAGES = {s.id: s for s in all_stages() if s.id in ("08_concurrency", "09_heartbeat")}

# (stage, corpus module, check, the hint it must give): not the check's general hint.
DIAGNOSED = [
    ("08_concurrency", "bug_chat_sendall_under_lock", "chat_slow_member_stalls_no_one", concurrency.STALLED_HINT),
    ("08_concurrency", "bug_chat_unbounded_queue", "chat_slow_member_stalls_no_one", concurrency.UNBOUNDED_HINT),
    ("08_concurrency", "bug_recv_poll_with_sleep", "concurrently_idle_server_uses_no_cpu", concurrency.POLL_HINT),
    ("08_concurrency", "bug_select_timeout_zero", "concurrently_idle_server_uses_no_cpu", concurrency.BUSY_HINT),
    ("08_concurrency", "bug_daemon_threads_no_join", "concurrently_leaves_no_threads_behind",
     concurrency.RETURNED_EARLY_HINT),
    ("08_concurrency", "bug_watchdog_timer_left_running", "concurrently_leaves_no_threads_behind",
     concurrency.THREADS_LEFT_HINT),
]


@pytest.fixture(scope="session")
def graded(corpus_dir: str) -> dict[tuple[str, str], dict]:
    """Every bug_* corpus module of stages 08–09, graded (hidden checks included): (stage, stem) -> stage result."""
    return graded_bugs(corpus_dir, STAGES)


@pytest.mark.parametrize("stage_id,module,check,hint", DIAGNOSED, ids=lambda v: v if isinstance(v, str) and
                         v.startswith(("bug_", "0")) else "")
def test_a_failure_gets_the_hint_of_what_the_check_saw(graded, stage_id, module, check, hint):
    problem = diagnosis_problem(graded, stage_id, module, check, hint)
    assert problem is None, problem


@pytest.mark.parametrize("stage_id", list(STAGES))
def test_every_bug_fails_a_public_check_unless_it_is_a_matter_of_depth(graded, stage_id):
    green = green_locally(graded, stage_id)
    assert not green, f"caught by hidden checks only (tcplab check shows them green): {green}"
