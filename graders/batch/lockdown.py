"""What a grading child does to itself so that the student code it runs can harm nothing.

The coordinator (graders/batch/coordinator.py) starts each grading child in new network, pid and
mount namespaces where the system allows it (graders/batch/isolation.py decides), and hands it
a `Lockdown` plan. The child applies it in two steps:

1. `early()`, first thing: join the job's cgroups, bring `lo` up in the new network
   namespace, and become a child subreaper when there is no pid namespace (so that a
   double-forked, setsid'd escapee is still ours to kill at the end, through
   graders/batch/processes.py).
2. `after_collection()`, once pytest has imported every check (hidden ones included) and
   before any student module is imported: in the private mount namespace, confine the
   filesystem (outside /usr, /etc and the like, only the way to the paths grading needs
   stays visible), hide the secrets among those (tmpfs over folders, /dev/null over
   files), make every other mount read-only
   except the job's scratch directory, then give up privilege — become the job's own
   unprivileged uid when we are root, or drop every capability inside a user namespace —
   and become non-dumpable, so that student code (running as that same uid) can neither
   ptrace the grader nor read its /proc entries.

Every step reports what it did or why it could not; nothing here raises on a system that
lacks a feature, because the coordinator says plainly which protections were in force.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import stat
import struct
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from graders.batch import processes
from graders.batch.processes import checked, libc, prctl

# Linux constants (include/uapi/linux/{mount,fs,prctl,capability,sockios,if}.h).
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME, MS_STRICTATIME = 1024, 2048, 1 << 21, 1 << 24
MNT_DETACH = 2  # umount2(2): detach now, let go of it once nothing uses it
PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS = 4, 24, 38  # prctl(2) options
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1  # ioctl(2): an interface's flags
# struct ifreq as SIOC[GS]IFFLAGS use it: the name (IFNAMSIZ, 16 bytes), ifr_flags (a short),
# and the rest of the union, up to its 40 bytes.
IFREQ_FLAGS = "16sH22x"
_LINUX_CAPABILITY_VERSION_3 = 0x20080522
_LINUX_CAPABILITY_U32S_3 = 2  # capset(2) takes two 32-bit words of each set: 64 capabilities
# When /proc does not say (cap_last_cap): CAP_CHECKPOINT_RESTORE, the last one since Linux 5.9.
CAP_LAST_CAP = 40
# What die_with_parent exits with when the coordinator is gone: sysexits' EX_SOFTWARE (70).
PARENT_GONE_EXIT = os.EX_SOFTWARE

# Flags a bind remount must keep: inside a user namespace the kernel refuses to clear
# them ("locked"), so a read-only remount re-states whatever the mount already had.
_KEPT_FLAGS = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, "noatime": MS_NOATIME,
               "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME}
# Kernel filesystems that are not ours to make read-only (and /proc must stay usable).
_LEAVE_ALONE = ("/proc", "/sys", "/dev/pts")


@dataclass
class Lockdown:
    """The plan the coordinator hands a grading child (as JSON)."""

    netns: bool = False  # bring lo up: we are in a fresh network namespace
    pidns: bool = False  # we are pid 1 of a fresh pid namespace: the kernel kills what is left
    mountns: bool = False  # mounts we make are private to this child
    cgroups: list[str] = field(default_factory=list)  # cgroup dirs to join before anything runs
    uid: int | None = None  # become this uid/gid (when started as root)
    gid: int | None = None
    drop_caps: bool = False  # inside a user namespace: drop every capability instead
    scratch: str = ""  # the one writable directory (TMPDIR, HOME, the checks' temp dirs)
    hide: list[str] = field(default_factory=list)  # folders and files the student must not see
    keep: list[str] = field(default_factory=list)  # paths that must stay readable (never hidden)
    readonly: bool = True  # remount everything else read-only (needs mountns)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Lockdown:
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class Report:
    """What was applied and what failed, for the coordinator to say."""

    applied: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def ok(self, what: str) -> None:
        self.applied.append(what)

    def fail(self, what: str, why: object) -> None:
        self.failed.append(f"{what}: {why}")


def mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(s):
        return (s.encode() if s is not None else None)
    checked(libc().mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
            f"mount {target}")


# -- step 1 ----------------------------------------------------------------------------------
def early(plan: Lockdown, report: Report) -> None:
    for cgroup in plan.cgroups:
        try:
            Path(cgroup, "cgroup.procs").write_text(f"{os.getpid()}\n")
            report.ok(f"cgroup {Path(cgroup).parent.name}")
        except OSError as exc:
            report.fail(f"joining cgroup {cgroup}", exc)
    if plan.netns:
        try:
            bring_loopback_up()
            report.ok("network namespace (loopback only)")
        except OSError as exc:
            report.fail("bringing lo up", exc)
    if not plan.pidns:
        try:
            processes.become_subreaper()
            report.ok("child subreaper")
        except (OSError, AttributeError) as exc:
            report.fail("becoming a child subreaper", exc)


def bring_loopback_up() -> None:
    """`ip link set lo up`, without needing `ip`: SIOCSIFFLAGS on a throwaway socket."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack(IFREQ_FLAGS, b"lo", 0)
        flags = struct.unpack(IFREQ_FLAGS, fcntl.ioctl(s, SIOCGIFFLAGS, ifreq))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack(IFREQ_FLAGS, b"lo", flags | IFF_UP))


# -- step 2 ----------------------------------------------------------------------------------
def after_collection(plan: Lockdown, report: Report, parent_pipe: int | None = None) -> None:
    """Hides the secrets, makes the filesystem read-only, drops privilege. Call once.

    parent_pipe: the write end of a pipe only the coordinator reads (the child's result
    pipe), by which we tell whether the coordinator is still there once we are another uid.
    """
    if plan.mountns:
        try:
            mount(None, "/", None, MS_REC | MS_PRIVATE)
        except OSError as exc:
            report.fail("making mounts private", exc)
        else:
            needed = needed_paths(plan)
            confine(needed, report)
            if plan.uid is not None:
                expose(needed, plan.uid, plan.gid or plan.uid, report)
            hide(plan, report)
            if plan.readonly:
                read_only(plan, report)
    drop_privilege(plan, report)
    die_with_parent(report, parent_pipe)


def die_with_parent(report: Report, parent_pipe: int | None) -> None:
    """SIGKILL when our parent dies — armed again, since becoming another uid disarms it.

    Why: the coordinator starts us under `setpriv --pdeathsig KILL` (and unshare's
    --kill-child); the kernel clears that signal when the uid changes, and a grading child
    whose coordinator got `kill -9` would go on running student code with no deadline. If the
    coordinator died before the signal was armed again, its end of our result pipe is closed
    already: we see that and leave.
    """
    try:
        processes.ask_to_die_with_parent()
        report.ok("killed with its coordinator")
    except (OSError, AttributeError) as exc:
        report.fail("asking to be killed with the coordinator", exc)
    if parent_pipe is not None and processes.parent_gone(parent_pipe):
        os._exit(PARENT_GONE_EXIT)


def needed_paths(plan: Lockdown) -> list[str]:
    import sys

    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, os.path.dirname(os.path.realpath(sys.executable)),
             os.path.dirname(sys.executable), plan.scratch, *plan.keep}
    paths.update(p for p in sys.path if p and os.path.isdir(p))
    return sorted({os.path.realpath(p) for p in paths if p})


# Top-level folders every program may need, left in place (read-only later). Every other
# top-level folder (/home, /root, /opt, /srv, /tmp, a /work or /autograder) is confined.
_SYSTEM = {"usr", "lib", "lib32", "lib64", "libx32", "bin", "sbin", "etc", "dev", "proc", "sys", "run", "var",
           "boot"}


def confine(needed: list[str], report: Report) -> None:
    """Outside the system folders, only the way to `needed` stays visible.

    Each confined folder gets a tmpfs (mode 0711) laid over it, into which only the
    entries on the way to a needed path are bind-mounted back, folder by folder down to
    the needed paths themselves. So another copy of the course on the machine (a clone in
    /home, a checkout in /work) or another batch's files in /tmp are as invisible to
    student code as this course's own solutions, which `hide` covers inside the paths kept.
    """
    wanted = sorted({p for p in needed if p != "/" and os.path.lexists(p)})
    wanted = [p for p in wanted if not any(_covers(q, p) and q != p for q in wanted)]
    tree: dict[str, Any] = {}
    for path in wanted:
        node = tree
        parts = Path(path).parts[1:]
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = None  # kept whole
    confined = []
    for top in sorted(os.listdir("/")):
        folder = "/" + top
        if top in _SYSTEM or os.path.islink(folder) or not os.path.isdir(folder):
            continue
        if tree.get(top, {}) is None:  # a needed path is a whole top-level folder
            continue
        if _confine_folder(folder, tree.get(top, {}), report):
            confined.append(folder)
    if confined:
        report.ok(f"confined: {', '.join(confined)} (only the paths grading needs)")


def _confine_folder(folder: str, node: dict[str, Any], report: Report) -> bool:
    try:
        _overlay_keeping(folder, sorted(name for name in node if os.path.lexists(os.path.join(folder, name))))
    except OSError as exc:
        report.fail(f"confining {folder}", exc)
        return False
    for name, below in node.items():
        if below is not None and os.path.isdir(os.path.join(folder, name)):
            _confine_folder(os.path.join(folder, name), below, report)
    return True


def _traversable(path: str, uid: int, gid: int) -> bool:
    st = os.stat(path)
    if st.st_uid == uid:
        return bool(st.st_mode & stat.S_IXUSR)
    if st.st_gid == gid:
        return bool(st.st_mode & stat.S_IXGRP)
    return bool(st.st_mode & stat.S_IXOTH)


def expose(paths: list[str], uid: int, gid: int, report: Report) -> None:
    """Lets `uid` reach `paths` through folders it may not enter (say /root, 0700).

    Such a folder gets a tmpfs (mode 0711) laid over it, into which only the entries on
    the way to the needed paths are bind-mounted back: everything else in it stays out
    of sight. The interpreter of a virtual environment under /root is the usual case.
    """
    for _ in range(8):  # a blocked folder below an exposed one is fixed in the next round
        blocked: dict[str, set[str]] = {}
        for path in paths:
            parts = Path(path).parts
            for depth in range(1, len(parts)):
                parent = str(Path(*parts[:depth]))
                try:
                    if not _traversable(parent, uid, gid):
                        blocked.setdefault(parent, set()).add(parts[depth])
                        break
                except OSError:
                    break
        if not blocked:
            return
        for folder, children in sorted(blocked.items()):
            try:
                _overlay_keeping(folder, sorted(children))
                report.ok(f"exposed {', '.join(children)} through {folder}")
            except OSError as exc:
                report.fail(f"making {folder} passable", exc)
                return


def _overlay_keeping(folder: str, children: list[str]) -> None:
    staging = tempfile.mkdtemp(prefix="tcplab-stage-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    moved = []
    try:
        for child in children:
            src = os.path.join(folder, child)
            dst = os.path.join(staging, child)
            _make_like(src, dst)
            mount(src, dst, None, MS_BIND | MS_REC)
            moved.append(child)
        mount("tcplab-pass", folder, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=0711")
        for child in moved:
            _make_like(os.path.join(staging, child), os.path.join(folder, child))
            mount(os.path.join(staging, child), os.path.join(folder, child), None, MS_BIND | MS_REC)
    finally:
        for child in moved:
            libc().umount2(os.path.join(staging, child).encode(), MNT_DETACH)
        for child in moved:
            target = os.path.join(staging, child)
            try:
                os.rmdir(target) if os.path.isdir(target) else os.unlink(target)
            except OSError:
                pass
        try:
            os.rmdir(staging)
        except OSError:
            pass


def _make_like(src: str, dst: str) -> None:
    if os.path.isdir(src):
        os.makedirs(dst, exist_ok=True)
    else:
        Path(dst).touch()


def _covers(outer: str, inner: str) -> bool:
    return inner == outer or inner.startswith(outer.rstrip("/") + "/")


def hide(plan: Lockdown, report: Report) -> None:
    keep = needed_paths(plan)
    hidden = []
    for path in sorted({os.path.realpath(p) for p in plan.hide}):
        if any(_covers(path, k) for k in keep) or not os.path.lexists(path):
            continue
        try:
            if os.path.isdir(path):
                mount("tcplab-hidden", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      "size=4k,mode=0555")
            else:  # reads find nothing, writes go nowhere
                mount("/dev/null", path, None, MS_BIND)
            hidden.append(path)
        except OSError as exc:
            report.fail(f"hiding {path}", exc)
    if hidden:
        report.ok(f"hidden: {', '.join(hidden)}")


def mountinfo() -> list[tuple[str, str]]:
    """(mount point, per-mount options) for every mount, in mount order."""
    out = []
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            fields = line.split()
            point = fields[4].encode().decode("unicode_escape")  # "\040" is a space
            out.append((point, fields[5]))
    return out


def read_only(plan: Lockdown, report: Report) -> None:
    """Every mount read-only but the scratch folder; /dev/shm becomes a private tmpfs."""
    scratch = os.path.realpath(plan.scratch) if plan.scratch else ""
    try:
        if scratch:
            mount(scratch, scratch, None, MS_BIND | MS_REC)  # its own mount, so it can stay writable
    except OSError as exc:
        report.fail("keeping the scratch folder writable", exc)
        return
    failed = []
    for point, options in mountinfo():
        if point == scratch or any(_covers(p, point) for p in _LEAVE_ALONE):
            continue
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY
        for option in options.split(","):
            flags |= _KEPT_FLAGS.get(option, 0)
        try:
            mount(None, point, None, flags)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.EINVAL):  # gone, or shadowed by a later mount: nothing to do
                failed.append(f"{point} ({exc.strerror})")
    if os.path.isdir("/dev/shm"):
        try:
            mount("tcplab-shm", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
        except OSError as exc:
            failed.append(f"/dev/shm ({exc.strerror})")
    if failed:
        report.fail("read-only remount", ", ".join(failed))
    report.ok(f"read-only filesystem except {scratch or 'nothing'}")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def drop_privilege(plan: Lockdown, report: Report) -> None:
    if plan.uid is not None:
        try:
            gid = plan.gid if plan.gid is not None else plan.uid
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(plan.uid, plan.uid, plan.uid)
            report.ok(f"running as uid {plan.uid}")
        except OSError as exc:
            report.fail(f"becoming uid {plan.uid}", exc)
    elif plan.drop_caps:
        try:
            last = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
        except (OSError, ValueError):
            last = CAP_LAST_CAP
        try:
            for cap in range(last + 1):
                prctl(PR_CAPBSET_DROP, cap)
            checked(libc().capset(ctypes.byref(_CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)),
                                  (_CapData * _LINUX_CAPABILITY_U32S_3)()), "capset")
            report.ok("no capabilities (user namespace)")
        except OSError as exc:
            report.fail("dropping capabilities", exc)
    try:
        prctl(PR_SET_NO_NEW_PRIVS, 1)
        prctl(PR_SET_DUMPABLE, 0)  # no ptrace, no /proc/<pid>/fd or mem for same-uid student code
        report.ok("not dumpable")
    except (OSError, AttributeError) as exc:
        report.fail("becoming non-dumpable", exc)
