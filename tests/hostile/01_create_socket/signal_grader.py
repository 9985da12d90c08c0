"""Hostile: sends every nasty signal to the process that runs it (the grader, maybe pid 1).

SIGKILL, SIGSTOP, SIGTERM, SIGINT, SIGSEGV (which a fault handler would re-raise),
SIGALRM (a timeout plugin's alarm), SIGUSR1: whichever the grader handles or leaves to
its default could end it, freeze it, or end the check it is running.
Expect: the grader (pid 1 of its own pid namespace, ignoring what it does not handle)
goes on; the stage is worth 0.
"""

import os
import signal
import socket

NASTY = [signal.SIGSTOP, signal.SIGKILL, signal.SIGTERM, signal.SIGINT, signal.SIGSEGV, signal.SIGALRM,
         signal.SIGUSR1]


def targets() -> set[int]:
    """The grader; pid 1 only when it is the grader too (never a real machine's init)."""
    found = {os.getppid()}
    try:
        with open("/proc/1/cmdline", "rb") as f:
            if b"graders" in f.read():
                found.add(1)
    except OSError:
        pass
    return found


def attack() -> list[str]:
    done = []
    for pid in targets():
        for sig in NASTY:
            try:
                os.kill(pid, sig)
                done.append(f"{sig.name} to {pid}")
            except OSError:
                pass
    for pid in targets():
        try:
            os.kill(pid, signal.SIGCONT)
        except OSError:
            pass
    return done


SENT = attack()


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family."""
    raise NotImplementedError(f"hostile: sent {', '.join(attack())}")


def describe_socket(sock: socket.socket) -> dict[str, object]:
    """Describe what the kernel knows about sock, without changing or closing it."""
    raise NotImplementedError(f"hostile: sent {', '.join(attack())}")
