"""Correct, with select.poll in one thread: a table fd -> connection, POLLOUT asked for only while output waits, POLLHUP/POLLERR (always reported) handled so they cannot spin the loop, and the poll timeout taken from the nearest idle deadline.

Should pass: every check.
"""

import math
import select
import socket
import time

READ = select.POLLIN
WRITE = select.POLLOUT
BROKEN = select.POLLERR | select.POLLHUP | select.POLLNVAL


class Connection:
    def __init__(self, sock):
        self.sock = sock
        self.fd = sock.fileno()
        self.inbox = b""
        self.outbox = b""
        self.last_heard = time.monotonic()
        self.done_reading = False  # EOF or bad input: finish sending, then close
        self.nick = None
        self.mask = 0


def poll_ms(seconds):
    """poll() wants milliseconds; round up so it never wakes just before a deadline."""
    if seconds is None:
        return None
    return max(0, math.ceil(seconds * 1000))


def send_some(conn):
    """Send what the kernel accepts now; False when the connection is broken."""
    while conn.outbox:
        try:
            n = conn.sock.send(conn.outbox)
        except BlockingIOError:
            break
        except OSError:
            return False
        conn.outbox = conn.outbox[n:]
    return True


def update(poller, conn):
    mask = 0 if conn.done_reading else READ
    if conn.outbox:
        mask |= WRITE
    if mask == conn.mask:
        return
    if not conn.mask:
        poller.register(conn.fd, mask)
    elif not mask:
        poller.unregister(conn.fd)
    else:
        poller.modify(conn.fd, mask)
    conn.mask = mask


def accept_one(listener):
    try:
        sock, _ = listener.accept()
    except (BlockingIOError, InterruptedError, ConnectionAbortedError):
        return None
    sock.setblocking(False)
    return sock


# ---------------------------------------------------------------- serve_concurrently


def handle_input(conn, data, max_line):
    """Queue an upper-cased answer for each complete line; bad input stops reading."""
    at_eof = not data
    conn.inbox += data
    if at_eof:
        conn.done_reading = True
        if conn.inbox:
            conn.inbox += b"\n"
    while b"\n" in conn.inbox:
        line, conn.inbox = conn.inbox.split(b"\n", 1)
        if len(line) > max_line:
            conn.done_reading = True
            return
        try:
            conn.outbox += (line.decode("utf-8").upper() + "\n").encode("utf-8")
        except UnicodeDecodeError:
            conn.done_reading = True
            return
    if len(conn.inbox) > max_line:
        conn.done_reading = True


def serve_concurrently(listener, clients, idle_timeout=2.0, max_line=65536):
    poller = select.poll()
    saved = listener.gettimeout()
    table = {}
    accepted = 0
    try:
        listener.setblocking(False)
        if clients:
            poller.register(listener.fileno(), READ)
        while accepted < clients or table:
            wait = None
            if table:
                nearest = min(c.last_heard for c in table.values()) + idle_timeout
                wait = max(0.0, nearest - time.monotonic())
            for fd, flags in poller.poll(poll_ms(wait)):
                if fd == listener.fileno():
                    sock = accept_one(listener)
                    if sock is not None:
                        conn = Connection(sock)
                        table[conn.fd] = conn
                        update(poller, conn)
                        accepted += 1
                        if accepted == clients:
                            poller.unregister(fd)
                    continue
                conn = table[fd]
                broken = False
                if flags & READ and not conn.done_reading:
                    try:
                        data = conn.sock.recv(65536)
                    except BlockingIOError:
                        data = None
                    except OSError:
                        data, broken = None, True
                    if data is not None:
                        conn.last_heard = time.monotonic()
                        handle_input(conn, data, max_line)
                elif flags & BROKEN:
                    broken = True  # reset while we were only writing (or not watching it)
                if not broken and conn.outbox:
                    size = len(conn.outbox)
                    broken = not send_some(conn)
                    if len(conn.outbox) < size:
                        conn.last_heard = time.monotonic()  # it reads its answers
                if broken or (conn.done_reading and not conn.outbox):
                    update_and_close(poller, table, conn)
                else:
                    update(poller, conn)
            now = time.monotonic()
            for conn in list(table.values()):
                if now - conn.last_heard >= idle_timeout:
                    update_and_close(poller, table, conn)
    finally:
        for conn in table.values():
            conn.sock.close()
        listener.settimeout(saved)


def update_and_close(poller, table, conn):
    if conn.mask:
        poller.unregister(conn.fd)
        conn.mask = 0
    del table[conn.fd]
    conn.sock.close()


# ---------------------------------------------------------------- serve_chat


def check_nick(line, max_line, room):
    if len(line) > max_line:
        return None, "line too long"
    try:
        nick = line.decode("utf-8")
    except UnicodeDecodeError:
        return None, "not UTF-8"
    if len(nick) == 0 or len(nick) > 32:
        return None, "nickname must be 1 to 32 characters"
    if any(c.isspace() for c in nick):
        return None, "no whitespace in nicknames"
    if nick in room:
        return None, "nickname taken"
    return nick, None


class Room:
    def __init__(self, poller, max_pending, max_line):
        self.poller = poller
        self.max_pending = max_pending
        self.max_line = max_line
        self.table = {}  # fd -> Connection, members or not
        self.members = {}  # nick -> Connection
        self.to_drop = []
        self.stale = set()  # fds closed or accepted during this round of poll() results

    def send_to(self, conn, data):
        if conn.fd not in self.table or conn in self.to_drop:
            return
        conn.outbox += data
        if not send_some(conn) or len(conn.outbox) > self.max_pending:
            self.to_drop.append(conn)  # broken, or too slow
        else:
            update(self.poller, conn)

    def to_others(self, sender, text):
        data = text.encode("utf-8")
        for member in list(self.members.values()):
            if member is not sender:
                self.send_to(member, data)

    def end(self, conn):
        if conn.fd not in self.table or self.table[conn.fd] is not conn:
            return
        update_and_close(self.poller, self.table, conn)
        self.stale.add(conn.fd)  # a later result of this round with this fd is not about a new socket
        if conn.nick is not None and self.members.get(conn.nick) is conn:
            del self.members[conn.nick]
            self.to_others(conn, f"* {conn.nick} left\n")

    def drop_pending(self):
        while self.to_drop:
            self.end(self.to_drop.pop(0))

    def refuse(self, conn, reason):
        conn.inbox = b""
        conn.done_reading = True
        conn.outbox += f"ERR {reason}\n".encode("utf-8")
        self.after_write(conn)

    def after_write(self, conn):
        if not send_some(conn):
            self.end(conn)
        elif conn.done_reading and not conn.outbox:
            try:
                conn.sock.shutdown(socket.SHUT_WR)  # the ERR line, then FIN
            except OSError:
                pass
            self.end(conn)
        else:
            update(self.poller, conn)

    def got(self, conn, data):
        conn.inbox += data
        while b"\n" in conn.inbox and conn.fd in self.table and conn not in self.to_drop:
            line, conn.inbox = conn.inbox.split(b"\n", 1)
            if conn.nick is None:
                nick, reason = check_nick(line, self.max_line, self.members)
                if nick is None:
                    self.refuse(conn, reason)
                    return
                conn.nick = nick
                self.send_to(conn, f"* welcome {nick}\n".encode("utf-8"))
                self.to_others(conn, f"* {nick} joined\n")
                self.members[nick] = conn
            elif len(line) > self.max_line:
                self.to_drop.append(conn)
            else:
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError:
                    self.to_drop.append(conn)
                else:
                    self.to_others(conn, f"{conn.nick}: {text}\n")
        if conn.fd in self.table and conn not in self.to_drop and len(conn.inbox) > self.max_line:
            if conn.nick is None:
                self.refuse(conn, "line too long")
            else:
                self.to_drop.append(conn)


def serve_chat(listener, clients, max_pending=1 << 20, max_line=4096):
    poller = select.poll()
    room = Room(poller, max_pending, max_line)
    saved = listener.gettimeout()
    accepted = 0
    try:
        listener.setblocking(False)
        if clients:
            poller.register(listener.fileno(), READ)
        while accepted < clients or room.table:
            room.stale.clear()
            for fd, flags in poller.poll():  # no timeout: nothing happens until someone talks
                if fd == listener.fileno():
                    sock = accept_one(listener)
                    if sock is not None:
                        conn = Connection(sock)
                        room.table[conn.fd] = conn
                        room.stale.add(conn.fd)
                        update(poller, conn)
                        accepted += 1
                        if accepted == clients:
                            poller.unregister(fd)
                    continue
                conn = room.table.get(fd)
                if conn is None or fd in room.stale:
                    continue  # closed (or its fd reused) earlier in this round
                if flags & READ and not conn.done_reading:
                    try:
                        data = conn.sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        room.end(conn)
                    else:
                        if data:
                            room.got(conn, data)
                        else:
                            room.end(conn)  # EOF; a rest without "\n" is not a line
                elif flags & WRITE:
                    room.after_write(conn)
                elif flags & BROKEN:
                    room.end(conn)
                room.drop_pending()
    finally:
        for conn in room.table.values():
            conn.sock.close()
        listener.settimeout(saved)
