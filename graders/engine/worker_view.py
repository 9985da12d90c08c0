"""What the grader sees of a worker process from outside it, through /proc/<pid>.

Student code runs inside the worker and can patch anything there (`import __main__`, the
worker's functions, its counters), so the measurements a check relies on are taken here,
in the grader's process, from the kernel's own records of the worker:

- open file descriptors and what each refers to (/proc/<pid>/fd: "socket:[inode]", a path),
  so "left a socket open" and "closed the socket it was given" are kernel facts;
- the peak resident memory of a call (the VmHWM mark in /proc/<pid>/status, which writing
  5 to /proc/<pid>/clear_refs resets to the current RSS);
- CPU time, user + system, of every thread (/proc/<pid>/stat);
- how long each thread has been runnable: on a CPU or waiting in the run queue for one
  (/proc/<pid>/task/<tid>/schedstat), the measure of a busy loop that load cannot hide;
- what a leaked socket is (its addresses and state, from /proc/<pid>/net/tcp and tcp6).

Where there is no /proc (macOS) `available()` is False and the worker's own report is all
there is: a student's own machine, never the grading of a class. Where /proc exists but
the worker's entries cannot be read (student code made its process non-dumpable, say),
`Unreadable` is raised and the call is reported as not inspectable, never as clean.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

_PROC = "/proc"
_TCP_STATES = {"0A": "listening socket"}


class Unreadable(OSError):
    """The worker's /proc entries could not be read."""


def available() -> bool:
    return os.path.isfile(f"{_PROC}/self/status")


@dataclass(frozen=True)
class FdTable:
    """fd number -> what it refers to ("socket:[1234]", "/tmp/x", "pipe:[99]")."""

    entries: dict[int, str] = field(default_factory=dict)

    def count(self, target: str) -> int:
        return sum(1 for t in self.entries.values() if t == target)

    def targets(self) -> set[str]:
        return set(self.entries.values())


def fd_table(pid: int) -> FdTable:
    where = f"{_PROC}/{pid}/fd"
    try:
        names = os.listdir(where)
    except OSError as exc:
        raise Unreadable(exc.errno, f"cannot list {where}: {exc.strerror}") from exc
    entries = {}
    for name in names:
        try:
            entries[int(name)] = os.readlink(f"{where}/{name}")
        except (OSError, ValueError):
            continue  # closed while we looked
    return FdTable(entries)


def target_of(sock: socket.socket) -> str:
    """How /proc names the open file a socket of ours refers to (the same in every process)."""
    return f"socket:[{os.fstat(sock.fileno()).st_ino}]"


def new_entries(before: FdTable, after: FdTable, exclude: set[str]) -> dict[int, str]:
    """The fds open after that were not open before (same number, same file), minus `exclude`."""
    return {fd: t for fd, t in sorted(after.entries.items())
            if before.entries.get(fd) != t and t not in exclude}


def describe(pid: int, fd: int, target: str) -> str:
    """A leaked fd in the words a student reads: what kind of socket, and its addresses."""
    if not target.startswith("socket:["):
        return f"fd {fd} ({target})"
    inode = target[len("socket:["):-1]
    found = _tcp_socket(pid, inode)
    if found is None:
        return f"a socket (fd {fd})"
    kind, local, peer = found
    return f"a {kind} (fd {fd}, local {local}, peer {peer})"


def _tcp_socket(pid: int, inode: str) -> tuple[str, tuple, tuple | None] | None:
    for table, family in (("tcp", socket.AF_INET), ("tcp6", socket.AF_INET6)):
        try:
            with open(f"{_PROC}/{pid}/net/{table}") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[9] == inode:
                kind = _TCP_STATES.get(fields[3], "socket")
                local = _address(fields[1], family)
                peer = None if fields[3] == "0A" else _address(fields[2], family)
                return kind, local, peer
    return None


def _address(text: str, family: socket.AddressFamily) -> tuple:
    """"0100007F:1F90" (host-order words, as the kernel prints them) -> ('127.0.0.1', 8080)."""
    host, port = text.split(":")
    raw = bytes.fromhex(host)
    # The kernel prints each 32-bit word of the address in host byte order.
    packed = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4)) if _little_endian() else raw
    address = socket.inet_ntop(family, packed)
    return (address, int(port, 16)) if family == socket.AF_INET else (address, int(port, 16), 0, 0)


def _little_endian() -> bool:
    import sys

    return sys.byteorder == "little"


# -- memory and CPU ------------------------------------------------------------------------------
def reset_peak_rss(pid: int) -> int:
    """Resets the worker's peak-RSS mark to its current RSS; returns that RSS in KiB."""
    try:
        with open(f"{_PROC}/{pid}/clear_refs", "w") as f:
            f.write("5")
    except OSError as exc:
        raise Unreadable(exc.errno, f"cannot reset the peak RSS of {pid}: {exc.strerror}") from exc
    return _status_kb(pid, "VmRSS")


def peak_rss_kb(pid: int) -> int:
    return _status_kb(pid, "VmHWM")


def _status_kb(pid: int, name: str) -> int:
    try:
        with open(f"{_PROC}/{pid}/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError) as exc:
        raise Unreadable(getattr(exc, "errno", None) or 0, f"cannot read {name} of {pid}: {exc}") from exc
    raise Unreadable(0, f"no {name} in /proc/{pid}/status")


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of every thread of the process, so far."""
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError as exc:
        raise Unreadable(exc.errno, f"cannot read the CPU time of {pid}: {exc.strerror}") from exc
    # The command name may hold spaces and parentheses: the fields start after the last ')'.
    fields = data[data.rfind(b")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def runnable_ns(pid: int) -> dict[int, tuple[int, int, int]] | None:
    """Thread id -> (nanoseconds it has spent runnable so far, times it was put on a CPU,
    nanoseconds of those on a CPU) for each thread of the process; None where the kernel keeps
    no schedstat.

    Runnable means on a CPU or waiting in the run queue for one. Why that and not CPU time: a
    thread that spins is runnable all the time, whatever the load; on a busy machine it gets
    less CPU (the others get their share) but waits for a CPU the rest of the time, so the sum
    stays the wall time. A thread that waits for input sleeps and is neither. The count of
    times on a CPU gives away a thread that sleeps a millisecond at a time between polls.
    Load can only make an idle server look idler, never busy. The time on a CPU per time put
    on one tells a poll from a spin whatever the load: a poller runs microseconds at each
    wake-up and sleeps again (on a loaded machine it waits longer for a CPU, so it may look
    runnable much of the time); a spinner runs until it is taken off the CPU.
    """
    where = f"{_PROC}/{pid}/task"
    try:
        tids = os.listdir(where)
    except OSError:
        return None
    times: dict[int, tuple[int, int, int]] = {}
    for tid in tids:
        try:
            with open(f"{where}/{tid}/schedstat", "rb") as f:
                fields = f.read().split()
            times[int(tid)] = (int(fields[0]) + int(fields[1]), int(fields[2]), int(fields[0]))
        except (OSError, ValueError, IndexError):
            continue  # a thread that ended just now
    return times or None


def runnable_between(before: dict[int, tuple[int, ...]], after: dict[int, tuple[int, ...]]) -> tuple[float, int]:
    """(seconds the threads were runnable, together; the most times any one of them was put on
    a CPU) between two runnable_ns readings. Threads that ended in between are not counted;
    those that started are counted whole."""
    seconds, most = 0.0, 0
    for tid, (ns, count, *_) in after.items():
        ns0, count0, *_ = before.get(tid, (0, 0))
        if ns >= ns0:
            seconds += (ns - ns0) / 1e9
            most = max(most, count - count0)
    return seconds, most


def mean_run_between(before: dict[int, tuple[int, ...]], after: dict[int, tuple[int, ...]]) -> float | None:
    """Seconds on a CPU per time put on one, for the thread that was on a CPU longest between two
    runnable_ns readings (None: no thread ran). A thread that polls (a try, then a short sleep)
    runs microseconds each time; one that spins runs until the scheduler takes it off."""
    longest: tuple[int, int] | None = None  # (ns on a CPU, times put on one)
    for tid, fields in after.items():
        if len(fields) < 3:
            continue
        ns0, count0, cpu0 = (before.get(tid) or (0, 0, 0))[:3]
        cpu, count = fields[2] - cpu0, fields[1] - count0
        if count > 0 and cpu >= 0 and (longest is None or cpu > longest[0]):
            longest = (cpu, count)
    return None if longest is None else longest[0] / 1e9 / longest[1]


@dataclass
class Before:
    """The worker as it was when a call was sent."""

    fds: FdTable
    rss_kb: int | None  # None: this kernel cannot reset the peak mark (the worker measures)
    cpu: float
    args: list[str]  # what each socket argument refers to


def before_call(pid: int, args: list[socket.socket]) -> Before:
    fds = fd_table(pid)  # Unreadable: nothing can be judged, the caller fails the call closed
    try:
        rss: int | None = reset_peak_rss(pid)
    except Unreadable:
        rss = None
    return Before(fds, rss, cpu_seconds(pid), [target_of(s) for s in args])


@dataclass
class After:
    leaked: list[str]
    closed_args: list[int]
    rss_growth_kb: int | None
    cpu_seconds: float


def after_call(pid: int, before: Before, returned: list[socket.socket]) -> After:
    """What the call left behind, judged from the kernel's records (the worker is idle now)."""
    fds = fd_table(pid)
    exclude = set(before.args) | {target_of(s) for s in returned}
    leaked = [describe(pid, fd, t) for fd, t in new_entries(before.fds, fds, exclude).items()]
    # A dup of a socket argument kept open is one fd too many: a leak like any other.
    for target in set(before.args):
        extra = fds.count(target) - before.args.count(target)
        leaked += [f"a duplicate of a socket it was given ({target})"] * max(0, extra)
    closed = [i for i, t in enumerate(before.args) if fds.count(t) == 0]
    growth = None if before.rss_kb is None else max(0, peak_rss_kb(pid) - before.rss_kb)
    return After(leaked, closed, growth, max(0.0, cpu_seconds(pid) - before.cpu))
