"""The processes around a grading child: its tie to the coordinator, and what a grading leaves behind.

Student code can start processes that outlive the check that started them (a double-forked,
setsid'd daemon, say). Where the grading child is pid 1 of its own pid namespace, the kernel
kills them with it; where it is not (graders/batch/isolation.py's "none" level), they are
found here, through /proc, and killed:

- `become_subreaper()`: orphans below the child are handed to it rather than to init, so that
  `descendants()` still finds them once the process between them has exited;
- `descendants(pid)`, `kill_descendants()`: every live process below one, SIGKILLed round after
  round until none is left, and reaped;
- `ask_to_die_with_parent()`, `parent_gone(fd)`: the child's end of its tie to the coordinator,
  so that a coordinator killed with `kill -9` never leaves a child running student code with no
  deadline (graders/batch/lockdown.py's die_with_parent says when and why).

The coordinator uses `descendants` too, to kill what a child that ran out of time started.
The calls Python's os module lacks (prctl(2) here, mount(2) and capset(2) in lockdown) go
through `libc()` and `checked()`, so that a failure is an OSError with its errno, like os's own.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import signal
from typing import Any

# prctl(2) options (include/uapi/linux/prctl.h) used here; lockdown.py names the ones it uses.
PR_SET_PDEATHSIG = 1  # the signal we get when our parent dies
PR_SET_CHILD_SUBREAPER = 36  # orphans below us are re-parented to us, not to init

_libc: Any = None


def libc() -> Any:
    """The C library, loaded once, keeping errno for `checked`."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    return _libc


def checked(result: int, what: str) -> None:
    """Raises OSError (with its errno) when a libc call returned what says it failed."""
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def prctl(option: int, arg: int) -> None:
    checked(libc().prctl(option, ctypes.c_ulong(arg), ctypes.c_ulong(0), ctypes.c_ulong(0),
                         ctypes.c_ulong(0)), f"prctl({option})")


# -- the tie to the coordinator --------------------------------------------------------------------
def become_subreaper() -> None:
    """Orphaned descendants are re-parented to us: an escapee stays below us, to be killed."""
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def ask_to_die_with_parent() -> None:
    """SIGKILL when our parent dies. The kernel forgets it when our uid changes: arm it after."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def parent_gone(pipe_fd: int) -> bool:
    """True when nobody reads the pipe any more (poll says POLLERR for its write end)."""
    try:
        poller = select.poll()
        poller.register(pipe_fd, select.POLLOUT)
        return any(ev & (select.POLLERR | select.POLLHUP | select.POLLNVAL) for _, ev in poller.poll(0))
    except (OSError, ValueError):
        return False


# -- what a grading leaves behind ------------------------------------------------------------------
def descendants(root: int) -> list[int]:
    """Every live process below `root`, found through /proc (children before grandchildren)."""
    parents: dict[int, int] = {}
    if not os.path.isdir("/proc"):
        return []  # no procfs (macOS): the process group kill is all there is
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                data = f.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: the fields start after the last ')'.
        rest = data[data.rfind(b")") + 2:].split()
        if rest[0] != b"Z":  # a zombie is dead already: its parent reaps it
            parents[int(name)] = int(rest[1])
    found, frontier = [], [root]
    while frontier:
        pid = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == pid]
        found += kids
        frontier += kids
    return found


def kill_all(pids: list[int]) -> int:
    """SIGKILLs each of `pids` that is still there (and ours to kill); returns how many were."""
    killed = 0
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except (ProcessLookupError, PermissionError):
            pass
    return killed


def kill_descendants(root: int | None = None, rounds: int = 50) -> int:
    """SIGKILLs everything below `root` (default: us) until nothing is left; reaps what is ours."""
    root = os.getpid() if root is None else root
    killed = 0
    for _ in range(rounds):
        pids = descendants(root)
        if not pids:
            break
        killed += kill_all(pids)
        if root == os.getpid():
            _reap()
    return killed


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
