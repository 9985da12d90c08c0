"""Bug: serve_heartbeat answers a PING line with its PONG but does not count it as activity (only other lines move the time of the last complete line), so a client that only sends heartbeats is told BYE idle_timeout after it connected.

Should fail: with idle_timeout=1.0, a client that sends "PING <n>" every 0.15 s gets "BYE idle" about 1 s after it connected, and its later PINGs go unanswered.
Caught by: heartbeat_pings_keep_a_client
"""

import math
import select
import socket
import time

READ = select.POLLIN
WRITE = select.POLLOUT
BROKEN = select.POLLERR | select.POLLHUP | select.POLLNVAL
LINGER = 1.0  # seconds a closing connection gets to read what is still queued for it


def enable_keepalive(sock, idle=60, interval=10, count=5):
    for label, value in [("idle", idle), ("interval", interval), ("count", count)]:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError(f"{label} must be an int, not {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{label} must be at least 1, got {value}")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    applied = {}
    for candidates, value in [(["TCP_KEEPIDLE", "TCP_KEEPALIVE"], idle), (["TCP_KEEPINTVL"], interval),
                              (["TCP_KEEPCNT"], count)]:
        present = [name for name in candidates if hasattr(socket, name)]
        if not present:
            continue  # this platform cannot set it: leave it out
        name = present[0]
        sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
        applied[name] = sock.getsockopt(socket.IPPROTO_TCP, getattr(socket, name))
    return applied


def poll_ms(seconds):
    """poll() counts in milliseconds: round up, so it never wakes just before a deadline."""
    if seconds is None:
        return None
    return max(0, math.ceil(seconds * 1000))


# ---------------------------------------------------------------- ping


def ping(sock, count=3, interval=1.0, timeout=2.0):
    old = sock.gettimeout()
    sock.setblocking(True)
    poller = select.poll()
    poller.register(sock.fileno(), READ)
    try:
        began = time.monotonic()
        schedule = [began + i * interval for i in range(count)]
        sent_times = {}
        answers = {}
        buf = bytearray()
        n_sent = 0
        while len(answers) < count:
            now = time.monotonic()
            while n_sent < count and schedule[n_sent] <= now:
                n_sent += 1
                sent_times[n_sent] = time.monotonic()
                sock.sendall(b"PING %d\n" % n_sent)
            waiting = [t + timeout for t in sent_times.values()]
            if waiting and min(waiting) <= time.monotonic():
                late = min(sent_times, key=sent_times.get)
                raise TimeoutError(f"PONG {late} overdue ({timeout} s)")
            wake = waiting + schedule[n_sent:n_sent + 1]
            if not poller.poll(poll_ms(min(wake) - time.monotonic())):
                continue
            chunk = sock.recv(4096)
            at = time.monotonic()
            if chunk == b"":
                raise EOFError("the other side closed the connection")
            buf += chunk
            while len(answers) < count and b"\n" in buf:
                end = buf.index(b"\n")
                line = bytes(buf[:end])
                del buf[: end + 1]
                kind, space, token = line.partition(b" ")
                if not space:
                    continue
                if kind == b"PONG":
                    if not token.isdigit() or int(token) not in sent_times:
                        raise ValueError(f"bogus {line!r}")
                    answers[int(token)] = at - sent_times.pop(int(token))
                elif kind == b"PING":
                    sock.sendall(b"PONG " + token + b"\n")
        return [answers[i] for i in sorted(answers)]
    finally:
        poller.unregister(sock.fileno())
        sock.settimeout(old)


# ---------------------------------------------------------------- serve_heartbeat


class Conn:
    def __init__(self, sock, now):
        self.sock = sock
        self.fd = sock.fileno()
        self.inbox = b""
        self.outbox = b""
        self.last_line = now  # accepted, or its last complete line
        self.leaving_by = None  # set once it stops being read: close by then at the latest
        self.mask = 0


def answer(line):
    text = line.decode("utf-8")
    return (("PONG " + text[5:]) if text.startswith("PING ") else text.upper()) + "\n"


def serve_heartbeat(listener, clients, idle_timeout=3.0, max_line=65536):
    poller = select.poll()
    saved = listener.gettimeout()
    table = {}
    accepted = 0

    def set_mask(conn):
        mask = 0 if conn.leaving_by is not None else READ
        if conn.outbox:
            mask |= WRITE
        if mask != conn.mask:
            if conn.mask:
                poller.modify(conn.fd, mask) if mask else poller.unregister(conn.fd)
            else:
                poller.register(conn.fd, mask)
            conn.mask = mask

    def drop(conn):
        if conn.mask:
            poller.unregister(conn.fd)
        del table[conn.fd]
        conn.sock.close()

    def push(conn):
        """Send what the kernel takes; then close it if it is leaving and all is sent."""
        while conn.outbox:
            try:
                n = conn.sock.send(conn.outbox)
            except BlockingIOError:
                break
            except OSError:
                drop(conn)
                return
            conn.outbox = conn.outbox[n:]
        if conn.leaving_by is not None and not conn.outbox:
            drop(conn)
        else:
            set_mask(conn)

    def leave(conn):
        conn.leaving_by = time.monotonic() + LINGER
        push(conn)

    def readable(conn):
        try:
            data = conn.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            drop(conn)
            return
        conn.inbox += data
        if not data and conn.inbox:
            conn.inbox += b"\n"
        try:
            while b"\n" in conn.inbox:
                line, conn.inbox = conn.inbox.split(b"\n", 1)
                if len(line) > max_line:
                    raise ValueError("over-long line")
                conn.outbox += answer(line).encode("utf-8")
                if not line.startswith(b"PING "):
                    conn.last_line = time.monotonic()  # a heartbeat is not real activity
            if len(conn.inbox) > max_line:
                raise ValueError("over-long line")
        except ValueError:
            drop(conn)
            return
        if not data:
            leave(conn)
        else:
            push(conn)

    def deadline(conn):
        return conn.leaving_by if conn.leaving_by is not None else conn.last_line + idle_timeout

    try:
        listener.setblocking(False)
        if clients > 0:
            poller.register(listener.fileno(), READ)
        while accepted < clients or table:
            wait = None
            if table:
                wait = min(deadline(c) for c in table.values()) - time.monotonic()
            for fd, flags in poller.poll(poll_ms(wait)):
                if fd == listener.fileno():
                    try:
                        sock, _ = listener.accept()
                    except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                        continue
                    sock.setblocking(False)
                    conn = Conn(sock, time.monotonic())
                    table[conn.fd] = conn
                    set_mask(conn)
                    accepted += 1
                    if accepted == clients:
                        poller.unregister(listener.fileno())
                    continue
                conn = table.get(fd)
                if conn is None:
                    continue
                if flags & READ and conn.leaving_by is None:
                    readable(conn)
                elif flags & WRITE:
                    push(conn)
                elif flags & BROKEN:
                    drop(conn)  # POLLHUP/POLLERR are reported even unasked: never leave them spinning
            now = time.monotonic()
            for conn in [c for c in table.values() if deadline(c) <= now]:
                if conn.leaving_by is not None:
                    drop(conn)  # it would not read what was left for it
                else:
                    conn.outbox += b"BYE idle\n"
                    leave(conn)
    finally:
        for conn in table.values():
            conn.sock.close()
        listener.settimeout(saved)
