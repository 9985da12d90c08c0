"""Bug: serve_chat has no output queues: the reader thread of the member who speaks sendall()s the line to every other member itself, one after another, holding the room's lock (so that lines never interleave); max_pending is never used.

Should fail: a member that never reads fills its socket buffers, the sendall to it blocks with the lock held, and the whole room stops: the other members get nothing more, and the slow member is never dropped.
Caught by: chat_slow_member_stalls_no_one
"""

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
    def __init__(self, conn: socket.socket, nick: str) -> None:
        self.conn = conn
        self.nick = nick


class _Room:
    def __init__(self, max_pending: int, max_line: int) -> None:
        self.members: dict[str, _Member] = {}
        # One lock for the room: a line is sent to every member before the next one,
        # so nobody ever gets two lines mixed up.
        self.lock = threading.Lock()
        self.max_pending = max_pending
        self.max_line = max_line

    def join(self, conn: socket.socket, nick: str) -> "_Member | None":
        with self.lock:
            if nick in self.members:
                return None
            member = _Member(conn, nick)
            self._send(member, f"* welcome {nick}\n")
            self.broadcast(f"* {nick} joined\n", member)
            self.members[nick] = member
            return member

    def _send(self, member: _Member, text: str) -> None:
        try:
            member.conn.sendall(text.encode("utf-8"))
        except OSError:
            # broken connection: its own thread will notice and leave
            _shutdown(member.conn)

    def broadcast(self, text: str, sender: _Member) -> None:
        """Send text to every member but sender; the caller holds self.lock."""
        for other in self.members.values():
            if other is not sender:
                self._send(other, text)

    def say(self, sender: _Member, text: str) -> None:
        with self.lock:
            self.broadcast(f"{sender.nick}: {text}\n", sender)

    def leave(self, member: _Member) -> None:
        with self.lock:
            del self.members[member.nick]
            self.broadcast(f"* {member.nick} left\n", member)


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
