"""The `lab` a check receives: call the student's code, set up peers, expect results.

One Lab per check run. It records every call and every peer action in one transcript,
turns what cannot be a correct answer (a stub, a timeout, a crash) into the matching
Failure at once, and tears everything down at the end — peers shut, temporary
directories removed — whether the check passed, failed or timed out.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import socket
import tempfile
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from graders.checking import peers as p
from graders.checking.declare import CallTimedOut, CodeError, Failure, NotImplementedYet
from graders.checking.members import Member
from graders.checking.transcript import Transcript, describe_difference, show_bytes
from graders.engine.calls import CallResult, PendingCall, StudentCode
from graders.engine.codec import Opaque, RemoteError

# Why 10 s: a correct solution answers in milliseconds; 10 s leaves room for a machine
# under heavy load, so that a deadline can only ever catch a hang, never a slow box.
DEFAULT_DEADLINE = 10.0


def default_seed(check: str) -> int:
    """The fault seed of a check when none is given: from its name, so that grading the same
    code twice gives the same verdict (a random one when there is no name)."""
    return zlib.crc32(check.encode()) % 10**6 + 1 if check else random.randrange(1, 10**6)


class Lab:
    def __init__(self, subject: StudentCode, seed: int | None = None, check: str = "") -> None:
        self.subject = subject
        self.seed = seed if seed is not None else default_seed(check)
        self.transcript = Transcript()
        self._stop = threading.Event()
        self._peers: list[Any] = []
        self._socks: list[socket.socket] = []
        self._dirs: list[Path] = []
        self._calls: list[LabCall] = []
        self.faults_used = False
        self.printed: list[Printed] = []  # what each of the check's calls printed, in order

    # -- calling the student's code ------------------------------------------------
    def call(self, func: str, *args: Any, deadline: float = DEFAULT_DEADLINE, **options: Any) -> CallResult:
        """Runs func(*args) in the student's module and waits for it (see Subject.start)."""
        return self.start(func, *args, deadline=deadline, **options).wait()

    def start(self, func: str, *args: Any, deadline: float = DEFAULT_DEADLINE,
              faults: bool | dict[str, int] = False, **options: Any) -> LabCall:
        """Starts func(*args) in the background: for servers that the check's peers then use.

        faults=True makes recv/send return short counts during the call (seeded).
        """
        fault_spec = None
        if faults:
            self.faults_used = True
            fault_spec = {"seed": self.seed, "max_recv": 7, "max_send": 7}
            if isinstance(faults, dict):
                fault_spec.update(faults)
        pending = self.subject.start(func, *args, deadline=deadline, faults=fault_spec, **options)
        self.transcript.add("student", f"called {pending.shown}" + (" (short reads/writes on)" if faults else ""))
        call = LabCall(self, pending)
        self._calls.append(call)
        return call

    # -- peers and sockets ------------------------------------------------------------
    def connection(self, script: Sequence[p.Action] = (), *, family: socket.AddressFamily = socket.AF_INET,
                   student_rcvbuf: int | None = None, peer_rcvbuf: int | None = None,
                   name: str = "peer") -> tuple[p.Peer, socket.socket]:
        """A live TCP connection: (the peer running `script`, the student's end to pass in)."""
        peer_sock, student = p.connected_pair(family, student_rcvbuf, peer_rcvbuf)
        self._socks.append(student)
        peer = p.Peer(name, script, self.transcript, self._stop)
        peer.watch = student
        self._peers.append(peer)
        self.transcript.add(name, f"connected (port {peer_sock.getsockname()[1]} ↔ {student.getsockname()[1]})")
        peer.start_on(peer_sock)
        return peer, student

    def client(self, address: tuple, script: Sequence[p.Action], *, name: str = "client",
               rcvbuf: int | None = None, timeout: float = DEFAULT_DEADLINE) -> p.ClientPeer:
        """A reference client that connects to `address` and runs `script` (in a thread)."""
        peer = p.ClientPeer(name, script, self.transcript, self._stop)
        self._peers.append(peer)
        threading.Thread(target=peer.connect, args=(address, timeout, rcvbuf), daemon=True).start()
        return peer

    def server(self, *scripts: Sequence[p.Action], family: socket.AddressFamily = socket.AF_INET,
               mode: str = "now", name: str = "server") -> p.ServerPeer:
        """A reference server serving one connection per script (see peers.ServerPeer)."""
        server = p.ServerPeer(name, scripts or [()], self.transcript, self._stop, family, mode)
        self._peers.append(server)
        return server

    def listener(self, family: socket.AddressFamily = socket.AF_INET, backlog: int = 16,
                 sndbuf: int | None = None) -> socket.socket:
        """A listening socket made by the grader, to hand to a student's server function.

        sndbuf: the send buffer every connection it accepts inherits (a small one makes a
        reader that never reads back up within kilobytes, not megabytes)."""
        sock = socket.socket(family, socket.SOCK_STREAM)
        self._socks.append(sock)
        if sndbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        sock.bind((p.loopback(family), 0))
        sock.listen(backlog)
        self.transcript.add("grader", f"listening on port {sock.getsockname()[1]}"
                            + (f", send buffer {sndbuf} bytes" if sndbuf else ""))
        return sock

    def pair(self, family: socket.AddressFamily = socket.AF_INET) -> tuple[socket.socket, socket.socket]:
        """(the grader's end, the student's end) of a live TCP connection, both closed when the
        check ends: for a peer of the check's own making (see `adopt`)."""
        peer_sock, student = p.connected_pair(family)
        self._socks += [peer_sock, student]
        self.transcript.add("grader", f"connected (port {peer_sock.getsockname()[1]} ↔ {student.getsockname()[1]})")
        return peer_sock, student

    def adopt(self, peer: Any) -> Any:
        """A peer of the check's own making, ended (its `shutdown()`) when the check ends."""
        self._peers.append(peer)
        return peer

    def member(self, address: tuple, name: str, *, rcvbuf: int | None = None, reads: bool = True,
               log_lines: bool = True) -> Member:
        """A client of a many-client server that reads all the time (graders/checking/members.py)."""
        member = Member(name, address, self.transcript, self._stop, rcvbuf=rcvbuf, reads=reads,
                        log_lines=log_lines)
        self._peers.append(member)
        return member

    def unused_port(self, family: socket.AddressFamily = socket.AF_INET) -> tuple[socket.socket, int]:
        """A port that is bound but not listening: connects to it are refused, and it stays ours."""
        sock = socket.socket(family, socket.SOCK_STREAM)
        self._socks.append(sock)
        sock.bind((p.loopback(family), 0))
        return sock, sock.getsockname()[1]

    def tmpdir(self) -> Path:
        path = Path(tempfile.mkdtemp(prefix="tcplab-"))
        self._dirs.append(path)
        return path

    def close(self) -> None:
        self._stop.set()
        for call in self._calls:
            # A check that ended (failed, say) before collecting its background call: the
            # worker is still inside it, so it is replaced rather than waited for.
            if not call.pending.collected:
                call.pending.abandon()
        for peer in self._peers:
            with contextlib.suppress(Exception):
                peer.shutdown()
        for sock in self._socks:
            sock.close()
        for path in self._dirs:
            shutil.rmtree(path, ignore_errors=True)

    # -- expectations ---------------------------------------------------------------------
    def fail(self, message: str, *, expected: Any = None, actual: Any = None, hint: str | None = None) -> None:
        raise Failure(message, expected=expected, actual=actual, hint=hint)

    def returned(self, result: CallResult, *, hint: str | None = None) -> Any:
        """The value the call returned; a Failure naming the exception if it raised."""
        if result.status != "returned":
            error = result.error
            tb = f"\n{error.traceback.rstrip()}" if error and error.traceback else ""
            raise Failure(f"{result.shown} raised {error}{tb}", hint=hint)
        return result.value

    def expect_equal(self, result: CallResult, expected: Any, *, what: str | None = None,
                     hint: str | None = None) -> Any:
        value = self.returned(result, hint=hint)
        if value != expected:
            raise Failure(f"{what or result.shown} returned the wrong value",
                          expected=show_value(expected), actual=show_value(value) + _diff(expected, value), hint=hint)
        return value

    def expect_raises(self, result: CallResult, *classes: type[BaseException] | str,
                      hint: str | None = None) -> RemoteError:
        names = " or ".join(c if isinstance(c, str) else c.__name__ for c in classes)
        if result.status == "returned":
            raise Failure(f"{result.shown} returned instead of raising {names}",
                          expected=f"{names} raised", actual=f"returned {show_value(result.value)}", hint=hint)
        assert result.error is not None
        if not result.error.is_a(*classes):
            raise Failure(f"{result.shown} raised the wrong exception", expected=names,
                          actual=str(result.error), hint=hint)
        return result.error

    def expect_seen(self, result: CallResult) -> None:
        """A Failure when what the call left behind could not be read from outside the worker."""
        if getattr(result, "unseen", ""):
            raise Failure(f"after {result.shown}, {result.unseen}",
                          hint="Leave the process alone: no prctl(), no changes to the worker. Your functions "
                          "are judged by what they do with their sockets.")

    def expect_no_leaks(self, result: CallResult, *, hint: str | None = None) -> None:
        self.expect_seen(result)
        if result.leaked:
            raise Failure(
                f"{result.shown} left {len(result.leaked)} socket(s) open: " + "; ".join(result.leaked),
                hint=hint or "Close every socket you open, on every path: use `with socket.socket(...) as s:` "
                "or try/finally, so that an exception closes it too.",
            )

    def expect_args_open(self, result: CallResult, *, hint: str | None = None) -> None:
        self.expect_seen(result)
        if result.closed_args:
            raise Failure(
                f"{result.shown} closed the socket it was given",
                hint=hint or "A function that is given a socket does not own it: the caller closes it.",
            )


class LabCall:
    """A started call; `wait()` turns a stub, a timeout or a crash into its Failure."""

    def __init__(self, lab: Lab, pending: PendingCall) -> None:
        self.lab, self.pending = lab, pending

    def done(self) -> bool:
        return self.pending.done()

    def runnable(self) -> dict[int, tuple[int, int, int]] | None:
        """The call's threads: nanoseconds each was runnable so far (None: not measurable here)."""
        return self.pending.runnable()

    def wait(self) -> CallResult:
        fresh = not self.pending.collected
        result = self.pending.wait()
        if fresh:
            log_result(self.lab, result)
            if result.output.strip():
                self.lab.printed.append(Printed(result.func, result.output, result.output_cut))
        if result.status == "grader-error":
            raise GraderFault(result.message)  # reported as the grader's error, never as the student's
        if result.status == "missing":
            raise CodeError(result.message)
        if result.status == "timeout":
            raise CallTimedOut(result.message)
        if result.status == "crashed":
            raise CodeError(result.message)
        if result.error is not None and result.error.is_a("NotImplementedError"):
            raise NotImplementedYet(f"not implemented yet: {result.func}() still raises NotImplementedError"
                                    + (f" ({result.error.message})" if result.error.message else ""))
        if result.error is not None and result.error.type == "SystemExit":
            raise CodeError(f"{result.shown}: {result.error.message} — a function must return or raise, "
                            "never end the process",
                            hint=f"Replace sys.exit() in {result.func}() with what the stage asks for: return the "
                                 "result, or raise the exception its README names. sys.exit ends the whole "
                                 "program that called your function.")
        return result


class GraderFault(RuntimeError):
    """The engine failed running a call (not the student's code): the check is a grader error."""


def log_result(lab: Lab, result: CallResult) -> None:
    if result.status == "returned":
        lab.transcript.add("student", f"{result.func}() returned {show_value(result.value)}")
    elif result.status == "raised":
        lab.transcript.add("student", f"{result.func}() raised {result.error}")
    else:
        lab.transcript.add("student", f"{result.func}(): {result.message}")


def show_value(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return show_bytes(bytes(value))
    if isinstance(value, socket.socket):
        return "a socket"
    if isinstance(value, Opaque):
        return f"{value.repr} (a {value.type})"
    text = repr(value)
    return text if len(text) <= 300 else text[:300] + f"… ({len(text)} characters)"


def _diff(expected: Any, actual: Any) -> str:
    if isinstance(expected, bytes) and isinstance(actual, bytes) and max(len(expected), len(actual)) > 48:
        return "\n" + describe_difference(expected, actual)
    return ""


@dataclass(frozen=True)
class Printed:
    """What one call printed: its last bytes, and how many bytes before them were cut."""

    func: str
    text: str
    cut: int = 0


def printed_text(printed: list[Printed]) -> str:
    """What a check's calls printed, each call's under its name: kept apart from the explanation."""
    if len(printed) == 1 and not printed[0].cut:  # one call: its name would only repeat the transcript
        return printed[0].text.rstrip("\n")
    parts = []
    for call in printed:
        head = f"{call.func}() printed" + (f" (its first {call.cut} bytes cut)" if call.cut else "") + ":"
        parts.append(head + "\n" + call.text.rstrip("\n"))
    return "\n".join(parts)
