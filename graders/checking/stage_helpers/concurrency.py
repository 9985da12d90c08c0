"""What stage 08's checks share (exercises/08_concurrency and graders/hidden/08_concurrency):
a student's server running in the background with clients that read all the time, waiting on
what they should see while noticing a call that ended too soon, measuring an idle server, and
judging how the server ended.

How these checks stay honest on a loaded machine:
- what a correct server does at once is waited for up to WAIT seconds: load can only make it
  come later, and a bug (one client at a time, a stalled room) makes it never come at all;
- "has not returned yet" is looked at a fixed STILL_RUNNING after the event that must not end
  the call: a buggy server returns at once, a correct one never does;
- an idle server is measured by the time its threads were runnable (on a CPU or waiting for
  one: graders/engine/worker_view.runnable_ns), which a spinning thread fills whatever the
  load, and by how often they were woken: load makes neither larger for a sleeping thread. A
  poller on a loaded machine waits for a CPU at each of its wake-ups and so looks runnable too:
  its short runs on a CPU (worker_view.mean_run_between) tell it from a spinner.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from graders.checking.declare import Failure
from graders.checking.helpers import DEADLINE, shown_traceback, wait_until
from graders.checking.lab import Lab, LabCall
from graders.checking.members import Member
from graders.engine import worker_view
from graders.engine.calls import CallResult

# Why 5 s: a correct server relays a line or drops a client within milliseconds; a server
# that serves one client at a time, or waits on a slow member, never does.
WAIT = 5.0
# Why 0.3 s: a server that counts accepts instead of ended connections returns within
# milliseconds of its last accept; a correct one is still running this long after.
STILL_RUNNING = 0.3
# Why 0.5 s: long enough to see a busy loop (runnable the whole window) or a poll that wakes
# every millisecond (hundreds of wake-ups), short enough to keep the stage fast.
IDLE_WINDOW = 0.5
# Why half the window: a spinning thread is runnable all of it (more than all of it, with
# two spinning); a server waiting in select() or recv() is runnable for microseconds.
BUSY_SHARE = 0.5
# Why 100 a second, for the busiest thread: the contract allows a wake-up every 50 ms (20 a
# second); a loop that polls with time.sleep(0.001) wakes up nearly a thousand times.
WAKEUPS_PER_SECOND = 100
# Why 0.1 ms: a poll (a non-blocking recv() that fails, then time.sleep) is on a CPU for 15-20 µs
# each time it wakes, whatever the load; a spinning thread runs until the scheduler takes it off
# (0.5-0.8 ms at a time on this 2-core machine with both cores busy, longer when it is quiet).
POLL_RUN = 0.0001

RETURNED_EARLY_HINT = ("Count connections that have ENDED, not accepts: after accepting `clients` connections, wait "
                       "for every one of them to finish (join their threads, or keep selecting until none is left) "
                       "before you return.")
BUSY_HINT = ("Block while nothing happens: select() with timeout=None (or the time until the next deadline), or a "
             "blocking recv() in a thread per client. Registering EVENT_WRITE while there is nothing to send, "
             "select(timeout=0) and non-blocking recv() in a loop with a tiny sleep all keep a CPU busy.")
POLL_HINT = ("Don't poll: a loop that tries a non-blocking recv() (or select(timeout=0)) and then sleeps a "
             "millisecond wakes up a thousand times a second for nothing. Let select() (timeout=None, or the time "
             "until the next deadline) or a blocking recv() wait for you: the kernel wakes you when data comes.")
THREADS_LEFT_HINT = ("Before returning, end and join() every thread you started. A thread blocked in recv() on "
                     "another thread's socket is not woken by close() on Linux: sock.shutdown(socket.SHUT_RDWR) "
                     "wakes it (recv returns b''). Cancel threading.Timer watchdogs (timer.cancel()) once their "
                     "client is done.")
STALLED_HINT = ("The room waited on the member that never reads: a blocking sendall() to it (under a lock, or in "
                "the one loop that serves everyone) stops as soon as its buffers are full. Queue each member's "
                "output and send only what the kernel takes at once (non-blocking send with EVENT_WRITE, or a "
                "writer thread per member).")
UNBOUNDED_HINT = ("Nobody waited, but the slow member's queue only grew: count the bytes still queued for each "
                  "member after each send attempt, and once they are more than max_pending, drop that member "
                  "(close its socket; shutdown(SHUT_RDWR) first if a thread of yours is blocked on it).")
CLIENT_ERROR_HINT = ("A client's error ends that client only: catch OSError and ValueError around one client's "
                     "conversation, close it, and go on serving the others.")
CLEANUP_HINT = ("Close every connection you accepted, on every path (`with conn:` in the handler, or close it when "
                "you unregister it from the selector), and leave the listener open: it belongs to the caller.")


class Server:
    """serve_concurrently or serve_chat running in the background on a grader listener."""

    def __init__(self, lab: Lab, func: str, clients: int, *, faults: bool = False,
                 family: socket.AddressFamily = socket.AF_INET, sndbuf: int | None = None,
                 deadline: float = DEADLINE + 10.0, **kwargs: Any) -> None:
        self.lab = lab
        self.listener = lab.listener(family, sndbuf=sndbuf)
        self.address = self.listener.getsockname()[:2]
        self.pending: LabCall = lab.start(func, self.listener, clients, kwargs=kwargs, faults=faults,
                                          deadline=deadline)
        self.members: list[Member] = []

    @property
    def shown(self) -> str:
        return str(getattr(self.pending.pending, "shown", "the server"))

    def member(self, name: str, **options: Any) -> Member:
        member = self.lab.member(self.address, name, **options)
        self.members.append(member)
        return member

    # -- waiting ---------------------------------------------------------------------------
    def until(self, predicate: Callable[[], Any], what: str, *, hint: str, timeout: float = WAIT,
              expected: str | None = None, actual: Callable[[], str] | None = None) -> None:
        """Waits until `predicate()` holds; fails with `what` (what did not happen) if it does not
        within `timeout`, or at once if the call ended first (a stub, a crash, an early return)."""
        end = time.monotonic() + timeout
        pause = threading.Event()
        while not predicate():
            if self.pending.done():
                self.pending.wait()  # a stub, a crash or a hang fails here, at once
                # It returned or raised: what it sent before that is still on its way to the
                # members, whose threads may not have read it yet.
                if wait_until(predicate, WAIT):
                    return
                self.ended_early(what, hint=hint)
            if time.monotonic() > end:
                raise Failure(f"{what} (waited {timeout:g} s)", expected=expected,
                              actual=actual() if actual else None, hint=hint)
            pause.wait(0.002)

    def ended_early(self, what: str, *, hint: str) -> None:
        """The call ended while its clients still needed it: collect it (a stub or crash fails as
        such) and say how it ended."""
        result = self.pending.wait()
        if result.status == "raised":
            raise Failure(f"{result.shown} raised {result.error} before {what}{shown_traceback(result)}",
                          hint=CLIENT_ERROR_HINT)
        raise Failure(f"{result.shown} returned while its clients were still connected, before {what}",
                      hint=RETURNED_EARLY_HINT)

    def pause(self, seconds: float, what: str, *, hint: str) -> None:
        """A deliberate wait of the scenario (a client that talks 0.9 s in): cut short, and the
        check failed, if the call ends meanwhile (a stub, a crash, an early return)."""
        end = time.monotonic() + seconds
        pause = threading.Event()
        while time.monotonic() < end:
            if self.pending.done():
                self.ended_early(what, hint=hint)
            pause.wait(min(0.01, max(0.0, end - time.monotonic())))

    def still_running(self, after: str) -> None:
        """The call must not have returned STILL_RUNNING seconds after `after`."""
        threading.Event().wait(STILL_RUNNING)  # the deliberate wait: a buggy server returns at once
        if self.pending.done():
            result = self.pending.wait()
            if result.status == "raised":
                raise Failure(f"{result.shown} raised {result.error} {after}{shown_traceback(result)}",
                              hint=RETURNED_EARLY_HINT)
            raise Failure(f"{result.shown} returned {after}, while a client was still connected",
                          expected="the call keeps serving until every connection has ended",
                          actual=f"it had returned {STILL_RUNNING:g} s later", hint=RETURNED_EARLY_HINT)

    # -- an idle server ----------------------------------------------------------------------
    def expect_idle(self, what: str) -> None:
        """Over IDLE_WINDOW with every client silent, the server's threads mostly sleep."""
        if self.pending.done():
            self.ended_early(f"the idle window ({what})", hint=RETURNED_EARLY_HINT)
        first = self.pending.runnable()
        started = time.monotonic()
        threading.Event().wait(IDLE_WINDOW)  # the measured window itself
        last = self.pending.runnable()
        wall = time.monotonic() - started
        if self.pending.done():
            self.ended_early(f"the idle window was over ({what})", hint=RETURNED_EARLY_HINT)
        if first is None or last is None:
            return  # no schedstat here (not Linux): nothing can be told, so nothing is failed
        busy, slices = worker_view.runnable_between(first, last)
        wakeups = slices / wall
        run = worker_view.mean_run_between(first, last)
        self.lab.transcript.add("grader", f"idle {wall:.2f} s: runnable {busy:.3f} s, {slices} wake-ups (busiest thread)"
                                + (f", {run * 1e6:.0f} µs on a CPU each" if run is not None else ""))
        if busy > BUSY_SHARE * wall and run is not None and run < POLL_RUN and slices > WAKEUPS_PER_SECOND * wall:
            # Runnable much of the window, but in short runs: a thread that polls on a loaded
            # machine (it waits for a CPU at every wake-up), not one that spins.
            raise Failure(f"a thread of {self.shown} woke up {wakeups:.0f} times a second while {what}: it polls",
                          expected=f"at most {1 / 0.05:.0f} wake-ups a second (one every 50 ms)",
                          actual=f"{slices} wake-ups in {wall:.2f} s, each on a CPU for {run * 1e6:.0f} µs on "
                                 f"average", hint=POLL_HINT)
        if busy > BUSY_SHARE * wall:
            raise Failure(f"{self.shown} kept a CPU busy while {what}: a busy loop",
                          expected=f"its threads asleep (runnable well under {BUSY_SHARE * wall:.2f} s of the "
                                   f"{wall:.2f} s)",
                          actual=f"runnable (on a CPU or waiting for one) {busy:.2f} s of {wall:.2f} s",
                          hint=BUSY_HINT)
        if wakeups > WAKEUPS_PER_SECOND:
            raise Failure(f"a thread of {self.shown} woke up {wakeups:.0f} times a second while {what}: it polls",
                          expected=f"at most {1 / 0.05:.0f} wake-ups a second (one every 50 ms)",
                          actual=f"{slices} wake-ups in {wall:.2f} s", hint=POLL_HINT)

    # -- how it ended -------------------------------------------------------------------------
    def finish(self, what: str, *, hint: str) -> CallResult:
        """The call returns (None) once every client has ended, leaving no thread, no socket and
        an open listener."""
        result = self.pending.wait()
        if result.status == "raised":
            raise Failure(f"{result.shown} raised {result.error} {what}{shown_traceback(result)}",
                          hint=CLIENT_ERROR_HINT)
        if result.value is not None:
            raise Failure(f"{result.shown} returned {result.value!r}", expected="None", actual=repr(result.value),
                          hint=hint)
        # It cannot have been done before the last of its clients that left on their own sent
        # their EOF (or reset): returning before that is returning while a client was connected.
        leaves = [m.left_at for m in self.members if m.left_at is not None]
        if result.returned_at and leaves and result.returned_at < max(leaves):
            raise Failure(f"{result.shown} returned while a client was still connected",
                          expected="the call returns once every connection has ended",
                          actual=f"it returned {max(leaves) - result.returned_at:.2f} s before its last client left",
                          hint=RETURNED_EARLY_HINT)
        return result

    def expect_clean(self, result: CallResult) -> None:
        if result.threads_left:
            shown = "\n".join(f"  {t}" for t in result.threads_left)
            raise Failure(f"{result.shown} returned, but {len(result.threads_left)} thread(s) it started "
                          f"were still running a second later:\n{shown}",
                          expected="no thread it started alive once it returns", hint=THREADS_LEFT_HINT)
        self.lab.expect_no_leaks(result, hint=CLEANUP_HINT)
        self.lab.expect_args_open(result, hint="The listener belongs to the caller: don't close it.")

    def answered(self, lines: list[str], *, hint: str) -> list[Member]:
        """A client per line, connected at once, each sending its line and waiting for an answer
        (so that the server has accepted them all and is serving every one)."""
        clients = [self.member(f"client {i}") for i in range(1, len(lines) + 1)]
        for client, line in zip(clients, lines, strict=True):
            client.say(line)
        for client in clients:
            self.until(lambda c=client: c.lines or c.ended, f"{client.name} got its answer", hint=hint)
        return clients

    def end_all(self, how: str = "eof") -> None:
        for member in self.members:
            if not member.departed:
                member.leave(how)


# -- what members got ---------------------------------------------------------------------------
def messages(member: Member) -> list[str]:
    """The relayed lines a chat member got: everything but the server's own `* ...` lines."""
    return [t for t in member.texts() if not t.startswith("* ")]


def notices(member: Member) -> list[str]:
    return [t for t in member.texts() if t.startswith("* ")]


def shown_lines(member: Member, limit: int = 12) -> str:
    texts = member.texts()
    head = texts[:limit]
    more = f" … and {len(texts) - limit} more" if len(texts) > limit else ""
    ending = {"eof": ", then EOF", "reset": ", then a reset"}.get(member.ended or "", "")
    return (repr(head) + more + ending) if texts else ("nothing" + ending)


def joined(server: Server, nick: str, *, hint: str, **options: Any) -> Member:
    """A chat member that has sent its nickname and got its welcome as its first line."""
    member = server.member(nick, **options)
    member.say(nick)
    welcome = f"* welcome {nick}"
    server.until(lambda: member.lines or member.ended, f"{nick!r} got its welcome", hint=hint)
    if member.texts()[:1] != [welcome]:
        raise Failure(f"the first line {nick!r} got after sending its nickname was not its welcome",
                      expected=repr(welcome), actual=shown_lines(member), hint=hint)
    return member
