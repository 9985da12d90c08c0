"""Bug: enable_keepalive checks each value only in the loop that sets it, after SO_KEEPALIVE is already on (and, for a bad interval or count, after the options before it are set), so a bad argument raises ValueError but leaves the socket changed.

Should fail: idle=0, interval=-1, count="5" and idle=2.5 each raise ValueError, but SO_KEEPALIVE reads 1 afterwards: the socket was touched.
Caught by: keepalive_checks_its_arguments_first
"""

import socket
import threading
import time

BYE = b"BYE idle\n"


# ---------------------------------------------------------------- enable_keepalive


def enable_keepalive(sock: socket.socket, idle: int = 60, interval: int = 10, count: int = 5) -> dict[str, int]:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    # Linux calls the idle time TCP_KEEPIDLE, macOS TCP_KEEPALIVE; some platforms have
    # neither. Look the names up now (not at import), and skip what this platform lacks.
    idle_name = "TCP_KEEPIDLE" if hasattr(socket, "TCP_KEEPIDLE") else "TCP_KEEPALIVE"
    wanted = [(idle_name, idle), ("TCP_KEEPINTVL", interval), ("TCP_KEEPCNT", count)]
    read_back = {}
    for name, value in wanted:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a whole number (at least 1), got {value!r}")
        option = getattr(socket, name, None)
        if option is None:
            continue
        # These are TCP options: level IPPROTO_TCP, not SOL_SOCKET.
        sock.setsockopt(socket.IPPROTO_TCP, option, value)
        read_back[name] = sock.getsockopt(socket.IPPROTO_TCP, option)
    return read_back


# ---------------------------------------------------------------- ping


def _pong_number(token: bytes) -> "int | None":
    return int(token) if token.isdigit() else None


def ping(sock: socket.socket, count: int = 3, interval: float = 1.0, timeout: float = 2.0) -> list[float]:
    old_timeout = sock.gettimeout()
    start = time.monotonic()
    lock = threading.Lock()  # guards sent_at and every sendall on sock
    sent_at: dict[int, float] = {}  # outstanding pings: number -> when it was sent
    stop = threading.Event()
    scheduler_error: list[BaseException] = []

    def scheduler() -> None:
        # Sends PING i at start + (i-1)*interval, whatever the PONGs are doing.
        try:
            for number in range(1, count + 1):
                due = start + (number - 1) * interval
                while True:
                    left = due - time.monotonic()
                    if left <= 0:
                        break
                    if stop.wait(left):
                        return
                with lock:
                    # Record the time before sending, under the lock: the reader cannot
                    # see the PONG before it knows the PING was sent.
                    sent_at[number] = time.monotonic()
                    sock.sendall(f"PING {number}\n".encode())
        except OSError as exc:
            # The reader will see the same broken connection (EOF or a reset); if it
            # does not, the PING that failed times out and this is raised instead.
            scheduler_error.append(exc)

    sender = threading.Thread(target=scheduler, name="ping-scheduler")
    sender.start()
    times: dict[int, float] = {}
    buffer = b""
    try:
        while len(times) < count:
            with lock:
                now = time.monotonic()
                if sent_at:
                    deadline = min(sent_at.values()) + timeout
                    if now >= deadline:
                        if scheduler_error:  # the PING never went out: say why
                            raise scheduler_error[0]
                        oldest = min(sent_at, key=sent_at.get)
                        raise TimeoutError(f"no PONG {oldest} within {timeout} s")
                else:
                    # Nothing outstanding: the next ping cannot time out before this.
                    deadline = start + len(times) * interval + timeout
            sock.settimeout(max(deadline - now, 0.005))
            try:
                chunk = sock.recv(4096)
            except TimeoutError:
                continue  # look at the deadlines again
            received = time.monotonic()
            if not chunk:
                raise EOFError("the peer closed the connection")
            buffer += chunk
            while b"\n" in buffer and len(times) < count:
                line, buffer = buffer.split(b"\n", 1)
                with lock:
                    if line.startswith(b"PONG "):
                        number = _pong_number(line[5:])
                        if number not in sent_at:
                            raise ValueError(f"unexpected {line!r}: no such ping outstanding")
                        times[number] = received - sent_at.pop(number)
                    elif line.startswith(b"PING "):
                        sock.sendall(b"PONG " + line[5:] + b"\n")
        return [times[number] for number in range(1, count + 1)]
    finally:
        stop.set()
        sender.join()
        sock.settimeout(old_timeout)


# ---------------------------------------------------------------- serve_heartbeat


def _answer(line: bytes) -> bytes:
    text = line.decode("utf-8")  # UnicodeDecodeError (a ValueError) on bad input
    if text.startswith("PING "):
        return f"PONG {text[5:]}\n".encode("utf-8")
    return (text.upper() + "\n").encode("utf-8")


def _serve_client(conn: socket.socket, accepted: float, idle_timeout: float, max_line: int) -> None:
    with conn:
        deadline = accepted + idle_timeout
        buffer = b""
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    conn.settimeout(idle_timeout)
                    conn.sendall(BYE)
                    return
                # The timeout is what is left until the deadline, not idle_timeout:
                # a byte without a newline must not buy the client more time.
                conn.settimeout(left)
                try:
                    chunk = conn.recv(4096)
                except TimeoutError:
                    continue
                if not chunk:
                    if buffer:
                        conn.settimeout(idle_timeout)
                        conn.sendall(_answer(buffer))
                    return
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if len(line) > max_line:
                        return
                    deadline = time.monotonic() + idle_timeout
                    reply = _answer(line)
                    conn.settimeout(idle_timeout)
                    conn.sendall(reply)
                if len(buffer) > max_line:
                    return
        except (OSError, ValueError):
            pass  # reset, bad UTF-8, a client that does not read: closed, no BYE


def serve_heartbeat(listener: socket.socket, clients: int, idle_timeout: float = 3.0, max_line: int = 65536) -> None:
    threads = []
    try:
        for number in range(1, clients + 1):
            conn, _address = listener.accept()
            accepted = time.monotonic()
            thread = threading.Thread(target=_serve_client, args=(conn, accepted, idle_timeout, max_line),
                                      name=f"client-{number}")
            try:
                thread.start()
            except BaseException:
                conn.close()
                raise
            threads.append(thread)
    finally:
        for thread in threads:
            thread.join()
