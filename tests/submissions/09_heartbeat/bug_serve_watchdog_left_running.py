"""Bug: serve_heartbeat runs one watchdog thread (a loop that wakes every 0.1 s, says BYE to idle clients and shuts them down) besides a thread per client, and never stops it: it is a daemon thread with a `while True` loop, so it is still alive, and still waking up, long after serve_heartbeat has returned.

Should fail: after serve_heartbeat returns, the thread "idle-watchdog" it started is alive (and stays alive for good), although every client thread was joined and every socket closed.
Caught by: heartbeat_returns_and_leaves_nothing_behind
"""

import socket
import threading
import time

BYE = b"BYE idle\n"


def enable_keepalive(sock, idle=60, interval=10, count=5):
    """Turn TCP keepalive on for sock; return the TCP options it set, as read back."""
    values = {"idle": idle, "interval": interval, "count": count}
    for name, value in values.items():
        if type(value) is not int or value < 1:
            raise ValueError(f"{name}={value!r}: need an int of at least 1")

    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    options = []
    if hasattr(socket, "TCP_KEEPIDLE"):
        options.append(("TCP_KEEPIDLE", idle))
    elif hasattr(socket, "TCP_KEEPALIVE"):  # macOS spells the idle time this way
        options.append(("TCP_KEEPALIVE", idle))
    if hasattr(socket, "TCP_KEEPINTVL"):
        options.append(("TCP_KEEPINTVL", interval))
    if hasattr(socket, "TCP_KEEPCNT"):
        options.append(("TCP_KEEPCNT", count))

    read_back = {}
    for name, value in options:
        number = getattr(socket, name)
        sock.setsockopt(socket.IPPROTO_TCP, number, value)
        read_back[name] = sock.getsockopt(socket.IPPROTO_TCP, number)
    return read_back


# ---------------------------------------------------------------- ping


def ping(sock, count=3, interval=1.0, timeout=2.0):
    """Send count PINGs interval apart, reading all the while; return the round-trip times."""
    before = sock.gettimeout()
    try:
        start = time.monotonic()
        sent = {}  # number -> send time, for pings not answered yet
        result = [0.0] * count
        answered = 0
        upcoming = 1  # the next ping to send
        data = b""
        while answered < count:
            now = time.monotonic()
            if upcoming <= count and now >= start + (upcoming - 1) * interval:
                sent[upcoming] = now
                sock.sendall(f"PING {upcoming}\n".encode("ascii"))
                upcoming += 1
                continue
            # The next thing that must happen: a ping is due, or a PONG is overdue.
            next_job = start + (upcoming - 1) * interval if upcoming <= count else None
            if sent:
                first = min(sent)  # pings are sent in order: the smallest waits longest
                pong_deadline = sent[first] + timeout
                if now >= pong_deadline:
                    raise TimeoutError(f"no PONG {first} after {timeout} s")
                next_job = pong_deadline if next_job is None else min(next_job, pong_deadline)
            sock.settimeout(max(next_job - now, 0.001))
            try:
                chunk = sock.recv(1024)
            except TimeoutError:
                continue
            got_at = time.monotonic()
            if not chunk:
                raise EOFError("peer closed the connection while pings were outstanding")
            data += chunk
            lines = data.split(b"\n")
            data = lines.pop()  # an unfinished line waits for the next recv
            for position, line in enumerate(lines):
                if line.startswith(b"PONG "):
                    word = line[5:].decode("ascii", "replace")
                    if not word.isdecimal() or int(word) not in sent:
                        raise ValueError(f"got {line!r}, which answers no ping of ours")
                    number = int(word)
                    result[number - 1] = got_at - sent.pop(number)
                    answered += 1
                    if answered == count:
                        break  # the rest may stay unread
                elif line.startswith(b"PING "):
                    sock.sendall(b"PONG " + line[5:] + b"\n")
        return result
    finally:
        sock.settimeout(before)


# ---------------------------------------------------------------- serve_heartbeat


# How often the watchdog looks for idle clients: often enough for BYE to come well
# within 0.5 s of a deadline, rarely enough not to keep a CPU awake.
WATCH_EVERY = 0.1


class _Registry:
    """The open connections and when each last sent a complete line, for the watchdog."""

    def __init__(self, idle_timeout):
        self.idle_timeout = idle_timeout
        self.lock = threading.Lock()  # held for every change and every send
        self.last_line = {}  # conn -> time of its last complete line (or of its accept)
        self.said_bye = set()


def _watchdog(registry):
    """Says BYE to every client idle for idle_timeout, and shuts it down (waking its handler)."""
    while True:
        time.sleep(WATCH_EVERY)
        now = time.monotonic()
        with registry.lock:
            for conn, last in list(registry.last_line.items()):
                if conn in registry.said_bye or now - last < registry.idle_timeout:
                    continue
                registry.said_bye.add(conn)
                try:
                    conn.sendall(BYE)
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _answer(line):
    text = line.decode("utf-8")
    if text.startswith("PING "):
        text = "PONG " + text[5:]
    else:
        text = text.upper()
    return (text + "\n").encode("utf-8")


def _handle(conn, registry, max_line):
    try:
        buffer = b""
        while True:
            chunk = conn.recv(4096)
            with registry.lock:
                if conn in registry.said_bye:
                    return  # the watchdog woke us: BYE is out
            if not chunk:
                if buffer:
                    conn.sendall(_answer(buffer))
                return
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if len(line) > max_line:
                    return
                reply = _answer(line)
                with registry.lock:
                    if conn in registry.said_bye:
                        return
                    registry.last_line[conn] = time.monotonic()
                    conn.sendall(reply)
            if len(buffer) > max_line:
                return
    except (OSError, ValueError):
        pass  # reset, bad UTF-8: closed without a word
    finally:
        with registry.lock:
            registry.last_line.pop(conn, None)
            registry.said_bye.discard(conn)
        conn.close()


def serve_heartbeat(listener, clients, idle_timeout=3.0, max_line=65536):
    registry = _Registry(idle_timeout)
    # One watchdog for every client; a daemon thread, so it never keeps the program alive.
    threading.Thread(target=_watchdog, args=(registry,), name="idle-watchdog", daemon=True).start()
    handlers = []
    try:
        for _ in range(clients):
            conn, _ = listener.accept()
            with registry.lock:
                registry.last_line[conn] = time.monotonic()
            handler = threading.Thread(target=_handle, args=(conn, registry, max_line))
            try:
                handler.start()
            except BaseException:
                with registry.lock:
                    registry.last_line.pop(conn, None)
                conn.close()
                raise
            handlers.append(handler)
    finally:
        for handler in handlers:
            handler.join()
