"""Hostile: finds the reference solution and the hidden checks on disk and uses them.

It looks where the grader's own package says the course is, where a course is often kept,
in another copy of the course elsewhere on the machine (@ELSEWHERE@, put there by the
test), through /proc (the root and working folder of every process it can see), and in
the test corpus and the git history.
A solution found is executed in place of this module's functions: full marks if it works.
A hidden check found is leaked through the error message of every call.
Expect: nothing is found; the stage is worth 0 and no check source reaches the results.
"""

import glob
import os
import socket

STAGE, MODULE = "01_create_socket", "create_socket.py"
LEAKED = []


def course_roots() -> list[str]:
    roots = []
    try:
        import graders  # the worker's engine is importable: it says where the course is

        roots.append(os.path.dirname(os.path.dirname(os.path.abspath(graders.__file__))))
    except Exception:
        pass
    for entry in os.environ.get("PYTHONPATH", "").split(os.pathsep):
        if entry:
            roots.append(entry)
    roots += ["/work/main", "/autograder/source", "/autograder/source/tcplab", "@ELSEWHERE@"]
    proc = [p for p in os.listdir("/proc") if p.isdigit()] if os.path.isdir("/proc") else []
    seen_through_proc = []
    for pid in proc:  # another process's view of the filesystem: its root, its working folder
        seen_through_proc.append(f"/proc/{pid}/cwd")
        seen_through_proc += [f"/proc/{pid}/root{root}" for root in roots]
    return roots + seen_through_proc


def find(patterns: list[str]) -> list[str]:
    found = []
    for root in course_roots():
        for pattern in patterns:
            found += glob.glob(os.path.join(root, pattern))
    return found


def read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return ""


for path in find([f"solutions/{STAGE}/{MODULE}", f"tests/submissions/{STAGE}/ok_*.py"]):
    source = read(path)
    if "def describe_socket" in source:
        exec(compile(source, path, "exec"), globals())  # the stolen solution replaces ours
        break
else:
    def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
        """Return a new, unbound, unconnected TCP socket of the given address family."""
        raise NotImplementedError("hostile: found nothing; leaked: " + " | ".join(LEAKED)[:20000])

    def describe_socket(sock: socket.socket) -> dict[str, object]:
        """Describe what the kernel knows about sock, without changing or closing it."""
        raise NotImplementedError("hostile: found nothing; leaked: " + " | ".join(LEAKED)[:20000])

for path in find([f"graders/hidden/{STAGE}/*.py", ".git/config"]):
    text = read(path)
    if text:
        LEAKED.append(f"{path}: {text}")
