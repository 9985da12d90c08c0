"""Hostile: leaves shared memory, a message queue and a semaphore set behind, readable by anyone.

System V IPC objects (mode 0666, under a key the next submission can guess) and a POSIX
shared memory segment outlive the process that made them: they would hold the host's RAM
after grading and let one submission hand data to the next.
Expect: grading in an IPC namespace (or removing what the job's uid left where there is
none): nothing under these keys or names is left when the batch ends; the stage is worth 0.
"""

import ctypes
import ctypes.util
import os
import socket

KEYS = (0x7C9A0001, 0x7C9A0002, 0x7C9A0003)  # tests/test_hostile.py looks for these
SHM_NAME = "tcplab-hostile-shm"
IPC_CREAT = 0o1000


def leave_ipc_behind() -> None:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    libc.shmget(KEYS[0], 1 << 20, IPC_CREAT | 0o666)
    libc.msgget(KEYS[1], IPC_CREAT | 0o666)
    libc.semget(KEYS[2], 4, IPC_CREAT | 0o666)
    try:
        fd = os.open(f"/dev/shm/{SHM_NAME}", os.O_CREAT | os.O_RDWR, 0o666)
        os.ftruncate(fd, 1 << 20)
        os.close(fd)
    except OSError:
        pass


leave_ipc_behind()


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family."""
    leave_ipc_behind()
    raise NotImplementedError("hostile: nothing here")


def describe_socket(sock: socket.socket) -> dict[str, object]:
    """Describe what the kernel knows about sock, without changing or closing it."""
    raise NotImplementedError("hostile: nothing here")
