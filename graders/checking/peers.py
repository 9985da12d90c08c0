"""Reference peers: the other end of the student's connections, behaving as networks do.

A peer's behaviour is data — a script of actions — run by one generic runner in a thread:

    Send(data, piece=1, barrier=True)   dribble: one byte at a time, each once the last was read
    Send(a + b)                         coalesce: two messages glued into one segment
    Recv(n) / RecvLine() / RecvAll()    read what the student sends (RecvAll(pause=..) reads slowly)
    ShutWr()  Close()  Reset()          half-close (FIN), close, abort (RST via SO_LINGER 0)
    Pause(s)  Stall()                   deliberate pacing; hold the connection silently until the check ends
    AwaitRead()                         wait until the student has read everything sent so far

Where a peer is put: `connected_pair` (the student gets the other end of a live TCP
connection), `ClientPeer` (connects to a student's server) and `ServerPeer` (listens
now, late, never, or with a full backlog). Everything a peer does goes to the check's
transcript. A peer never raises into the check: a reset or an EOF it meets is recorded,
and its script stops.
"""

from __future__ import annotations

import contextlib
import fcntl
import socket
import struct
import termios
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from graders.checking.transcript import Transcript

# Why 30 s: a backstop so that a peer thread can never outlive a check by much; the lab
# shuts peer sockets down at the end of every check, which normally ends them at once.
PEER_BACKSTOP = 30.0
# Why 2 s: a barrier waits for the student to read the previous piece; if it does not,
# sending the next piece anyway can only make a buggy solution pass, never a correct fail.
BARRIER_PATIENCE = 2.0


@dataclass(frozen=True)
class Send:
    data: bytes
    piece: int | None = None  # send in pieces of this many bytes (1 = dribble)
    pause: float = 0.0  # deliberate pause between pieces
    barrier: bool = False  # before each piece, wait until the student has read the last


@dataclass(frozen=True)
class Recv:
    n: int


@dataclass(frozen=True)
class RecvLine:
    limit: int = 1 << 20


@dataclass(frozen=True)
class RecvAll:
    limit: int | None = None
    chunk: int = 65536
    pause: float = 0.0  # a slow reader pauses between reads


@dataclass(frozen=True)
class ShutWr:
    pass


@dataclass(frozen=True)
class Close:
    pass


@dataclass(frozen=True)
class Reset:
    pass


@dataclass(frozen=True)
class Pause:
    seconds: float


@dataclass(frozen=True)
class Stall:
    pass


@dataclass(frozen=True)
class AwaitRead:
    """Wait (up to BARRIER_PATIENCE) until the student's program has read what was sent:
    a reset after it then meets a student that holds those bytes, never one still connecting."""


Action = Send | Recv | RecvLine | RecvAll | ShutWr | Close | Reset | Pause | Stall | AwaitRead


def dribble(data: bytes) -> Send:
    """`data` one byte at a time, each byte sent only once the student has read the last."""
    return Send(data, piece=1, pause=0.0005, barrier=True)


class Peer:
    """Runs a script on one connection; what it read is in `received`."""

    def __init__(self, name: str, script: Sequence[Action], transcript: Transcript,
                 stop: threading.Event) -> None:
        self.name = name
        self.script = list(script)
        self.transcript = transcript
        self.stop = stop
        self.received = bytearray()
        self.lines: list[bytes] = []
        self.saw_eof = False
        self.saw_reset = False
        self.problem: str | None = None
        self.sock: socket.socket | None = None
        self.watch: socket.socket | None = None  # the student's end, where the grader has it
        self.finished = threading.Event()
        self._thread: threading.Thread | None = None

    def start_on(self, sock: socket.socket) -> None:
        self.sock = sock
        with contextlib.suppress(OSError):  # the check may already be ending and closing it
            sock.settimeout(PEER_BACKSTOP)
        self._thread = threading.Thread(target=self._run, name=f"peer {self.name}", daemon=True)
        self._thread.start()

    def wait(self, timeout: float = 10.0) -> bool:
        """True when the script ran to its end (or stopped on an EOF or a reset) in time."""
        return self.finished.wait(timeout)

    def shutdown(self) -> None:
        """Ends the peer: unblocks any read or write, closes the socket, joins the thread."""
        if self.sock is not None:
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(5.0)
        if self.sock is not None:
            self.sock.close()

    def log(self, what: str, data: bytes | None = None) -> None:
        self.transcript.add(self.name, what, data)

    # -- the runner ---------------------------------------------------------------
    def _run(self) -> None:
        try:
            for action in self.script:
                if self.stop.is_set() or not self._do(action):
                    break
        except (ConnectionResetError, BrokenPipeError) as exc:
            self.saw_reset = True
            self.log(f"connection reset by the student's side ({type(exc).__name__})")
        except TimeoutError:
            self.problem = f"waited {PEER_BACKSTOP:.0f} s and nothing came"
            self.log(self.problem)
        except OSError as exc:
            if not self.stop.is_set():
                self.problem = f"{type(exc).__name__}: {exc}"
                self.log(f"connection error: {self.problem}")
        finally:
            self.finished.set()

    def _do(self, action: Action) -> bool:
        """Performs one action; False ends the script (EOF met, socket gone)."""
        sock = self.sock
        assert sock is not None
        if isinstance(action, Send):
            return self._send(action)
        if isinstance(action, Recv):
            return self._recv_exactly(action.n)
        if isinstance(action, RecvLine):
            return self._recv_line(action.limit)
        if isinstance(action, RecvAll):
            return self._recv_all(action)
        if isinstance(action, ShutWr):
            sock.shutdown(socket.SHUT_WR)
            self.log("half-closed its sending side (FIN)")
            return True
        if isinstance(action, Close):
            sock.close()
            self.log("closed the connection")
            return False
        if isinstance(action, Reset):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            self.log("reset the connection (RST)")
            return False
        if isinstance(action, Pause):
            self.stop.wait(action.seconds)
            return True
        if isinstance(action, Stall):
            self.log("goes silent, keeping the connection open")
            self.stop.wait()
            return False
        if isinstance(action, AwaitRead):
            self._wait_until_read()
            return True
        raise TypeError(f"unknown action {action!r}")

    def _send(self, action: Send) -> bool:
        sock = self.sock
        assert sock is not None
        if action.piece is None:
            sock.sendall(action.data)
            self.log(f"sent {len(action.data)} bytes", action.data)
            return True
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        step = max(1, action.piece)
        for offset in range(0, len(action.data), step):
            if self.stop.is_set():
                return False
            if action.barrier and offset:
                self._wait_until_read()
            elif action.pause and offset:
                self.stop.wait(action.pause)
            sock.sendall(action.data[offset : offset + step])
        self.log(f"sent {len(action.data)} bytes in pieces of {step}", action.data)
        return True

    def _wait_until_read(self) -> None:
        """Until the student's end holds no unread byte: its FIONREAD where the grader has
        that socket, else its receive queue in /proc/net/tcp (a connection the student made
        or accepted); a 2 ms pause where neither can be seen."""
        assert self.sock is not None
        if self.watch is not None:
            def unread() -> int | None:
                return unread_bytes(self.watch)  # type: ignore[arg-type]
        else:
            def unread() -> int | None:
                return unread_at_other_end(self.sock)  # type: ignore[arg-type]
        if unread() is None:
            self.stop.wait(0.002)
            return
        deadline = time.monotonic() + BARRIER_PATIENCE
        while unread() and time.monotonic() < deadline and not self.stop.is_set():
            self.stop.wait(0.0005)

    def _recv_exactly(self, n: int) -> bool:
        got = bytearray()
        while len(got) < n:
            try:
                chunk = self.sock.recv(n - len(got))  # type: ignore[union-attr]
            except OSError:
                self.received += got  # what did arrive still counts, and shows
                if got:
                    self.log(f"received {len(got)} of {n} bytes before the connection ended", bytes(got))
                raise
            if not chunk:
                self._eof(got)
                return False
            got += chunk
        self.received += got
        self.log(f"received {len(got)} bytes", bytes(got))
        return True

    def _recv_line(self, limit: int) -> bool:
        got = bytearray()
        while not got.endswith(b"\n"):
            chunk = self.sock.recv(1)  # type: ignore[union-attr]
            if not chunk:
                self._eof(got)
                return False
            got += chunk
            if len(got) > limit:
                self.log(f"received {len(got)} bytes and no newline: giving up", bytes(got))
                return False
        self.received += got
        self.lines.append(bytes(got[:-1]))
        self.log("received a line", bytes(got))
        return True

    def _recv_all(self, action: RecvAll) -> bool:
        got = bytearray()
        while action.limit is None or len(got) < action.limit:
            if action.pause:
                self.stop.wait(action.pause)
            chunk = self.sock.recv(action.chunk)  # type: ignore[union-attr]
            if not chunk:
                break
            got += chunk
        self.received += got
        self.log(f"received {len(got)} bytes", bytes(got))
        if action.limit is None or len(got) < action.limit:
            self.saw_eof = True
            self.log("saw EOF: the other side closed its sending side")
        return True

    def _eof(self, partial: bytes) -> None:
        self.received += partial
        self.saw_eof = True
        if partial:
            self.log(f"received {len(partial)} bytes", bytes(partial))
        self.log("saw EOF: the other side closed its sending side")


def unread_bytes(sock: socket.socket) -> int:
    """How many bytes wait in `sock`'s receive queue (FIONREAD)."""
    buf = bytearray(4)
    try:
        fcntl.ioctl(sock.fileno(), termios.FIONREAD, buf)
    except OSError:
        return 0
    return int.from_bytes(buf, "little" if struct.pack("=I", 1)[0] == 1 else "big")


def unread_at_other_end(sock: socket.socket) -> int | None:
    """How many bytes wait unread at the other end of `sock`, a loopback connection whose
    other end is a socket of this machine: that socket's rx_queue in /proc/net/tcp(6),
    found by its ports (ours, mirrored). 0 once it is gone; None without /proc."""
    try:
        ours, theirs = sock.getsockname()[1], sock.getpeername()[1]
    except OSError:
        return 0
    local, remote = f":{theirs:04X}", f":{ours:04X}"
    found_table = False
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):  # a dual-stack student socket is in tcp6
        try:
            with open(table, encoding="ascii") as f:
                found_table = True
                next(f, None)
                for line in f:
                    fields = line.split()
                    if fields[1].endswith(local) and fields[2].endswith(remote):
                        return int(fields[4].split(":")[1], 16)
        except OSError:
            continue
    return 0 if found_table else None


def loopback(family: socket.AddressFamily) -> str:
    return "::1" if family == socket.AF_INET6 else "127.0.0.1"


def connected_pair(family: socket.AddressFamily = socket.AF_INET,
                   student_rcvbuf: int | None = None,
                   peer_rcvbuf: int | None = None) -> tuple[socket.socket, socket.socket]:
    """(peer end, student end) of a real TCP connection on loopback."""
    with socket.socket(family, socket.SOCK_STREAM) as listener:
        listener.bind((loopback(family), 0))
        listener.listen(1)
        student = socket.socket(family, socket.SOCK_STREAM)
        if student_rcvbuf:
            student.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, student_rcvbuf)
        try:
            student.connect(listener.getsockname())
            peer, _ = listener.accept()
        except OSError:
            student.close()
            raise
    if peer_rcvbuf:
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, peer_rcvbuf)
    return peer, student


class ClientPeer(Peer):
    """Connects to a student's server, then runs its script; `connected` is set once it has."""

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.connected = threading.Event()

    def connect(self, address: tuple, timeout: float = 10.0, rcvbuf: int | None = None) -> bool:
        family = socket.AF_INET6 if ":" in str(address[0]) else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError as exc:
            sock.close()
            self.problem = f"could not connect to {address[0]} port {address[1]}: {exc}"
            self.log(self.problem)
            self.finished.set()
            return False
        if self.stop.is_set():  # the check ended while this client was connecting
            sock.close()
            self.finished.set()
            return False
        self.log(f"connected to {address[0]} port {address[1]}")
        self.connected.set()
        self.start_on(sock)
        return True


class ServerPeer:
    """A listening reference server: `mode` is now | late | never | full.

    - now: listens at once and serves `connections` clients one after another;
    - late: bound now (connects are refused) and listens when `listen()` is called;
    - never: bound, never listening (every connect is refused);
    - full: listens with a backlog of 0 filled by the peer's own connection and never
      accepts, so a connect times out.
    """

    def __init__(self, name: str, scripts: Sequence[Sequence[Action]], transcript: Transcript,
                 stop: threading.Event, family: socket.AddressFamily = socket.AF_INET,
                 mode: str = "now") -> None:
        self.name, self.scripts, self.transcript, self.stop = name, list(scripts), transcript, stop
        self.mode = mode
        self.peers: list[Peer] = []
        self.accepted = 0
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind((loopback(family), 0))
        self.address = self.sock.getsockname()[:2]
        self._filler: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.all_served = threading.Event()
        self.connected = threading.Event()  # the first client was accepted
        if mode == "now":
            self.listen()
        elif mode == "full":
            self.sock.listen(0)
            self._filler = socket.create_connection(self.address)
            transcript.add(name, f"listening on port {self.address[1]} with a full backlog, never accepting")
        else:
            transcript.add(name, f"bound port {self.address[1]}, not listening yet (connects are refused)")

    def listen(self) -> None:
        self.sock.listen(8)
        self.transcript.add(self.name, f"listening on {self.address[0]} port {self.address[1]}")
        self._thread = threading.Thread(target=self._serve, name=f"peer {self.name}", daemon=True)
        self._thread.start()

    def listen_after(self, seconds: float) -> None:
        """Listens after a deliberate delay (the 'late listener'), from a timer thread."""
        timer = threading.Timer(seconds, lambda: None if self.stop.is_set() else self.listen())
        timer.daemon = True
        timer.start()

    def _serve(self) -> None:
        try:
            self.sock.settimeout(PEER_BACKSTOP)
        except OSError:  # the check ended before this thread got going
            self.all_served.set()
            return
        for index, script in enumerate(self.scripts):
            try:
                conn, address = self.sock.accept()
            except OSError:
                break
            self.accepted += 1
            peer = Peer(f"{self.name}#{index + 1}" if len(self.scripts) > 1 else self.name,
                        script, self.transcript, self.stop)
            peer.log(f"accepted a connection from {address[0]} port {address[1]}")
            self.peers.append(peer)
            self.connected.set()
            peer.start_on(conn)
            peer.wait(PEER_BACKSTOP)
        self.all_served.set()

    def first_served(self, timeout: float) -> Peer | None:
        """The first client's peer once its script has ended; None if no client came.

        Judge what a server received only through this: a client that returns early (say,
        without waiting for the answer) may have sent everything before the peer has read it.
        """
        end = time.monotonic() + timeout
        if not self.connected.wait(timeout):
            return None
        self.peers[0].wait(max(0.0, end - time.monotonic()))
        return self.peers[0]

    def shutdown(self) -> None:
        for peer in self.peers:
            peer.shutdown()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        if self._filler is not None:
            self._filler.close()
        if self._thread is not None:
            self._thread.join(5.0)
