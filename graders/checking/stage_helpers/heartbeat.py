"""What stage 09's checks share (exercises/09_heartbeat and graders/hidden/09_heartbeat): the
ping/pong peer that ping() talks to, a measure of how late this machine runs, and the hints.

How these checks stay honest on a loaded machine:
- what the contract bounds from below ("never earlier", "no earlier than that moment") is
  checked from below only: every PING i leaves the student's code no earlier than the call
  started plus (i-1)*interval, and the grader knows a moment before the call started;
- where an order proves the point, the order is checked, not a time: a pinger that waits for
  PONG 1 cannot send PING 2 before it, however fast or slow the machine is;
- the few upper bounds (an answer "at once", a BYE "within 0.5 s") are a second or more above
  what a correct solution needs, plus how late the grader's own timers ran in the same window
  (Lateness): load that delays the student's code delays those too.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading
import time
from dataclasses import dataclass

from graders.checking.dead_network import DeadNetwork  # noqa: F401  (for the hidden checks, through graders.api)
from graders.checking.lab import Lab
from graders.checking.transcript import Transcript

# Why 3 s: how long the peer holds PONG 1 back waiting for PING 2. A correct pinger sends PING 2
# one interval (0.1 s) after PING 1; a serial one never does while it waits, so it waits this long.
HOLD_LIMIT = 3.0

KEEPALIVE_HINT = ("Turn keepalive on with sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1), then set "
                  "the timers at the TCP level: sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle), "
                  "TCP_KEEPINTVL, TCP_KEEPCNT — in seconds — and read each back with getsockopt.")
LEVEL_HINT = ("TCP_KEEPIDLE, TCP_KEEPINTVL and TCP_KEEPCNT are options of the TCP level: setsockopt(socket."
              "IPPROTO_TCP, ...). At SOL_SOCKET the same numbers mean other options — TCP_KEEPINTVL is 5, "
              "SO_DONTROUTE's number, TCP_KEEPCNT is 6, SO_BROADCAST's — and the kernel sets those instead.")
PORTABLE_HINT = ("Look each option up when the function runs: name = 'TCP_KEEPIDLE' if hasattr(socket, "
                 "'TCP_KEEPIDLE') else 'TCP_KEEPALIVE' (macOS); option = getattr(socket, name, None); skip it and "
                 "leave it out of the result when the platform has neither.")
ARGUMENTS_HINT = ("Check every argument before touching the socket: `type(x) is not int or x < 1` raises "
                  "ValueError. The values are seconds (and a count): idle=60 means 60 s, never 60000.")
SCHEDULE_HINT = ("Send PING i at start + (i-1)*interval whatever the PONGs do: compute when the next PING is due, "
                 "wait for input only until then (select with timeout = due - now), send it on time, and match "
                 "PONGs to their PINGs as they come.")
PACING_HINT = ("PING i is due at start + (i-1)*interval, never earlier: take start = time.monotonic() once, and "
               "before each PING wait until its moment has come.")
DEAF_HINT = ("While you wait for the next PING's moment, keep reading: select([sock], [], [], due - now) returns "
             "as soon as the peer sends something, so a 'PING <t>' from the peer is answered at once. "
             "time.sleep(interval) leaves it unanswered for a whole interval.")
TIMEOUT_HINT = ("Each PING has its own deadline: the moment it was sent plus timeout. Wait for input only until "
                "the earliest of the next PING's moment and the oldest outstanding PING's deadline; when a "
                "deadline passes, raise TimeoutError.")
FRAMING_HINT = ("One recv() may hold several lines, or part of one: keep a buffer, split it on b'\\n', handle every "
                "complete line (PONGs, PINGs to answer, others to ignore) and keep the rest.")
BOGUS_HINT = ("A PONG must match an outstanding PING: keep the send time of each PING not yet answered (a dict "
              "keyed by number); a PONG for a number not in it — answered already, not sent yet, not a number — "
              "raises ValueError.")
EOF_HINT = "recv() returning b'' means the peer closed before answering: raise EOFError."
RESTORE_HINT = ("Leave the socket as you found it: saved = sock.gettimeout() at the start, sock.settimeout(saved) "
                "in a finally; never close a socket your caller gave you.")


@dataclass(frozen=True)
class Policy:
    """How the ping/pong peer answers."""

    delay: float = 0.0  # seconds each PONG is held back
    hold_first: bool = False  # PONG 1 waits until PING 2 has arrived (or HOLD_LIMIT)
    answer: int | None = None  # answer only the first `answer` PINGs, then stay silent
    glue: bool = False  # PONG 1, a NEWS line and PONG 2 in one segment once PING 2 has arrived
    ping_after_first: str | None = None  # send "PING <this>" right after PING 1 arrived
    close_after: int | None = None  # half-close (FIN) right after PONG <close_after>
    after_first: bytes | None = None  # send these bytes right after PING 1, instead of PONG 1


class PongPeer:
    """The other end of ping(): reads PINGs (noting when each arrived) and answers them by a Policy."""

    def __init__(self, lab: Lab, sock: socket.socket, policy: Policy, name: str = "peer") -> None:
        self.sock, self.policy, self.name = sock, policy, name
        self.transcript: Transcript = lab.transcript
        self.pings: dict[str, float] = {}  # token of each PING received -> when it arrived
        self.pong_sent: dict[str, float] = {}  # token -> when the peer sent its PONG
        self.answers: dict[str, float] = {}  # token of the peer's own PINGs -> when their PONG came
        self.asked: dict[str, float] = {}  # token of the peer's own PINGs -> when it sent them
        self.other_lines: list[bytes] = []
        self._due: list[tuple[float, bytes, list[str]]] = []  # (when, bytes, PONG tokens in them)
        self._held: bytes | None = None
        self._pongs = 0
        self._closed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"peer {name}", daemon=True)
        lab.adopt(self)
        self._thread.start()

    def shutdown(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5.0)

    def log(self, what: str, data: bytes | None = None) -> None:
        self.transcript.add(self.name, what, data)

    # -- the loop -------------------------------------------------------------------------------
    def _run(self) -> None:
        buffer = b""
        held_since: float | None = None
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                self._send_due(now)
                if self._held is not None and held_since is not None and now - held_since > HOLD_LIMIT:
                    self._queue(now, self._held, ["1"])
                    self._held = None
                    continue
                waits = [when - now for when, _, _ in self._due]
                timeout = max(0.0, min(waits)) if waits else (0.05 if self._held is not None else 0.5)
                ready, _, _ = select.select([self.sock], [], [], timeout)
                if not ready:
                    continue
                data = self.sock.recv(65536)
                if not data:
                    self.log("EOF from the student's side")
                    return
                buffer += data
                now = time.monotonic()
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    self.log("received", line + b"\n")
                    if self._on_line(line, now) and held_since is None and self._held is not None:
                        held_since = now
        except OSError as exc:
            if not self._stop.is_set():
                self.log(f"connection error: {type(exc).__name__}")

    def _on_line(self, line: bytes, now: float) -> bool:
        """Handles one line; True when it made the peer hold PONG 1 back."""
        text = line.decode("utf-8", "replace")
        if text.startswith("PONG "):
            token = text[5:]
            if token in self.asked and token not in self.answers:
                self.answers[token] = now
            return False
        if not text.startswith("PING "):
            self.other_lines.append(line)
            return False
        token = text[5:]
        self.pings[token] = now
        policy = self.policy
        if token == "1" and policy.ping_after_first is not None:
            self.asked[policy.ping_after_first] = now
            self._queue(now, f"PING {policy.ping_after_first}\n".encode(), [])
        if token == "1" and policy.after_first is not None:
            self._queue(now, policy.after_first, [])
            return False
        if policy.answer is not None and len(self.pings) > policy.answer:
            return False
        pong = f"PONG {token}\n".encode()
        if policy.glue and token == "1":
            self._held = pong
            return False
        if policy.glue and token == "2" and self._held is not None:
            self._queue(now + policy.delay, self._held + b"NEWS x\n" + pong, ["1", "2"])
            self._held = None
            return False
        if policy.hold_first and token == "1":
            self._held = pong
            return True
        self._queue(now + policy.delay, pong, [token])
        if policy.hold_first and token == "2" and self._held is not None:
            self._queue(now, self._held, ["1"])
            self._held = None
        return False

    def _queue(self, when: float, data: bytes, tokens: list[str]) -> None:
        self._due.append((when, data, tokens))
        self._due.sort(key=lambda d: d[0])

    def _send_due(self, now: float) -> None:
        while self._due and self._due[0][0] <= now and not self._closed:
            _, data, tokens = self._due.pop(0)
            self.log("sent", data)
            self.sock.sendall(data)
            for token in tokens:
                self.pong_sent[token] = time.monotonic()
                self._pongs += 1
                if self.policy.close_after is not None and self._pongs >= self.policy.close_after:
                    self.log("half-closed (FIN)")
                    self.sock.shutdown(socket.SHUT_WR)
                    self._closed = True
                    return


class Lateness:
    """How late the grader's own timers run while it is on: the slack an upper bound adds, so
    that load which delays the student's code (on the same machine) cannot fail it."""

    def __init__(self, step: float = 0.01) -> None:
        self.step = step
        self.worst = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lateness", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            before = time.monotonic()
            if self._stop.wait(self.step):
                return
            self.worst = max(self.worst, time.monotonic() - before - self.step)

    def stop(self) -> float:
        self._stop.set()
        self._thread.join(5.0)
        return self.worst
