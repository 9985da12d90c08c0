"""Which walls this system lets the coordinator put around a grading child, and building them.

Three levels, the best that works is chosen once per batch (TCPLAB_ISOLATION=namespaces|
userns|none forces one, for tests and for kernels that misbehave):

- "namespaces" (we are root, as on Gradescope): `unshare --net --pid --mount`; the child
  joins its job's pids and memory cgroups, confines the filesystem to the system folders
  and the paths grading needs (another clone of the course elsewhere is out of sight too),
  hides the secrets among those, makes the filesystem read-only and becomes the job
  slot's own unprivileged uid (61000 + slot by default).
- "userns" (not root, user namespaces allowed): the same with `unshare --user
  --map-root-user`; instead of another uid the child drops every capability. Student
  code still runs as the instructor's uid outside, so the read-only, hiding mounts are
  what keep course files and the gradebook safe; RLIMIT_NPROC bounds fork bombs.
- "none": no namespaces. Root still switches uid when the interpreter is readable by it;
  the child is a subreaper that kills every descendant at the end; no network isolation
  (parallel gradings share ports: the checks' own listeners use port 0, so they do not
  collide), and the secrets are only as hidden as their file permissions make them.
"""

from __future__ import annotations

import fcntl
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from graders.batch.processes import kill_all

# Why 61000: above the ranges distributions hand out to people (1000–60000) and below
# nobody (65534); one uid per job slot (see UidLease), so that RLIMIT_NPROC and kill()
# in one submission cannot reach the processes grading another.
UID_BASE = int(os.environ.get("TCPLAB_UID_BASE", "61000"))
UID_RANGE = 1000
# Why these bounds: a grading child, its workers and a threaded student server use a
# few dozen tasks and a few hundred MiB; a fork bomb or a memory hog meets the wall
# long before the machine notices.
PIDS_MAX = 1024
NPROC_BUDGET = 512
MEMORY_MAX = 4 * 1024**3

UNSHARE_NS = ["--net", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc"]
# Shared memory, message queues and semaphores that student code makes (mode 0666, say)
# would outlive the grading on the host and be readable by the next submission; in an IPC
# namespace they die with it. The UTS namespace keeps sethostname() to itself.
IPC_UTS_NS = ["--ipc", "--uts"]


@dataclass
class Isolation:
    level: str  # namespaces | userns | none
    prefix: list[str] = field(default_factory=list)  # command prefix for the grading child
    switch_uid: bool = False
    cgroups: bool = False
    ipc: bool = False  # own IPC and UTS namespaces (else: IPC objects are removed after each job)
    notes: list[str] = field(default_factory=list)  # protections missing, for the instructor

    @property
    def namespaces(self) -> bool:
        return self.level in ("namespaces", "userns")

    def describe(self) -> str:
        parts = {
            "namespaces": "own network, pid{ipc} and mount namespaces (a read-only view of the system and the engine)",
            "userns": "own user, network, pid{ipc} and mount namespaces (a read-only view of the system and the "
                      "engine)",
            "none": "no namespaces",
        }[self.level].format(ipc=", IPC, UTS" if self.ipc else "")
        if self.switch_uid:
            parts += f", an unprivileged uid per job slot (from {UID_BASE})"
        if self.cgroups:
            parts += f", cgroup (≤{PIDS_MAX} tasks, ≤{MEMORY_MAX // 2**30} GiB)"
        return parts


def _namespaces_that_work(unshare: list[str], probe: list[str]) -> list[str] | None:
    """The unshare flags to use: with IPC and UTS namespaces where the system allows them."""
    for flags in ([*UNSHARE_NS, *IPC_UTS_NS], UNSHARE_NS):
        if _works([*unshare, *flags, "--", *probe]):
            return list(flags)
    return None


def _ipc_note(flags: list[str]) -> list[str]:
    return [] if "--ipc" in flags else [
        "no IPC namespace: System V IPC objects left by student code are removed after each submission"]


def _works(cmd: list[str], **kwargs: object) -> bool:
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=20, **kwargs).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def detect(force: str | None = None) -> Isolation:
    force = force or os.environ.get("TCPLAB_ISOLATION") or None
    root = os.geteuid() == 0
    unshare = shutil.which("unshare") if sys.platform.startswith("linux") else None
    probe = [shutil.which("true") or "/bin/true"]
    if unshare and force in (None, "namespaces") and root:
        flags = _namespaces_that_work([unshare], probe)
        if flags is not None:
            return Isolation("namespaces", [unshare, *flags, "--"], switch_uid=True, cgroups=bool(cgroup_roots()),
                             ipc="--ipc" in flags, notes=_ipc_note(flags))
    flags = _namespaces_that_work([unshare or "unshare", "--user", "--map-root-user"], probe) if unshare else None
    if flags is not None and force in (None, "userns"):
        notes = _ipc_note(flags) + ([] if not root else [
            "user namespaces as root: student code runs as root outside the namespace, kept off course "
            "files only by read-only and hiding mounts"])
        return Isolation("userns", [unshare or "unshare", "--user", "--map-root-user", *flags, "--"],
                         cgroups=root and bool(cgroup_roots()), ipc="--ipc" in flags, notes=notes)
    notes = ["no network namespace: student code can reach the network and the machine's ports",
             "no pid namespace: escaped processes are hunted through /proc (subreaper) instead"]
    switch = root and _works(
        [sys.executable, "-c", "import graders.batch.child"], user=UID_BASE, group=UID_BASE,
        extra_groups=[], env={**os.environ, "HOME": "/"}, cwd="/")
    if root and not switch:
        notes.append(f"the interpreter or the course is not readable by uid {UID_BASE}: student code runs as root")
    notes.append("no mount namespace: solutions/ and graders/hidden/ are hidden only if not world-readable")
    notes.append("no IPC namespace: " + ("System V IPC objects left by student code are removed after each "
                                         "submission" if switch else "IPC objects student code makes outlive it"))
    return Isolation("none", [], switch_uid=switch, cgroups=root and bool(cgroup_roots()), notes=notes)


# -- cgroups ------------------------------------------------------------------------------------
def cgroup_roots() -> dict[str, Path]:
    """Where we may create cgroups bounding tasks and memory: v1 controllers, or v2."""
    base = Path("/sys/fs/cgroup")
    found: dict[str, Path] = {}
    for controller in ("pids", "memory"):
        v1 = base / controller
        if (v1 / "cgroup.procs").is_file() and os.access(v1, os.W_OK):
            found[controller] = v1
    if not found and (base / "cgroup.controllers").is_file() and os.access(base, os.W_OK):
        available = (base / "cgroup.controllers").read_text().split()
        if "pids" in available:
            try:
                (base / "cgroup.subtree_control").write_text(
                    " ".join(f"+{c}" for c in ("pids", "memory") if c in available))
                found["v2"] = base
            except OSError:
                pass
    return found


@dataclass
class SlotCgroups:
    """The cgroups of one job slot, reused by each submission graded in that slot."""

    dirs: list[Path]

    @classmethod
    def create(cls, name: str) -> SlotCgroups:
        dirs = []
        for controller, root in cgroup_roots().items():
            path = root / name
            try:
                path.mkdir(exist_ok=True)
                if controller in ("pids", "v2"):
                    (path / "pids.max").write_text(str(PIDS_MAX))
                if controller == "memory":
                    (path / "memory.limit_in_bytes").write_text(str(MEMORY_MAX))
                if controller == "v2" and (path / "memory.max").exists():
                    (path / "memory.max").write_text(str(MEMORY_MAX))
                dirs.append(path)
            except OSError:
                continue
        return cls(dirs)

    def pids(self) -> set[int]:
        out: set[int] = set()
        for d in self.dirs:
            try:
                out.update(int(p) for p in (d / "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                pass
        return out

    def empty(self, deadline: float = 5.0) -> int:
        """Kills whatever is left in the slot's cgroups; returns how many were killed."""
        killed = 0
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            pids = self.pids()
            if not pids:
                break
            killed += kill_all(pids)
            # SIGKILLed tasks leave the cgroup as the kernel reaps them: wait for that, told
            # by cgroup.events ("populated 0"), new tasks forked meanwhile killed next round.
            told = [wait_unpopulated(d, min(end, time.monotonic() + 0.5)) for d in self.dirs]
            if None in told:  # cgroup v1 says nothing when it empties: look again in a moment
                time.sleep(0.01)
        return killed

    def remove(self) -> None:
        self.empty()
        for d in self.dirs:
            end, emptied = time.monotonic() + 1.0, False
            while True:
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # a task not reaped yet
                    if time.monotonic() > end:
                        break
                    if emptied or wait_unpopulated(d, end) is not True:
                        time.sleep(0.01)  # cgroup v1 says nothing when it empties; or busy for another reason
                    emptied = True


def wait_unpopulated(cgroup: Path, until: float) -> bool | None:
    """Waits until `cgroup` holds no live task, or `until` (time.monotonic()); True if it is empty,
    None where the cgroup cannot tell (cgroup v1 has no cgroup.events).

    cgroup v2's cgroup.events says "populated 0|1", and the kernel wakes a poll() on it
    (POLLPRI) whenever that changes: no sleeping loop.
    """
    try:
        fd = os.open(cgroup / "cgroup.events", os.O_RDONLY)
    except OSError:
        return None
    try:
        poller = select.poll()
        poller.register(fd, select.POLLPRI | select.POLLERR)
        while True:
            events = os.pread(fd, 4096, 0).decode(errors="replace")
            if "populated 0" in events:
                return True
            left = until - time.monotonic()
            if left <= 0:
                return False
            poller.poll(left * 1000)
    except OSError:
        return None
    finally:
        os.close(fd)


class UidLease:
    """Unprivileged uids for the job slots, leased with a lock file each so that two
    batches running at once never share one (nor its RLIMIT_NPROC count)."""

    def __init__(self, slots: int, folder: Path | None = None) -> None:
        self.uids: list[int] = []
        self._locks: list[int] = []
        folder = folder or Path(tempfile.gettempdir()) / "tcplab-uids"
        folder.mkdir(mode=0o700, exist_ok=True)
        candidate = UID_BASE
        while len(self.uids) < slots and candidate < UID_BASE + UID_RANGE:
            fd = os.open(folder / f"{candidate}.lock", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
            else:
                self.uids.append(candidate)
                self._locks.append(fd)
            candidate += 1
        if len(self.uids) < slots:
            self.release()
            raise RuntimeError(f"no free uid in {UID_BASE}–{UID_BASE + UID_RANGE - 1} for {slots} job slots")

    def release(self) -> None:
        for fd in self._locks:
            os.close(fd)
        self._locks = []


def sweep_stale_cgroups(alive: Callable[[int], bool]) -> None:
    """Removes the cgroups of coordinators that are gone (named tcplab-<pid>-<slot>)."""
    for root in cgroup_roots().values():
        for folder in root.glob("tcplab-*-*"):
            pid = folder.name.split("-")[1]
            if pid.isdigit() and not alive(int(pid)):
                SlotCgroups([folder]).remove()


def tasks_of_uid(uid: int) -> int:
    """How many tasks (threads count: RLIMIT_NPROC counts them) this uid runs now."""
    count = 0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.stat(f"/proc/{name}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{name}/task"))
            except OSError:
                continue
    return count


def nproc_limit(isolation: Isolation) -> int | None:
    """RLIMIT_NPROC for the workers: a budget above what this uid already runs."""
    if not sys.platform.startswith("linux"):
        return None
    if isolation.switch_uid:
        return NPROC_BUDGET  # the slot's uid runs nothing else
    if os.geteuid() == 0:
        return None  # root ignores RLIMIT_NPROC; the cgroup's pids.max is the bound
    return tasks_of_uid(os.getuid()) + NPROC_BUDGET


# -- IPC objects, where there is no IPC namespace ---------------------------------------------------
_IPC_RMID = 0  # shmctl/msgctl/semctl: remove the object (include/uapi/linux/ipc.h)
_SYSVIPC = {"shm": "shmctl", "msg": "msgctl", "sem": "semctl"}


def ipc_objects_of(uid: int) -> list[tuple[str, int]]:
    """(kind, id) of every System V shared memory segment, message queue and semaphore set
    owned or created by `uid` (/proc/sysvipc/*)."""
    found = []
    for kind in _SYSVIPC:
        try:
            lines = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()
        except OSError:
            continue
        if not lines:
            continue
        header = lines[0].split()
        for line in lines[1:]:
            row = dict(zip(header, line.split(), strict=False))
            try:
                if uid in (int(row["uid"]), int(row["cuid"])):
                    found.append((kind, int(row.get("shmid") or row.get("msqid") or row.get("semid") or -1)))
            except (KeyError, ValueError):
                continue
    return found


def remove_ipc_of(uid: int) -> int:
    """Removes what `uid` left in System V IPC and in /dev/shm; returns how many were removed."""
    import ctypes
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    removed = 0
    for kind, ident in ipc_objects_of(uid):
        if ident < 0:
            continue
        call = getattr(libc, _SYSVIPC[kind])
        args = (ident, 0, _IPC_RMID, None) if kind == "sem" else (ident, _IPC_RMID, None)
        if call(*args) == 0:
            removed += 1
    shm = Path("/dev/shm")
    for entry in shm.iterdir() if shm.is_dir() else []:
        try:
            if entry.lstat().st_uid == uid and not entry.is_dir():
                entry.unlink()
                removed += 1
        except OSError:
            continue
    return removed
