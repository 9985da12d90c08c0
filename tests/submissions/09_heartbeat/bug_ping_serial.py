"""Bug: ping is serial: it sends PING i, waits for PONG i, sleeps `interval`, and only then sends PING i+1. A late PONG holds every later PING back, and the schedule drifts by each round trip.

Should fail: when the peer holds PONG 1 back until it has received PING 2, PING 2 never comes (until the peer gives up holding), so the four pings at interval 0.1 take seconds instead of about 0.3 s.
Caught by: ping_keeps_its_schedule_while_pongs_are_late
"""

import socket
import threading
import time

BYE = b"BYE idle\n"


# ---------------------------------------------------------------- enable_keepalive


def enable_keepalive(sock: socket.socket, idle: int = 60, interval: int = 10, count: int = 5) -> dict[str, int]:
    # Check everything before touching the socket: a bad argument must leave it as it was.
    for what, value in (("idle", idle), ("interval", interval), ("count", count)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{what} must be a whole number of seconds (at least 1), got {value!r}")

    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    # Linux calls the idle time TCP_KEEPIDLE, macOS TCP_KEEPALIVE; some platforms have
    # neither. Look the names up now (not at import), and skip what this platform lacks.
    idle_name = "TCP_KEEPIDLE" if hasattr(socket, "TCP_KEEPIDLE") else "TCP_KEEPALIVE"
    wanted = [(idle_name, idle), ("TCP_KEEPINTVL", interval), ("TCP_KEEPCNT", count)]
    read_back = {}
    for name, value in wanted:
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
    buffer = b""
    times = []
    try:
        for number in range(1, count + 1):
            sent = time.monotonic()
            sock.sendall(f"PING {number}\n".encode())
            # Wait for this ping's PONG, answering the peer's PINGs meanwhile.
            while True:
                if b"\n" not in buffer:
                    left = sent + timeout - time.monotonic()
                    if left <= 0:
                        raise TimeoutError(f"no PONG {number} within {timeout} s")
                    sock.settimeout(left)
                    chunk = sock.recv(4096)
                    if not chunk:
                        raise EOFError("the peer closed the connection")
                    buffer += chunk
                    continue
                line, buffer = buffer.split(b"\n", 1)
                if line.startswith(b"PONG "):
                    if _pong_number(line[5:]) != number:
                        raise ValueError(f"unexpected {line!r}: no such ping outstanding")
                    times.append(time.monotonic() - sent)
                    break
                if line.startswith(b"PING "):
                    sock.sendall(b"PONG " + line[5:] + b"\n")
            if number < count:
                time.sleep(interval)  # then the next ping
        return times
    finally:
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
