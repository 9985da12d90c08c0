"""One worker process, as the grader holds it: started, talked to, looked at, killed.

graders/engine/worker.py is the process itself; this is the grader's end of it: the
process with its limits and environment, its Unix socket, the file its output goes to,
the import report, and the looks from outside (graders/engine/worker_view.py) before and
after each call. graders/engine/subject.py builds calls on top of it; checks never see it.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from graders.engine import wire, worker_view
from graders.engine.calls import CallResult
from graders.engine.limits import Limits, kill_group, worker_env

# Why 10 s: importing a module takes milliseconds; only a module that runs a server or a
# loop at import time gets near this, and then waiting longer teaches nothing.
IMPORT_DEADLINE = 10.0
# Why 10 s: letting go of a call's sockets takes microseconds; only a student __del__ that
# hangs, or a thread that never gives up the interpreter, gets near this.
RELEASE_DEADLINE = 10.0
# Why 64 KiB: a screenful of print() debugging many times over, kept whole; a print in an
# endless loop is cut to its last 64 KiB, and the cut is counted.
PRINTED_LIMIT = 64 * 1024
# `-c`, not `-m`: `-m` puts the working folder (the student's) first on sys.path, where a
# scratch socket.py would replace the standard library's before the worker even starts.
_WORKER_CODE = "import sys; del sys.path[0]; from graders.engine.worker import main; main()"
# The folder that holds the graders package (this file is three levels down).
_ENGINE_ROOT = str(Path(__file__).resolve().parents[2])


class Worker:
    """One worker process; used by Subject, not by checks."""

    def __init__(self, module_path: Path, module_name: str, limits: Limits) -> None:
        self.module_path = module_path
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.chan = parent
        self.output = tempfile.TemporaryFile()
        config = {
            "module_path": str(module_path),
            "module_name": module_name,
            "limits": limits.as_rlimits(),
        }
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-S", "-c", _WORKER_CODE, str(child.fileno()), json.dumps(config)],
                pass_fds=[child.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=self.output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=str(module_path.parent),
                env=worker_env(_ENGINE_ROOT),
            )
        finally:
            child.close()
        self.started = time.monotonic()
        self.report: dict[str, Any] | None = None

    def ready(self) -> dict[str, Any]:
        """The import report, waiting for it at most IMPORT_DEADLINE from the start."""
        if self.report is None:
            try:
                msg, fds = self._receive(self.started + IMPORT_DEADLINE)
                for fd in fds:
                    os.close(fd)
                self.report = msg
            except TimeoutError:
                self.kill()
                self.report = {
                    "import": "error",
                    "message": f"importing the module did not finish within {IMPORT_DEADLINE:.0f} s: "
                    "does it run a server, a loop or input() at import time? Put that code in a function "
                    "or under `if __name__ == \"__main__\":`.",
                }
            except (wire.WireClosed, OSError, ValueError):
                code = self.kill()
                self.report = {
                    "import": "error",
                    "message": f"the worker process ended while importing the module ({describe_exit(code)})",
                    "output": self.output_tail(),
                }
        return self.report

    def send(self, request: dict[str, Any], socks: list[socket.socket]) -> None:
        wire.send_message(self.chan, request, [s.fileno() for s in socks])

    def _receive(self, deadline: float) -> tuple[Any, list[int]]:
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([self.chan], [], [], max(0.0, remaining))
        if not ready:
            raise TimeoutError
        return wire.recv_message(self.chan)

    def receive(self, deadline: float) -> tuple[Any, list[int]]:
        return self._receive(deadline)

    def alive(self) -> bool:
        return self.proc.poll() is None

    # -- the worker seen from outside (graders/engine/worker_view.py) ------------------------------
    def look_before(self, socks: list[socket.socket], request: dict[str, Any]) -> tuple[Any, str]:
        """The worker's fds, memory mark and CPU time before a call; asks it to measure itself
        only where this system has no /proc, or cannot reset the memory mark."""
        if not worker_view.available():
            request["self_measure"] = True
            return None, ""
        try:
            before = worker_view.before_call(self.proc.pid, socks)
        except (worker_view.Unreadable, OSError) as exc:
            return None, str(exc)
        if before.rss_kb is None:
            request["self_measure"] = True
        return before, ""

    def look_after(self, result: CallResult, before: Any, unseen: str, returned: list[socket.socket]) -> None:
        """Fills in what the call left behind from the kernel's records, not the worker's word."""
        if before is None and not unseen:
            return  # no /proc: the worker's own report stands
        after = None
        if before is not None:
            try:
                after = worker_view.after_call(self.proc.pid, before, returned)
            except (worker_view.Unreadable, OSError) as exc:
                unseen = str(exc)
        if after is None:
            result.unseen = (f"the grader could not look into the process running your code ({unseen}); "
                             "did your code change its own process settings?")
            return
        # What the worker said itself is only its 'unclosed socket' warnings (sockets dropped
        # without close(), which CPython closed as it freed them): it can only add failures.
        result.leaked = after.leaked + result.leaked
        result.closed_args = after.closed_args
        if after.rss_growth_kb is not None:
            result.rss_growth_kb = after.rss_growth_kb
        result.cpu_seconds = after.cpu_seconds

    def release(self) -> None:
        """Lets the worker close the call's sockets and free what it returned or raised."""
        try:
            wire.send_message(self.chan, {"op": "release"})
            self._receive(time.monotonic() + RELEASE_DEADLINE)
        except (TimeoutError, wire.WireClosed, OSError, ValueError):
            self.kill()  # the next call gets a fresh worker

    def kill(self) -> int | None:
        kill_group(self.proc)
        self.chan.close()
        return self.proc.returncode

    def output_size(self) -> int:
        """How much the worker has printed so far: where the next call's output starts."""
        try:
            return self.output.seek(0, os.SEEK_END)
        except (OSError, ValueError):
            return 0

    def output_tail(self, limit: int = 4000, since: int = 0) -> str:
        """The last `limit` bytes the worker printed after offset `since` (one call's, say)."""
        return self.printed_since(since, limit)[0]

    def printed_since(self, since: int, limit: int = PRINTED_LIMIT) -> tuple[str, int]:
        """What the worker printed after offset `since`: its last `limit` bytes, and how many
        bytes before them were cut."""
        try:
            self.output.flush()
            size = self.output.seek(0, os.SEEK_END)
            start = max(since, size - limit)
            self.output.seek(start)
            return self.output.read().decode("utf-8", "replace"), start - since
        except (OSError, ValueError):
            return "", 0


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        import signal

        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        hint = {
            "SIGKILL": " — killed, perhaps for using too much memory or CPU time",
            "SIGXCPU": " — it used more CPU time than allowed",
            "SIGXFSZ": " — it wrote a file larger than allowed",
            "SIGSEGV": " — a crash",
        }.get(name, "")
        return f"signal {name}{hint}"
    return f"exit status {code} — did your code call os._exit() or exit the process?"
