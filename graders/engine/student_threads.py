"""What a student's call does inside this process, watched: its threads, their sockets, its memory.

The notebook's subject (graders/engine/inprocess.py) runs student code in the kernel beside
the grader's own peers. While a call runs, socket.socket.__init__ and threading.Thread.start
are wrapped so that the sockets made and the threads started by the student's threads are
known (the grader's threads are left alone), and tracemalloc samples what the student's code
allocates, the grader's frames left out. The worker needs none of this: it is a process of
its own, seen from outside (graders/engine/worker_view.py).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import traceback
import tracemalloc
import weakref
from pathlib import Path
from typing import Any

from graders.stages import EXERCISES

# Why 2 ms: memory is sampled while a call runs. Buffers that matter (a whole file read
# into memory, a frame body allocated before its length was checked) live for at least
# the time it takes to move them over a socket, which is longer than this.
MEMORY_SAMPLE_INTERVAL = 0.002
# Why 1 MiB: a filtered snapshot costs time proportional to every live allocation, and taken
# every 2 ms while megabytes flow it held the GIL long enough to starve the student's event loop
# and the grader's peers. The total traced (one C call) is read every 2 ms instead; a snapshot is
# taken only once the total has risen 1 MiB above its lowest point since the last one, which
# no student allocation that matters can do unseen (the checks' limits are 32 MiB).
MEMORY_RESAMPLE_STEP = 1024 * 1024
_GRADERS_DIR = str(Path(__file__).resolve().parents[1])  # the whole graders package
# Allocations made in these files are the grader's (peers, transcript, checks), not the student's.
_NOT_STUDENT = (
    tracemalloc.Filter(False, _GRADERS_DIR + os.sep + "*"),
    tracemalloc.Filter(False, str(EXERCISES) + os.sep + "*" + os.sep + "test_*.py"),
    tracemalloc.Filter(False, tracemalloc.__file__),
)


class Abandoned(BaseException):
    """Raised inside a student's thread that outlived its deadline, to make it stop."""


# -- which threads are the student's ---------------------------------------------------------
# While a call runs, socket.socket.__init__ and threading.Thread.start are wrapped so that
# sockets made and threads started by the student's threads are known. Only the student's
# threads are tracked: the grader's peers run in the same process at the same time.
_ACTIVE: list[CallWatch] = []
_ACTIVE_LOCK = threading.Lock()
_REAL_SOCKET_INIT = socket.socket.__init__
REAL_THREAD_START = threading.Thread.start
# Every thread a student's call ever started, so that an exception ending one of them later
# is kept away from stderr (see quiet_student_threads).
_STUDENT_THREADS: weakref.WeakSet[threading.Thread] = weakref.WeakSet()


def is_student_thread(thread: threading.Thread | None) -> bool:
    """True for a thread that runs, or was started by, a student's call."""
    return thread is not None and thread in _STUDENT_THREADS


class CallWatch:
    """One call's threads and the sockets they made."""

    def __init__(self) -> None:
        self.threads: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
        self.sockets: list[tuple[weakref.ref, int]] = []  # (the socket, its fd when made)
        self.unclosed: list[str] = []  # 'unclosed ...' ResourceWarnings seen during the call
        self.thread_errors: list[str] = []

    def adopt(self, thread: threading.Thread) -> None:
        self.threads.add(thread)
        _STUDENT_THREADS.add(thread)

    def owns_current_thread(self) -> bool:
        return threading.current_thread() in self.threads

    def live_sockets(self) -> list[socket.socket]:
        return [s for s in (ref() for ref, _ in self.sockets) if s is not None and s.fileno() != -1]

    def student_fds(self) -> set[int]:
        return {fd for _, fd in self.sockets}


def _tracking_socket_init(self: socket.socket, *args: Any, **kwargs: Any) -> None:
    _REAL_SOCKET_INIT(self, *args, **kwargs)
    for watch in list(_ACTIVE):
        if watch.owns_current_thread():
            watch.sockets.append((weakref.ref(self), self.fileno()))


def _tracking_thread_start(self: threading.Thread) -> None:
    for watch in list(_ACTIVE):
        if watch.owns_current_thread():
            watch.adopt(self)
    REAL_THREAD_START(self)


def activate(watch: CallWatch) -> None:
    with _ACTIVE_LOCK:
        if not _ACTIVE:
            socket.socket.__init__ = _tracking_socket_init  # type: ignore[method-assign]
            threading.Thread.start = _tracking_thread_start  # type: ignore[method-assign]
        _ACTIVE.append(watch)


def deactivate(watch: CallWatch) -> None:
    with _ACTIVE_LOCK:
        if watch in _ACTIVE:
            _ACTIVE.remove(watch)
        if not _ACTIVE:
            socket.socket.__init__ = _REAL_SOCKET_INIT  # type: ignore[method-assign]
            threading.Thread.start = REAL_THREAD_START  # type: ignore[method-assign]


_HOOK_INSTALLED = False


def quiet_student_threads() -> None:
    """Keeps exceptions that end a student's threads off stderr, for good (installed once).

    A worker prints them into its own output, which a student sees only with a timeout or a
    crash; in a kernel they would land in whatever cell runs next, and a grade cell with
    stderr output scores 0.
    """
    global _HOOK_INSTALLED
    if _HOOK_INSTALLED:
        return
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        if args.thread is not None and args.thread in _STUDENT_THREADS:
            for watch in list(_ACTIVE):
                if args.thread in watch.threads and args.exc_type is not Abandoned:
                    text = "".join(traceback.format_exception_only(args.exc_type, args.exc_value))
                    watch.thread_errors.append(f"Exception in thread {args.thread.name}: {text}")
            return
        previous(args)

    threading.excepthook = hook
    _HOOK_INSTALLED = True


# Installed on import, before anything (a grade cell's stderr capture) swaps the hook for a while.
quiet_student_threads()


# -- memory -----------------------------------------------------------------------------------
class MemoryWatch:
    """The peak of the student's allocations during a call, sampled with tracemalloc."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._own_tracing = False
        self.baseline = 0
        self.peak = 0
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if not tracemalloc.is_tracing():
            tracemalloc.start(1)  # one frame: the line that allocated, enough to tell whose it is
            self._own_tracing = True
        self.baseline = self.peak = self._student_bytes()
        self._thread = threading.Thread(target=self._sample, name="tcplab memory sampler", daemon=True)
        REAL_THREAD_START(self._thread)

    def _student_bytes(self) -> int:
        if not tracemalloc.is_tracing():
            return 0
        snapshot = tracemalloc.take_snapshot().filter_traces(_NOT_STUDENT)
        return sum(trace.size for trace in snapshot.traces)

    def _sample(self) -> None:
        with contextlib.suppress(Exception):  # a sampler must never disturb the call
            lowest = tracemalloc.get_traced_memory()[0]
            while not self._stop.wait(MEMORY_SAMPLE_INTERVAL):
                total = tracemalloc.get_traced_memory()[0]
                lowest = min(lowest, total)
                if total - lowest >= MEMORY_RESAMPLE_STEP:
                    self.peak = max(self.peak, self._student_bytes())
                    lowest = tracemalloc.get_traced_memory()[0]

    def stop(self, *, sample: bool = True) -> int:
        """Stops sampling; the growth in KiB over the baseline."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(1.0)
        if sample:
            with contextlib.suppress(Exception):
                self.peak = max(self.peak, self._student_bytes())
        if self._own_tracing:
            tracemalloc.stop()
            self._own_tracing = False
        return max(0, self.peak - self.baseline) // 1024


def describe_leak(sock: socket.socket) -> str:
    """A leaked socket, worded as the worker words it."""
    try:
        local = sock.getsockname()
    except OSError:
        local = None
    try:
        peer = sock.getpeername()
    except OSError:
        peer = None
    try:
        listening = bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    except (OSError, AttributeError):
        listening = False
    kind = "listening socket" if listening else "socket"
    return f"a {kind} (fd {sock.fileno()}, local {local}, peer {peer})"


def is_students_warning(text: str, student_fds: set[int]) -> bool:
    """An 'unclosed ...' warning about a socket the student made, or about a file."""
    if "unclosed file" in text:
        return True
    lowered = text.lower()  # "unclosed <ssl.SSLSocket fd=4 ...>", "unclosed transport <...fd=7...>"
    if "socket" not in lowered and "transport" not in lowered:
        return False
    marker = text.find("fd=")
    if marker < 0:
        return True
    digits = ""
    for ch in text[marker + 3:]:
        if not ch.isdigit():
            break
        digits += ch
    return not digits or int(digits) in student_fds
