"""Bug: serve_chat's writer threads loop on queue.get(); when a member leaves, its reader shuts the socket down and returns, but nothing is ever put in the queue to tell the writer to stop (no sentinel, no join), so the writer of every member that left sits in queue.get() forever (a daemon thread, so the program can still exit).

Should fail: after the call returns, the writer thread of each member who left quietly is still alive, blocked in queue.get().
Caught by: chat_returns_after_everyone_left
"""

import queue
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
    with conn:
        conn.settimeout(idle_timeout)  # recv raises TimeoutError after idle_timeout of silence
        try:
            buffer = b""
            while True:
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
    """A member: its socket, and a writer thread sending what is put in its queue."""

    def __init__(self, conn: socket.socket, nick: str, max_pending: int) -> None:
        self.conn = conn
        self.nick = nick
        self.max_pending = max_pending
        self.queue: queue.Queue = queue.Queue()
        self.queued = 0  # bytes in the queue
        self.lock = threading.Lock()
        self.dropped = False
        # daemon: a writer must never keep the program from exiting
        self.writer = threading.Thread(target=self._write, name=f"writer-{nick}", daemon=True)

    def offer(self, data: bytes) -> None:
        """Queue data for the writer; a member with too much waiting is dropped."""
        with self.lock:
            if self.dropped:
                return
            if self.queued + len(data) > self.max_pending:
                self.dropped = True  # too slow: hang up, its reader will do the leaving
            else:
                self.queued += len(data)
        if self.dropped:
            _shutdown(self.conn)
        else:
            self.queue.put(data)

    def _write(self) -> None:
        while True:
            data = self.queue.get()
            with self.lock:
                self.queued -= len(data)
            try:
                self.conn.sendall(data)
            except OSError:
                _shutdown(self.conn)  # make sure the reader notices
                return


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
        _shutdown(member.conn)  # its writer stops at its next sendall


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
            thread.join()
