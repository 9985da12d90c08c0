"""Bug: serve_concurrently's handlers enforce idle_timeout with a threading.Timer watchdog (restarted before every recv, shutting the socket down when it fires) instead of a socket timeout, and never cancel the last one when the client ends normally; the chat is correct.

Should fail: after the call returns, each client's last watchdog Timer thread is still alive, waiting out its idle_timeout (2 s by default).
Caught by: concurrently_leaves_no_threads_behind
"""

import collections
import select
import socket
import threading

NICK_MAX = 32


def _shutdown(sock: socket.socket) -> None:
    """shutdown() both ways, ignoring a socket that is already gone.

    Unlike close(), shutdown() wakes a thread blocked in recv() or sendall() on it.
    """
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


# ---------------------------------------------------------------- serve_concurrently


def _serve_one(conn: socket.socket, idle_timeout: float, max_line: int) -> None:
    """Stage 07's serve_lines for one connection, in a thread of its own."""
    watchdog = None

    def restart_watchdog() -> None:
        # If the client says nothing for idle_timeout, the watchdog hangs up on it:
        # shutdown() wakes the recv below, which then returns b"".
        nonlocal watchdog
        if watchdog is not None:
            watchdog.cancel()
        watchdog = threading.Timer(idle_timeout, _shutdown, args=(conn,))
        watchdog.start()

    with conn:
        try:
            buffer = b""
            while True:
                restart_watchdog()
                chunk = conn.recv(4096)
                at_eof = not chunk
                if at_eof and buffer:
                    chunk = b"\n"  # answer an unterminated last line too
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if len(line) > max_line:
                        raise ValueError("line too long")
                    conn.sendall((line.decode("utf-8").upper() + "\n").encode("utf-8"))
                if len(buffer) > max_line:
                    raise ValueError("line too long")
                if at_eof:
                    break
        except (OSError, ValueError):
            pass  # reset, timeout, bad UTF-8, too long: drop this client only


def serve_concurrently(
    listener: socket.socket,
    clients: int,
    idle_timeout: float = 2.0,
    max_line: int = 65536,
) -> None:
    threads = []
    try:
        for number in range(clients):
            conn, _address = listener.accept()
            thread = threading.Thread(
                target=_serve_one, args=(conn, idle_timeout, max_line), name=f"client-{number}"
            )
            thread.start()
            threads.append(thread)
    finally:
        # Return only once every client has ended.
        for thread in threads:
            thread.join()


# ---------------------------------------------------------------- serve_chat


class _Member:
    """One member of the room: its socket, its nickname, its output queue and its writer thread.

    Whoever queues a line hands the kernel what it takes at once (a non-blocking send); the
    writer thread only steps in when the kernel is full, and waits for room in poll().
    Every send happens under the member's lock, so lines keep their order.
    """

    def __init__(self, conn: socket.socket, nick: str, max_pending: int) -> None:
        self.conn = conn
        self.nick = nick
        self.max_pending = max_pending
        self._queue: collections.deque[bytes] = collections.deque()
        self._queued = 0  # bytes in _queue: not taken by the kernel yet
        self._changed = threading.Condition()
        self._closed = False
        self.writer = threading.Thread(target=self._write, name=f"writer-{nick}")

    def offer(self, data: bytes) -> None:
        """Queue data for this member, never waiting. A member too slow to keep up is dropped."""
        with self._changed:
            if self._closed:
                return
            self._queue.append(data)
            self._queued += len(data)
            self._push()
            if self._queued > self.max_pending:
                # Too slow: forget what waits for it and hang up. shutdown() wakes its
                # reader (recv returns b""), which then does the leaving.
                self._drop()
            elif self._queue:
                self._changed.notify()  # the kernel is full for now: over to the writer

    def _push(self) -> None:
        """Hand the kernel what it takes right now, without blocking (the lock is held)."""
        while self._queue and not self._closed:
            head = self._queue[0]
            try:
                sent = self.conn.send(head, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return
            except OSError:
                self._drop()  # reset or gone
                return
            self._queued -= sent
            if sent == len(head):
                self._queue.popleft()
            else:
                self._queue[0] = head[sent:]

    def _drop(self) -> None:
        self._closed = True
        self._queue.clear()
        self._queued = 0
        _shutdown(self.conn)

    def stop_writer(self) -> None:
        with self._changed:
            self._closed = True
            self._queue.clear()
            self._changed.notify()
        _shutdown(self.conn)  # wakes the writer if it is waiting in poll()
        self.writer.join()

    def _write(self) -> None:
        poller = select.poll()
        poller.register(self.conn, select.POLLOUT)
        while True:
            with self._changed:
                while not self._queue and not self._closed:
                    self._changed.wait()
                if self._closed:
                    return
            poller.poll()  # until the kernel has room again (or the socket is shut down)
            with self._changed:
                self._push()


class _Room:
    def __init__(self, max_pending: int, max_line: int) -> None:
        self.members: dict[str, _Member] = {}
        self.lock = threading.Lock()
        self.max_pending = max_pending
        self.max_line = max_line

    def join(self, conn: socket.socket, nick: str) -> "_Member | None":
        with self.lock:
            if nick in self.members:
                return None
            member = _Member(conn, nick, self.max_pending)
            member.offer(f"* welcome {nick}\n".encode("utf-8"))
            self.broadcast(f"* {nick} joined\n", member)
            self.members[nick] = member
            member.writer.start()
            return member

    def broadcast(self, text: str, sender: _Member) -> None:
        """Queue text for every member but sender; the caller holds self.lock."""
        data = text.encode("utf-8")
        for other in self.members.values():
            if other is not sender:
                other.offer(data)

    def say(self, sender: _Member, text: str) -> None:
        with self.lock:
            self.broadcast(f"{sender.nick}: {text}\n", sender)

    def leave(self, member: _Member) -> None:
        with self.lock:
            del self.members[member.nick]
            self.broadcast(f"* {member.nick} left\n", member)
        member.stop_writer()


def _nick_problem(line: bytes, max_line: int) -> "tuple[str | None, str]":
    """(nick, "") for a good nickname line, (None, reason) for a bad one."""
    if len(line) > max_line:
        return None, "line too long"
    try:
        nick = line.decode("utf-8")
    except UnicodeDecodeError:
        return None, "nickname is not UTF-8"
    if not 1 <= len(nick) <= NICK_MAX:
        return None, f"nickname must be 1 to {NICK_MAX} characters"
    if any(ch.isspace() for ch in nick):
        return None, "nickname must not contain whitespace"
    return nick, ""


def _refuse(conn: socket.socket, reason: str) -> None:
    try:
        conn.sendall(f"ERR {reason}\n".encode("utf-8"))
        conn.shutdown(socket.SHUT_WR)  # the ERR line goes out before the FIN
    except OSError:
        pass


def _chat_client(conn: socket.socket, room: _Room) -> None:
    member = None
    try:
        buffer = b""
        # The nickname is the first *line*: it may come in pieces, or glued to more lines.
        while b"\n" not in buffer:
            if len(buffer) > room.max_line:
                _refuse(conn, "line too long")
                return
            chunk = conn.recv(4096)
            if not chunk:
                return  # gone before saying who it is
            buffer += chunk
        line, _, buffer = buffer.partition(b"\n")
        nick, reason = _nick_problem(line, room.max_line)
        if nick is not None:
            member = room.join(conn, nick)
            if member is None:
                reason = "nickname taken"
        if member is None:
            _refuse(conn, reason)
            return

        while True:
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if len(line) > room.max_line:
                    return
                room.say(member, line.decode("utf-8"))  # UnicodeDecodeError: leaves
            if len(buffer) > room.max_line:
                return
            chunk = conn.recv(65536)
            if not chunk:
                return  # EOF (or we shut it down): what is in buffer is not a line
            buffer += chunk
    except (OSError, ValueError):
        pass
    finally:
        if member is not None:
            room.leave(member)
        conn.close()


def serve_chat(
    listener: socket.socket,
    clients: int,
    max_pending: int = 1 << 20,
    max_line: int = 4096,
) -> None:
    room = _Room(max_pending, max_line)
    threads = []
    try:
        for number in range(clients):
            conn, _address = listener.accept()
            thread = threading.Thread(target=_chat_client, args=(conn, room), name=f"member-{number}")
            thread.start()
            threads.append(thread)
    finally:
        for thread in threads:
            thread.join()  # each reader joins its own writer before it ends
