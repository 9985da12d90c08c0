"""How much runs at a time on this machine: submissions (`tcplab grade --jobs`), checks within one.

Most of a check is waiting (a timeout the student's code must hit, a backoff, an idle peer), so
the cores stay busy only when several checks run at a time: graders/grading/fanout.py runs a
submission's checks in `default_runners()` processes side by side. Kept apart from fanout.py so
that the command line can ask without importing pytest.
"""

from __future__ import annotations

import os

# Why 4 per core: the checks of the reference solutions wait about three quarters of the time
# they take (benchmarks/speed.py prints wall and CPU time); four runners a core keep the cores
# busy, and more only start more workers.
RUNNERS_PER_CORE = 4
MAX_RUNNERS = 16


def cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def default_runners(jobs: int = 1) -> int:
    """Runners for one submission when `jobs` submissions are graded at a time."""
    return max(1, min(MAX_RUNNERS, -(-RUNNERS_PER_CORE * cores() // max(1, jobs))))
