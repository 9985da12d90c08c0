"""Clients of a student's many-client server: they connect now, read all the time, talk when told.

A scripted peer (graders/checking/peers.py) runs its actions one after another; the members of
a chat room (stage 08) and the clients of a concurrent server must instead be read from *while*
the check makes others talk, so a Member reads in a thread of its own from the moment it
connects, and keeps every line it got with the time it arrived. The check sends through it
(`say`, `send`, `dribble`), waits for what it expects (`wait_for`), and ends it the way a
real client ends (`leave`: a FIN, a close, or a reset). A member that never reads (`reads=False`,
with a tiny receive buffer) is the slow reader a room must not wait for; `drain` then reads
what reached it, to learn whether the server dropped it.

Everything a member does goes to the check's transcript. A member never raises into the
check: an EOF or a reset it meets is recorded (`ended`, `ended_at`).
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

from graders.checking.peers import PEER_BACKSTOP
from graders.checking.transcript import Transcript

# Why 1 ms: bytes sent by `dribble` leave in segments of their own (TCP_NODELAY), and the
# student's recv() meets them one at a time whenever it is quicker than a millisecond.
DRIBBLE_PAUSE = 0.001
# Why 64 KiB: what one recv() of a member takes; the server's lines are short.
READ_SIZE = 65536
TCP_ESTABLISHED = 1  # tcpi_state in TCP_INFO (linux/tcp_states.h): the server has not closed its side


class Member:
    def __init__(self, name: str, address: tuple, transcript: Transcript, stop: threading.Event, *,
                 rcvbuf: int | None = None, reads: bool = True, log_lines: bool = True) -> None:
        self.name = name
        self.transcript = transcript
        self._stop = stop
        self._log_lines = log_lines
        self.lines: list[tuple[float, bytes]] = []  # (when it arrived, the line without b"\n")
        self.partial = b""  # bytes after the last b"\n" so far
        self.ended: str | None = None  # "eof" | "reset" once the server ended the connection
        self.ended_at: float | None = None
        self.departed = False  # this side ended the connection (leave)
        self._resetting = False  # leave("reset") woke the reader: its b"" is ours, not the server's
        # When it did, if the server had not ended the connection first: a server that must wait
        # for this member cannot have been done before this moment.
        self.left_at: float | None = None
        self._changed = threading.Condition()
        family = socket.AF_INET6 if ":" in str(address[0]) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(PEER_BACKSTOP)
        self.sock.connect(address)  # to the grader's own listener: the kernel completes it at once
        self.port = self.sock.getsockname()[1]
        self.log(f"connected (port {self.port})")
        self._thread: threading.Thread | None = None
        if reads:
            self._thread = threading.Thread(target=self._read, name=f"member {name}", daemon=True)
            self._thread.start()

    # -- what it got ---------------------------------------------------------------------------
    def texts(self) -> list[str]:
        """The lines received so far, decoded (undecodable bytes shown as escapes)."""
        with self._changed:
            return [line.decode("utf-8", "backslashreplace") for _, line in self.lines]

    def wait_for(self, predicate: Callable[[Member], Any], timeout: float) -> bool:
        """Waits until predicate(self) holds (re-tested on every line and at the end); True if it did."""
        end = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                remaining = end - time.monotonic()
                if remaining <= 0:
                    return bool(predicate(self))
                self._changed.wait(min(remaining, 0.05))
            return True

    def wait_line(self, text: str, timeout: float) -> bool:
        return self.wait_for(lambda m: text in m.texts(), timeout)

    def wait_count(self, count: int, timeout: float) -> bool:
        return self.wait_for(lambda m: len(m.lines) >= count or m.ended is not None, timeout)

    def wait_ended(self, timeout: float) -> bool:
        return self.wait_for(lambda m: m.ended is not None, timeout)

    # -- what it does --------------------------------------------------------------------------
    def send(self, data: bytes) -> bool:
        """Sends `data` at once (one segment where it fits); False if the connection is gone."""
        self.log("sent", data)
        try:
            self.sock.sendall(data)
            return True
        except OSError as exc:
            self.log(f"could not send: {type(exc).__name__}")
            return False

    def say(self, text: str) -> bool:
        return self.send(text.encode("utf-8") + b"\n")

    def dribble(self, data: bytes) -> bool:
        """Sends `data` a byte at a time, each byte in a segment of its own."""
        self.log(f"sending {len(data)} bytes one at a time", data)
        pause = threading.Event()
        try:
            for i in range(len(data)):
                self.sock.send(data[i:i + 1])
                pause.wait(DRIBBLE_PAUSE)
            return True
        except OSError as exc:
            self.log(f"could not send: {type(exc).__name__}")
            return False

    def leave(self, how: str = "eof") -> None:
        """Ends the connection: "eof" (a FIN, still reading what comes), "close", or "reset" (RST)."""
        self.departed = True
        if self.ended is None and self._still_established():
            self.left_at = time.monotonic()
        with contextlib.suppress(OSError):
            if how == "eof":
                self.log("half-closed (FIN)")
                self.sock.shutdown(socket.SHUT_WR)
            elif how == "reset":
                self.log("reset the connection (RST)")
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                # The RST goes out when the socket is really closed, and a reader thread blocked
                # in recv() keeps it open whatever close() says: wake it first (SHUT_RD sends
                # nothing), let it return, then close.
                if self._thread is not None:
                    self._resetting = True
                    self.sock.shutdown(socket.SHUT_RD)
                    self._thread.join(5.0)
                self.sock.close()
            else:
                self.log("closed")
                self.sock.close()

    def _still_established(self) -> bool:
        """Whether the server has not ended the connection yet, as the kernel sees it (its FIN or
        RST may have arrived before this member's reader thread has read it)."""
        info = getattr(socket, "TCP_INFO", None)
        if info is None:
            return True
        try:
            return self.sock.getsockopt(socket.IPPROTO_TCP, info, 1)[0] == TCP_ESTABLISHED
        except OSError:
            return False

    def drain(self, timeout: float) -> str | None:
        """For a member that never read: reads everything that reached it, until the server ended
        the connection ("eof" or "reset") or `timeout` passed (None: it is still connected)."""
        end = time.monotonic() + timeout
        got = 0
        try:
            while time.monotonic() < end:
                self.sock.settimeout(max(0.001, end - time.monotonic()))
                data = self.sock.recv(READ_SIZE)
                if not data:
                    self._end("eof", f"EOF after draining {got} bytes")
                    break
                got += len(data)
        except (ConnectionResetError, BrokenPipeError):
            self._end("reset", f"connection reset after draining {got} bytes")
        except (TimeoutError, OSError):
            self.log(f"drained {got} bytes; still connected after {timeout:g} s")
        return self.ended

    def shutdown(self) -> None:
        """Ends the member at the end of the check: unblocks its reader, closes the socket."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5.0)
        self.sock.close()

    def log(self, what: str, data: bytes | None = None) -> None:
        self.transcript.add(self.name, what, data)

    # -- the reader ----------------------------------------------------------------------------
    def _read(self) -> None:
        buffer = b""
        try:
            while not self._stop.is_set():
                data = self.sock.recv(READ_SIZE)
                if not data and self._resetting:  # woken by our own reset (leave), not the server
                    with self._changed:
                        self._changed.notify_all()
                    return
                if not data:
                    self._end("eof", "EOF from the server" + (f" after {self.partial!r}" if self.partial else ""))
                    return
                buffer += data
                now = time.monotonic()
                with self._changed:
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        self.lines.append((now, line))
                        if self._log_lines:
                            self.transcript.add(self.name, "received", line + b"\n")
                    self.partial = buffer
                    self._changed.notify_all()
        except (ConnectionResetError, BrokenPipeError):
            self._end("reset", "connection reset by the server")
        except OSError:
            if not self._stop.is_set() and not self.departed:
                self._end("reset", "connection error")
            else:
                with self._changed:
                    self._changed.notify_all()

    def _end(self, how: str, what: str) -> None:
        with self._changed:
            if self.ended is None:
                self.ended, self.ended_at = how, time.monotonic()
                self.log(what)
            self._changed.notify_all()
