"""Bug: enable_keepalive picks the idle option by platform (TCP_KEEPALIVE on macOS, TCP_KEEPIDLE everywhere else) and then takes it with getattr(socket, name) with no default, so on a platform whose socket module has no TCP_KEEPIDLE it raises AttributeError instead of leaving that option out.

Should fail: the call made with socket.TCP_KEEPIDLE and socket.TCP_KEEPALIVE removed from the socket module raises AttributeError (after SO_KEEPALIVE is set) instead of returning {"TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 4}.
Caught by: keepalive_leaves_out_options_the_platform_lacks
"""

import socket
import sys
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
    # macOS spells the idle time TCP_KEEPALIVE; everywhere else it is TCP_KEEPIDLE.
    if sys.platform == "darwin":
        options.append(("TCP_KEEPALIVE", idle))
    else:
        options.append(("TCP_KEEPIDLE", idle))
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


class _Watchdog:
    """The idle timer of one connection: a Timer, restarted on every complete line."""

    def __init__(self, conn, idle_timeout):
        self.conn = conn
        self.idle_timeout = idle_timeout
        self.lock = threading.Lock()
        self.generation = 0
        self.timers = []
        self.fired = False  # BYE sent, connection shut down
        self.done = False  # the handler is finishing: nothing more to do

    def restart(self, reply=b""):
        """A complete line came: start counting idle_timeout again and send its reply.

        Under the lock, so that a reply can never come after BYE. False if BYE went out.
        """
        with self.lock:
            if self.fired or self.done:
                return False
            if self.timers:
                self.timers[-1].cancel()
            self.generation += 1
            timer = threading.Timer(self.idle_timeout, self._expire, args=(self.generation,))
            timer.daemon = True
            self.timers.append(timer)
            timer.start()
            if reply:
                self.conn.sendall(reply)
            return True

    def _expire(self, generation):
        with self.lock:
            if generation != self.generation or self.fired or self.done:
                return
            self.fired = True
            try:
                self.conn.sendall(BYE)
            except OSError:
                pass
            try:
                # Wakes the handler blocked in recv() (close() would not, on Linux).
                self.conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def stop(self):
        with self.lock:
            self.done = True
            timers = list(self.timers)
        for timer in timers:
            timer.cancel()
        for timer in timers:
            timer.join()  # a timer that is running _expire right now finishes first


def _answer(line):
    text = line.decode("utf-8")
    if text.startswith("PING "):
        text = "PONG " + text[5:]
    else:
        text = text.upper()
    return (text + "\n").encode("utf-8")


def _handle(conn, idle_timeout, max_line):
    watchdog = _Watchdog(conn, idle_timeout)
    try:
        watchdog.restart()
        buffer = b""
        while True:
            chunk = conn.recv(4096)
            if watchdog.fired:
                break  # our own shutdown woke us: BYE is out, say nothing else
            if not chunk:
                if buffer:
                    conn.sendall(_answer(buffer))
                break
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if len(line) > max_line:
                    return
                if not watchdog.restart(_answer(line)):
                    return
            if len(buffer) > max_line:
                return
    except (OSError, ValueError):
        pass  # reset, bad UTF-8: closed without a word
    finally:
        watchdog.stop()
        conn.close()


def serve_heartbeat(listener, clients, idle_timeout=3.0, max_line=65536):
    handlers = []
    try:
        for _ in range(clients):
            conn, _ = listener.accept()
            handler = threading.Thread(target=_handle, args=(conn, idle_timeout, max_line))
            try:
                handler.start()
            except BaseException:
                conn.close()
                raise
            handlers.append(handler)
    finally:
        for handler in handlers:
            handler.join()
