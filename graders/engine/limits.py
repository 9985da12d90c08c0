"""The limits a worker runs under, and killing a worker with everything it started.

A worker gets its own session (so its process group can be killed whole, children
included) and these rlimits, set by the worker on itself before it imports student code.
Memory is bounded with RLIMIT_AS together with a small thread stack (see worker.py) and
MALLOC_ARENA_MAX, which keep threaded servers well inside the limit.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    # Why these values: far above what any correct solution needs (the 128 MiB transfer
    # streams in 64 KiB chunks), far below what would hurt a 2-core, shared machine.
    address_space: int = 2 * 1024**3
    open_files: int = 256
    cpu_seconds: int = 120
    file_size: int = 1024**3
    processes: int | None = None  # RLIMIT_NPROC counts the user's processes: set per user

    def as_rlimits(self) -> dict[str, int | None]:
        return {
            "RLIMIT_AS": self.address_space,
            "RLIMIT_NOFILE": self.open_files,
            "RLIMIT_CPU": self.cpu_seconds,
            "RLIMIT_FSIZE": self.file_size,
            "RLIMIT_NPROC": self.processes,
            "RLIMIT_CORE": 0,
        }


# What student code may see of the grader's environment: what a program needs to run and
# to speak the user's language, nothing else. Anything else the grader's shell holds (a
# GITHUB_TOKEN, AWS_SECRET_ACCESS_KEY, a database URL) could be printed into feedback.
ALLOWED_ENV = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ", "TERM",
               "HOME", "TMPDIR", "LD_LIBRARY_PATH", "SYSTEMROOT")


def allowed_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The allow-listed part of an environment (os.environ by default)."""
    environ = os.environ if environ is None else environ
    return {k: environ[k] for k in ALLOWED_ENV if k in environ}


def worker_env(extra_path: str) -> dict[str, str]:
    env = allowed_env()
    env.update(
        PYTHONPATH=extra_path,
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONUNBUFFERED="1",
        # Why: each glibc arena reserves 64 MiB of address space per thread otherwise.
        MALLOC_ARENA_MAX="2",
    )
    return env


def kill_group(proc: subprocess.Popen) -> None:
    """SIGKILL the worker's whole process group, then reap the worker."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.kill()
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def rlimit_nofile() -> int:
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
