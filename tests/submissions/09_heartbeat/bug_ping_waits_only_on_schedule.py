"""Bug: ping's select() waits only until the next PING is due (and with no timeout once every PING is out); it checks for overdue PONGs only when it wakes up, so a peer that goes silent after the last PING is never found dead.

Should fail: the peer stops answering after PONG 2 (count=3, interval=0.3, timeout=0.5): after PING 3, select() waits for data that never comes, and no TimeoutError is raised (the call hangs until the peer closes, then raises EOFError).
Caught by: ping_raises_timeout_when_the_peer_goes_silent
"""

import heapq
import itertools
import select
import selectors
import socket
import time

BYE = b"BYE idle\n"
# How long a connection that is being closed (after BYE, or after EOF) may take to read
# what is still queued for it before it is closed anyway.
CLOSE_GRACE = 1.0


# ---------------------------------------------------------------- enable_keepalive


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def enable_keepalive(sock, idle=60, interval=10, count=5):
    if not (_is_count(idle) and _is_count(interval) and _is_count(count)):
        raise ValueError(f"idle, interval and count must be ints >= 1, got {idle!r}, {interval!r}, {count!r}")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    result = {}
    # (candidate names, value): the first name this platform's socket module has wins.
    for names, value in ((("TCP_KEEPIDLE", "TCP_KEEPALIVE"), idle),
                         (("TCP_KEEPINTVL",), interval),
                         (("TCP_KEEPCNT",), count)):
        for name in names:
            option = getattr(socket, name, None)
            if option is not None:
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
                result[name] = sock.getsockopt(socket.IPPROTO_TCP, option)
                break
    return result


# ---------------------------------------------------------------- ping


def ping(sock, count=3, interval=1.0, timeout=2.0):
    saved = sock.gettimeout()
    # Blocking for sendall; recv is only called once select says there is something.
    sock.settimeout(None)
    try:
        return _ping(sock, count, interval, timeout)
    finally:
        sock.settimeout(saved)


def _ping(sock, count, interval, timeout):
    start = time.monotonic()
    outstanding = {}  # ping number -> when it was sent
    rtts = {}
    next_number = 1
    pending = b""
    while len(rtts) < count:
        now = time.monotonic()
        while next_number <= count and now >= start + (next_number - 1) * interval:
            outstanding[next_number] = time.monotonic()
            sock.sendall(b"PING %d\n" % next_number)
            next_number += 1
            now = time.monotonic()
        if outstanding:
            oldest = min(outstanding, key=outstanding.get)
            if now >= outstanding[oldest] + timeout:
                raise TimeoutError(f"PONG {oldest} did not come within {timeout} s")
        # Sleep until the next PING is due; once all are out, until the PONGs come.
        wait = max(0.0, start + (next_number - 1) * interval - now) if next_number <= count else None
        readable, _, _ = select.select([sock], [], [], wait)
        if not readable:
            continue
        data = sock.recv(4096)
        arrived = time.monotonic()
        if not data:
            raise EOFError("connection closed by the peer")
        pending += data
        while len(rtts) < count:
            line, newline, rest = pending.partition(b"\n")
            if not newline:
                break
            pending = rest
            if line.startswith(b"PONG "):
                token = line[5:]
                number = int(token) if token.isdigit() else None
                if number not in outstanding:
                    raise ValueError(f"{line!r} answers no outstanding ping")
                rtts[number] = arrived - outstanding.pop(number)
            elif line.startswith(b"PING "):
                sock.sendall(b"PONG " + line[5:] + b"\n")
    return [rtts[i] for i in range(1, count + 1)]


# ---------------------------------------------------------------- serve_heartbeat


class _Client:
    def __init__(self, sock, now, idle_timeout):
        self.sock = sock
        self.inbuf = b""
        self.outbuf = b""
        self.deadline = now + idle_timeout
        self.closing = False  # no more reading: closed once outbuf is sent (or at deadline)
        self.gone = False


def _reply(line):
    text = line.decode("utf-8")
    if text.startswith("PING "):
        return ("PONG " + text[5:] + "\n").encode("utf-8")
    return (text.upper() + "\n").encode("utf-8")


def serve_heartbeat(listener, clients, idle_timeout=3.0, max_line=65536):
    sel = selectors.DefaultSelector()
    saved = listener.gettimeout()
    live = set()
    heap = []  # (deadline, tiebreak, client); stale when client.deadline moved on
    tiebreak = itertools.count()
    accepted = 0

    def schedule(client):
        heapq.heappush(heap, (client.deadline, next(tiebreak), client))

    def close(client):
        client.gone = True
        live.discard(client)
        sel.unregister(client.sock)
        client.sock.close()

    def update(client):
        events = 0 if client.closing else selectors.EVENT_READ
        if client.outbuf:
            events |= selectors.EVENT_WRITE
        if events == 0:
            close(client)
        else:
            sel.modify(client.sock, events, client)

    def flush(client):
        while client.outbuf:
            try:
                sent = client.sock.send(client.outbuf)
            except BlockingIOError:
                return True
            except OSError:
                return False
            client.outbuf = client.outbuf[sent:]
        return True

    def finish(client):
        """Stop reading; close once what is queued has gone, or after CLOSE_GRACE."""
        client.closing = True
        client.deadline = time.monotonic() + CLOSE_GRACE
        schedule(client)

    def on_readable(client):
        try:
            data = client.sock.recv(65536)
        except BlockingIOError:
            return
        except OSError:
            close(client)  # reset: no BYE
            return
        client.inbuf += data
        if not data and client.inbuf:
            client.inbuf += b"\n"  # the unterminated last line is answered too
        try:
            while b"\n" in client.inbuf:
                line, client.inbuf = client.inbuf.split(b"\n", 1)
                if len(line) > max_line:
                    raise ValueError("line too long")
                client.outbuf += _reply(line)
                client.deadline = time.monotonic() + idle_timeout
                schedule(client)
            if len(client.inbuf) > max_line:
                raise ValueError("line too long")
        except ValueError:
            close(client)  # bad UTF-8 or over-long: no BYE
            return
        if not data:
            finish(client)
        if not flush(client):
            close(client)
        else:
            update(client)

    def on_deadline(client):
        if client.closing:
            close(client)  # it would not take what was left for it
            return
        client.outbuf += BYE
        finish(client)
        if not flush(client):
            close(client)
        else:
            update(client)

    try:
        listener.setblocking(False)
        if clients > 0:
            sel.register(listener, selectors.EVENT_READ)
        while accepted < clients or live:
            # The earliest deadline that is still current: entries of connections that
            # sent a line since (or are gone) are dropped as they come to the top.
            while heap and (heap[0][2].gone or heap[0][0] != heap[0][2].deadline):
                heapq.heappop(heap)
            timeout = max(0.0, heap[0][0] - time.monotonic()) if heap else None
            for key, events in sel.select(timeout):
                if key.fileobj is listener:
                    try:
                        sock, _address = listener.accept()
                    except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                        continue
                    sock.setblocking(False)
                    client = _Client(sock, time.monotonic(), idle_timeout)
                    live.add(client)
                    sel.register(sock, selectors.EVENT_READ, client)
                    schedule(client)
                    accepted += 1
                    if accepted == clients:
                        sel.unregister(listener)
                    continue
                client = key.data
                if client.gone:
                    continue
                if events & selectors.EVENT_READ and not client.closing:
                    on_readable(client)
                elif events & selectors.EVENT_WRITE:
                    if not flush(client):
                        close(client)
                    else:
                        update(client)
            now = time.monotonic()
            while heap and heap[0][0] <= now:
                deadline, _, client = heapq.heappop(heap)
                if not client.gone and deadline == client.deadline:
                    on_deadline(client)
    finally:
        for client in list(live):
            client.sock.close()
        sel.close()
        listener.settimeout(saved)
