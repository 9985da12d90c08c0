"""Hostile: a fork bomb at import; every child leaves the process group (setsid) and sleeps.

Each process forks at most 12 times, so on a machine with no bound at all it stops at
4096 processes; the grader's bounds (RLIMIT_NPROC, a pids cgroup) stop it far earlier.
Expect: the import never finishes, the stage is worth 0, no process is left afterwards.
"""

import os
import time

MARKER = "tcplab-hostile-marker"

for _ in range(12):
    try:
        if os.fork() == 0:
            try:
                os.setsid()  # out of the worker's process group: a group kill misses us
            except OSError:
                pass
    except OSError:
        time.sleep(0.05)
while True:
    time.sleep(3600)
