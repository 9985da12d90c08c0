"""A connection whose network dies: what TCP keepalive is for, made real on one machine.

A peer that crashes or is cut off sends nothing, so on loopback a dead peer is hard to make:
the kernel always answers. Here a throwaway process in a network namespace of its own
(`unshare -rn`: a user namespace, so no privilege is needed) brings its own loopback up,
makes a connected pair of TCP sockets on it, and hands both to the grader over a Unix socket
(SCM_RIGHTS). The grader passes one end to the student's code; when the check says so, the
helper takes its loopback down. From then on no segment crosses: keepalive probes go
unanswered, and a socket with keepalive on fails with ETIMEDOUT (errno 110) after
idle + interval * count seconds, while one without keepalive waits forever.

Where the system cannot make such a namespace (no `unshare`, user namespaces forbidden, not
Linux), `DeadNetwork.make()` returns None with the reason in `why_not`.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys

# The helper, run as `python -S -c HELPER <fd>` inside the new namespace: the standard library only.
HELPER = r"""
import fcntl, socket, struct, sys
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
def loopback(up):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, SIOCGIFFLAGS, ifreq))[1]
        flags = flags | IFF_UP if up else flags & ~IFF_UP
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags))
chan = socket.socket(fileno=int(sys.argv[1]))
loopback(True)
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
near = socket.create_connection(listener.getsockname())
far, _ = listener.accept()
socket.send_fds(chan, [b"ready"], [near.fileno(), far.fileno()])
if chan.recv(16) == b"down":
    loopback(False)
    chan.sendall(b"down")
    chan.recv(16)
"""
# Why 10 s: making a namespace and two sockets takes milliseconds; this bounds a stuck helper.
HELPER_PATIENCE = 10.0


class DeadNetwork:
    """Two connected sockets on a loopback the grader can take down (`cut()`)."""

    why_not = ""

    def __init__(self, proc: subprocess.Popen, chan: socket.socket, near: socket.socket, far: socket.socket) -> None:
        self.proc, self.chan, self.near, self.far = proc, chan, near, far

    @classmethod
    def make(cls) -> DeadNetwork | None:
        unshare = shutil.which("unshare") if sys.platform.startswith("linux") else None
        if unshare is None:
            cls.why_not = "this system has no `unshare` to make a throwaway network namespace"
            return None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            proc = subprocess.Popen([unshare, "-rn", sys.executable, "-S", "-c", HELPER, str(theirs.fileno())],
                                    pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except OSError as exc:
            ours.close()
            theirs.close()
            cls.why_not = f"`unshare -rn` could not be started: {exc}"
            return None
        theirs.close()
        ours.settimeout(HELPER_PATIENCE)
        try:
            _, fds, _, _ = socket.recv_fds(ours, 16, 2)
        except OSError:
            fds = []
        if len(fds) != 2:
            ours.close()
            with contextlib.suppress(OSError):
                proc.kill()
            _, err = proc.communicate(timeout=HELPER_PATIENCE)
            last = err.decode("utf-8", "replace").strip().splitlines()[-1:] if err else []
            cls.why_not = "this system does not let the grader make a network namespace of its own" + (
                f" ({last[0]})" if last else "")
            return None
        near, far = (socket.socket(fileno=fd) for fd in fds)
        return cls(proc, ours, near, far)

    def cut(self) -> None:
        """Takes the namespace's loopback down: nothing crosses any more, in either direction."""
        self.chan.sendall(b"down")
        self.chan.recv(16)

    def close(self) -> None:
        for sock in (self.near, self.far, self.chan):
            sock.close()
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(HELPER_PATIENCE)

    def shutdown(self) -> None:  # as the lab ends its peers
        self.close()
