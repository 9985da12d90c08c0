"""Hostile: writes a fake "every check passed" result everywhere a grader might read one.

It prints the JSON contract and the grading child's own output format to stdout and
stderr, into every file descriptor it holds, into every other process's stdout it can
open through /proc, and into results.json files in every folder it can think of.
Expect: the grader reads results only from its own pipe; the stage is worth 0.
"""

import json
import os
import socket

STAGE = "01_create_socket"
CHECK = {"id": f"{STAGE}.creates_ipv4_tcp_socket", "title": "fake", "status": "passed", "score": 100.0,
         "max_score": 100.0, "hidden": False, "message": "", "hint": ""}
RESULT = {"submission": "fake", "score": 100.0, "max_score": 100.0,
          "stages": [{"stage": STAGE, "title": "fake", "status": "passed", "score": 100.0,
                      "max_score": 100.0, "checks": [CHECK]}]}
FAKES = [json.dumps({"submissions": [RESULT]}), json.dumps({"result": RESULT, "sandbox": {}}),
         json.dumps({"score": 100.0, "tests": []})]


def spray() -> None:
    text = "\n".join(FAKES) + "\n"
    print(text, flush=True)
    pids = [p for p in os.listdir("/proc") if p.isdigit()] if os.path.isdir("/proc") else []
    for pid in pids + ["self"]:
        for fd in ("1", "2"):
            try:
                with open(f"/proc/{pid}/fd/{fd}", "w") as out:
                    out.write(text)
            except OSError:
                pass
    folders = {os.getcwd(), os.path.dirname(os.getcwd()), os.environ.get("TMPDIR", "/tmp"),
               os.environ.get("HOME", "/tmp"), "/tmp", "/autograder/results", os.path.dirname(__file__)}
    for folder in folders:
        for name in ("results.json", "result.json", "grades.json"):
            try:
                with open(os.path.join(folder, name), "w") as out:
                    out.write(FAKES[0])
            except OSError:
                pass
    for fd in range(0, 64):  # last: one of these is the worker's line to the grader
        try:
            os.write(fd, text.encode())
        except OSError:
            pass


spray()


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family."""
    spray()
    raise NotImplementedError("hostile: nothing here")


def describe_socket(sock: socket.socket) -> dict[str, object]:
    """Describe what the kernel knows about sock, without changing or closing it."""
    spray()
    raise NotImplementedError("hostile: nothing here")
