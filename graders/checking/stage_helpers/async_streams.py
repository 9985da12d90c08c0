"""What stage 11's checks share (exercises/11_asyncio and graders/hidden/11_asyncio): the line
server that request_lines() talks to, a flood that measures backpressure, how a serve_upper()
call must end, and the hints. (Named for the stage's module, async_streams: a helper module
named `asyncio` would hide the standard library's in every check file that imports it.)

How these checks stay honest on a loaded machine: the grader's own peers are threads with
blocking sockets, as in every stage. What must happen "at once" is waited for seconds
(stage 08's WAIT); an order proves what a time cannot (a second client is answered before the
first, silent one is dropped); backpressure is measured in bytes a client could push, which
load can only make smaller.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import sys
import threading

from graders.checking.declare import Failure
from graders.checking.lab import Lab
from graders.checking.peers import loopback
from graders.checking.stage_helpers.concurrency import Server
from graders.checking.transcript import Transcript
from graders.engine.calls import CallResult

# Why 4096: the smallest buffers the kernel allows, so that a client which writes everything
# before it reads fills them within kilobytes and the peer, blocked in its own send, stops reading.
SMALL_BUFFER = 4096
# Why 8 MB: more than a client's send buffer can ever take (tcp_wmem's maximum is 4 MB) plus the
# peer's, so that a client which does not read while it writes is stuck long before the end.
PIPELINE_BYTES = 8 * 1024 * 1024
# Why 32 MB and 8 MB: a server that drains lets a client that never reads push a few megabytes
# (the kernel's buffers and asyncio's); one that never drains reads everything it is sent.
FLOOD_BYTES = 32 * 1024 * 1024
FLOOD_LIMIT = 8 * 1024 * 1024
# Why 1 s: a flood that made no progress this long is held back by the server.
FLOOD_STUCK = 1.0

VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"

REQUEST_HINT = ("Open one connection (asyncio.open_connection), write each line + '\\n', read one reply line per "
                "request with readline(), and return the replies without their '\\n'.")
PIPELINE_HINT = ("Keep reading while you write: the server answers as it reads, and when nobody reads its answers, "
                 "its buffers fill and it stops reading yours. Write in a task of its own (with drain()) while "
                 "the reader collects the replies, or alternate: write a little, read what has come.")
TIMEOUT_HINT = ("Bound the whole exchange: asyncio.wait_for(exchange(), timeout) (or `async with "
                "asyncio.timeout(timeout)` on 3.11+), and raise the builtin TimeoutError. On 3.10 "
                "asyncio.TimeoutError is another class: catch it and raise TimeoutError from it. "
                f"(The grader runs Python {VERSION}.)")
PARTIAL_HINT = ("readline() returns a partial line (no '\\n') at EOF, and b'' after it: a reply that does not end "
                "in '\\n' means the server closed early — raise EOFError. readuntil(b'\\n') raises "
                "IncompleteReadError (an EOFError) there by itself.")
LIMIT_HINT = ("A reply line may be 65536 bytes long (before its '\\n'), not more: asyncio's default limit is exactly "
              "that; a longer one makes readline() raise ValueError (readuntil: LimitOverrunError) — let it be "
              "a ValueError.")
CLOSE_HINT = ("On every path: writer.close(), then await the close, bounded: await asyncio.wait_for(asyncio."
              "shield(writer.wait_closed()), 1.0); when that times out (unsent data, a peer that does not read), "
              "writer.transport.abort(). An unclosed writer leaves its socket to the garbage collector.")
FRAME_HINT = ("reader.read(n) returns up to n bytes, whatever has arrived: read the 4-byte header and the payload "
              "with readexactly(), which waits for all of them (IncompleteReadError, an EOFError, at EOF).")
HUGE_HINT = ("Check the announced length against MAX_FRAME before reading the payload: raise ValueError at once. "
             "readexactly(0xFFFFFFFF) would wait for 4 GiB that never come.")
SERVE_HINT = ("server = await asyncio.start_server(handle, sock=listener, limit=...): asyncio accepts, and calls "
              "handle(reader, writer) for each connection; count them, close the server once `clients` have "
              "connected, then wait for every handler to finish.")
LAST_CLIENT_HINT = ("Wait for your handlers, not for the server: count the handlers that finished (an asyncio.Event "
                    "set by the last one). Server.wait_closed() returns at once on 3.11 and earlier, so "
                    "asyncio.run() then cancels the handlers still talking; on 3.12+ it waits for them. "
                    f"(The grader runs Python {VERSION}.)")
BLOCKING_HINT = ("Never block the event loop: time.sleep(), a blocking recv() or socket.create_connection() inside "
                 "a coroutine stops every other connection with it. await asyncio.sleep(), await reader.readline().")
ACTIVE_HINT = ("The idle timeout bounds each read, not the whole connection: asyncio.wait_for(reader.readline(), "
               "idle_timeout) around each readline. Around the whole handler it drops a client that talks all "
               "the time.")
IDLE_HINT = ("Bound each read by idle_timeout (asyncio.wait_for(reader.readline(), idle_timeout)); on TimeoutError "
             "close that connection. Let asyncio.CancelledError through: swallowing it (except BaseException, "
             "except CancelledError: pass) cancels nothing.")
LINE_LIMIT_HINT = ("Pass limit=max_line to start_server: then a line of exactly max_line bytes (before '\\n') is read, "
                   "a longer one raises ValueError (LimitOverrunError from readuntil). Close that client; retrying "
                   "readuntil() finds the same bytes in the buffer and spins.")
BAD_CLIENT_HINT = ("A reset, invalid UTF-8 or an over-long line ends that connection only: catch ConnectionError, "
                   "UnicodeDecodeError and ValueError in the handler, close the writer, and return.")
DRAIN_HINT = ("After every write, await writer.drain(): it waits while the transport's buffer is full, so a client "
              "that never reads stops being read. write() alone never waits: the server buffers whatever the "
              "client sends, without bound.")
CLOSED_LISTENER_HINT = ("asyncio's server owns the listener: closing the server (server.close()) closes it. Here the "
                        "rule is the other way round from the rest of the course: the listener is closed on return.")


class UpperPeer:
    """A line server for request_lines: answers each line upper-cased, as it reads it.

    small: buffers of SMALL_BUFFER bytes on its side, so that it stops reading while its answers
    go unread; reads=False: it never reads at all (a server whose client must give up)."""

    def __init__(self, lab: Lab, *, family: socket.AddressFamily = socket.AF_INET, small: bool = False,
                 reads: bool = True, reply: bytes | None = None, name: str = "server") -> None:
        self.name, self.transcript = name, lab.transcript
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        if small:
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                self.listener.setsockopt(socket.SOL_SOCKET, option, SMALL_BUFFER)
        self.listener.bind((loopback(family), 0))
        self.listener.listen(4)
        self.address = self.listener.getsockname()[:2]
        self.small, self.reads, self.reply = small, reads, reply
        self.lines = 0  # lines read
        self.bytes_read = 0
        self._conn: socket.socket | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"peer {name}", daemon=True)
        lab.adopt(self)
        self._thread.start()
        what = "never reads" if not reads else ("answers as it reads, with 4 KB buffers" if small else
                                                "answers each line upper-cased")
        self.log(f"listening on port {self.address[1]}: {what}")

    @property
    def port(self) -> int:
        return self.address[1]

    def log(self, what: str, data: bytes | None = None) -> None:
        self.transcript.add(self.name, what, data)

    def shutdown(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            if self._conn is not None:
                self._conn.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):  # close() alone does not wake a thread in accept() on Linux
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._thread.join(5.0)
        if self._conn is not None:
            self._conn.close()

    def _run(self) -> None:
        try:
            self.listener.settimeout(30.0)
            conn, _ = self.listener.accept()
        except OSError:
            return
        self._conn = conn
        self.log("accepted a connection")
        if not self.reads:
            self._stop.wait(30.0)
            return
        conn.settimeout(30.0)
        # Why: with 4 KB buffers, Nagle's algorithm holds each small answer until the client's
        # delayed ACK (40 ms), and the exchange crawls at a line per ACK instead of flowing.
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        try:
            while not self._stop.is_set():
                data = conn.recv(65536)
                if not data:
                    self.log(f"EOF after {self.lines} line(s), {self.bytes_read} bytes")
                    break
                self.bytes_read += len(data)
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    self.lines += 1
                    if self.lines <= 3:
                        self.log("received", line + b"\n")
                    answer = self.reply if self.reply is not None else line.decode("utf-8", "replace").upper().encode() + b"\n"
                    conn.sendall(answer)
                    if self.lines <= 3:
                        self.log("sent", answer)
                    if self.reply is not None and not self.reply.endswith(b"\n"):
                        conn.shutdown(socket.SHUT_WR)
                        self.log("closed (FIN) after an answer without newline")
                        return
        except OSError as exc:
            if not self._stop.is_set():
                self.log(f"connection error: {type(exc).__name__}")


def request(lab: Lab, peer: UpperPeer, lines: list[str], *, timeout: float = 5.0, deadline: float = 15.0,
            host: str | None = None) -> CallResult:
    return lab.call("request_lines", host or peer.address[0], peer.port, lines, kwargs={"timeout": timeout},
                    deadline=deadline)


def expect_ended(server: Server, result: CallResult) -> None:
    """serve_upper's end: no thread left, no socket open, and the listener closed (asyncio's server owns it)."""
    if result.threads_left:
        shown = "\n".join(f"  {t}" for t in result.threads_left)
        raise Failure(f"{result.shown} returned, but thread(s) it started were still running:\n{shown}",
                      hint="Stay on the event loop: no threads of your own (asyncio.to_thread only for blocking "
                           "work, and none is needed here).")
    server.lab.expect_no_leaks(result, hint="Close every writer (writer.close(); await writer.wait_closed()) on "
                                            "every path, and the server (server.close()).")
    if not result.closed_args:
        raise Failure(f"{result.shown} returned with the listener still open", expected="the listener closed",
                      actual="open: the server was never closed", hint=CLOSED_LISTENER_HINT)


class Flood:
    """A client that sends lines as fast as it can and never reads: how far it gets is how far
    the server lets it (it stops when nothing went out for FLOOD_STUCK, or after FLOOD_BYTES)."""

    def __init__(self, address: tuple, transcript: Transcript, name: str = "flood") -> None:
        self.name, self.transcript = name, transcript
        family = socket.AF_INET6 if ":" in str(address[0]) else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, SMALL_BUFFER)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SMALL_BUFFER)
        self.sock.connect(address)
        self.sock.settimeout(FLOOD_STUCK)
        self.sent = 0
        self.done = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"client {name}", daemon=True)
        self._thread.start()
        transcript.add(name, "connected (4 KB buffers): sends lines without end, never reads")

    def _run(self) -> None:
        chunk = (b"x" * 1023 + b"\n") * 64
        try:
            while self.sent < FLOOD_BYTES:
                self.sent += self.sock.send(chunk)
        except TimeoutError:
            self.transcript.add(self.name, f"held back after {self.sent / 1e6:.1f} MB: nothing went out for "
                                           f"{FLOOD_STUCK:g} s")
        except OSError as exc:
            self.transcript.add(self.name, f"connection ended after {self.sent / 1e6:.1f} MB: {type(exc).__name__}")
        else:
            self.transcript.add(self.name, f"sent all {self.sent / 1e6:.0f} MB: the server read everything")
        self.done.set()

    def close(self) -> None:
        """Ends the flood with a reset; its thread is stopped first (a send() in it holds the socket)."""
        with contextlib.suppress(OSError):
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.shutdown(socket.SHUT_WR)
        self._thread.join(FLOOD_STUCK + 5.0)
        self.sock.close()

