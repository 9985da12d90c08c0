"""Stage 09 — heartbeats, idle timeouts and TCP keepalive: noticing a peer that went away.

Read exercises/09_heartbeat/README.md first; `tcplab check 9` checks your work.

- enable_keepalive: ask the kernel to probe an idle connection, and to give up on it when
  the probes go unanswered;
- ping: an application heartbeat on a schedule, with round-trip times and a deadline for
  every answer;
- serve_heartbeat: a server for many clients at once that says goodbye to a client that
  has sent no complete line for too long.

    heartbeat lines (UTF-8, ending in "\n"):
      PING <token>    is answered with    PONG <token>
      BYE idle        the server's last line to a client it closes for idleness
"""

import select
import socket
import threading
import time

# How long a connection we are closing gets to take our last line ("BYE idle") before we
# close it anyway: ample for a client that reads, and a bound on one that does not.
BYE_GRACE = 1.0


def enable_keepalive(
    sock: socket.socket,
    idle: int = 60,
    interval: int = 10,
    count: int = 5,
) -> dict[str, int]:
    """Turn TCP keepalive on for `sock`, with its three timers, and return what the kernel took.

    Sets SO_KEEPALIVE to 1 at SOL_SOCKET, then at IPPROTO_TCP each of these the platform
    has: TCP_KEEPIDLE (on macOS: TCP_KEEPALIVE) = idle, TCP_KEEPINTVL = interval,
    TCP_KEEPCNT = count; idle and interval in seconds, count in probes. Returns
    {constant name: value read back with getsockopt} for the IPPROTO_TCP options it set
    (SO_KEEPALIVE is not among them), so a platform without one has no key for it. An
    argument that is not an int (a bool or a float is not one), or is below 1, raises
    ValueError before the socket is touched; the kernel's own refusals propagate as
    OSError (options set before the refused one stay set). Does not close `sock`.
    """
    # Check every argument before the first setsockopt: a call that raises must leave the
    # socket exactly as it was, not half configured. `type(x) is int` and not isinstance:
    # True is an int to isinstance, and idle=True is a bug, not "1 second".
    for name, value in (("idle", idle), ("interval", interval), ("count", count)):
        if type(value) is not int or value < 1:
            raise ValueError(f"{name} must be an int of at least 1, got {value!r}")

    # Step 1, the switch. It lives at the socket level (SOL_SOCKET), like SO_REUSEADDR.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    # Step 2, the timers. They are TCP's own options, so they live at IPPROTO_TCP. At
    # SOL_SOCKET the same numbers mean other options: TCP_KEEPINTVL (5) is SO_DONTROUTE
    # there and TCP_KEEPCNT (6) is SO_BROADCAST, and setting them "works" silently.
    # The names are looked up now, at call time, with getattr: a platform may lack any of
    # them (macOS calls the idle time TCP_KEEPALIVE; some systems have none), and a name
    # looked up at import time would not notice that.
    idle_names = [n for n in ("TCP_KEEPIDLE", "TCP_KEEPALIVE") if hasattr(socket, n)]
    idle_name = idle_names[0] if idle_names else None
    wanted = [(idle_name, idle), ("TCP_KEEPINTVL", interval), ("TCP_KEEPCNT", count)]

    read_back: dict[str, int] = {}
    for name, value in wanted:
        option = getattr(socket, name, None) if name is not None else None
        if option is None:
            continue  # this platform has no such knob: its default stays, and no key says so
        sock.setsockopt(socket.IPPROTO_TCP, option, value)  # a refusal (EINVAL) propagates
        # Read it back: what the kernel took is the truth, not what we asked for.
        read_back[name] = sock.getsockopt(socket.IPPROTO_TCP, option)
    return read_back


def ping(
    sock: socket.socket,
    count: int = 3,
    interval: float = 1.0,
    timeout: float = 2.0,
) -> list[float]:
    """Send `count` PINGs on a schedule and return the round-trip time of each, in ping order.

    Sends "PING <i>\\n" for i = 1..count at start + (i - 1) * interval (monotonic clock),
    never earlier, and never held back by PONGs still outstanding. Meanwhile reads lines:
    "PONG <i>" records ping i's round-trip time; a "PING <t>" from the peer is answered at
    once with "PONG <t>"; other lines are ignored. Returns the round-trip times (floats,
    seconds) as soon as the last PONG is read; lines after it may be left unread. A PONG
    not arrived `timeout` seconds after its PING raises TimeoutError, no earlier than that
    moment and within 0.5 s after it; EOF raises EOFError; a PONG whose token is not the
    number of an outstanding ping (answered already, not sent yet, or not a number) raises
    ValueError. Leaves `sock` open, with the timeout it had when the call began.
    """
    if count < 1:
        return []  # nothing to send, nothing to wait for
    saved_timeout = sock.gettimeout()
    # Non-blocking: select() below decides when to wait and for how long, so no recv or send
    # may wait on its own. It also means send() may take only part of what we offer (or
    # nothing: BlockingIOError), so what is not sent yet waits in `outbox`. sendall() would
    # be wrong here: on a non-blocking socket it can fail half way, with no way to tell how
    # much went out.
    sock.setblocking(False)
    try:
        start = time.monotonic()
        outstanding: dict[bytes, tuple[int, float]] = {}  # token -> (ping number, sent at)
        rtts: dict[int, float] = {}
        next_ping = 1  # the number of the next PING to send
        inbox = b""  # bytes received but not yet a whole line
        outbox = bytearray()  # bytes to send that the kernel has not taken yet

        def flush() -> None:
            try:
                while outbox:
                    del outbox[: sock.send(outbox)]
            except BlockingIOError:
                pass  # the send buffer is full: select() says when there is room again

        while True:
            now = time.monotonic()
            # 1. Every PING that is due goes out now, whatever PONGs are still outstanding:
            # the schedule is fixed by the clock, not by the peer's answers.
            while next_ping <= count and now >= start + (next_ping - 1) * interval:
                token = str(next_ping).encode()
                outbox += b"PING " + token + b"\n"
                outstanding[token] = (next_ping, now)
                next_ping += 1
            flush()

            # 2. Deadlines. The oldest outstanding PING is the first to run out of time.
            pong_deadline = min((sent + timeout for _n, sent in outstanding.values()), default=None)
            if pong_deadline is not None and now >= pong_deadline:
                late = min(n for n, _sent in outstanding.values())
                raise TimeoutError(f"no PONG {late} within {timeout} s of PING {late}")

            # 3. Sleep until the earliest thing that is due: the next PING or a PONG's
            # deadline, whichever comes first, unless a byte arrives before. A fixed
            # select timeout would be late; no timeout at all would wait forever.
            # (There is always one: a PING still to send, or a PONG still to come.)
            wake_at = [] if pong_deadline is None else [pong_deadline]
            if next_ping <= count:
                wake_at.append(start + (next_ping - 1) * interval)
            wait = max(0.0, min(wake_at) - now)
            readable, writable, _ = select.select([sock], [sock] if outbox else [], [], wait)
            if writable:
                flush()
            if not readable:
                continue  # a timer is due (or nearly: the loop checks the clock again)

            try:
                chunk = sock.recv(4096)
            except BlockingIOError:
                continue  # nothing after all: select() will say so again
            if not chunk:
                raise EOFError(f"the peer closed after {len(rtts)} of {count} PONGs")
            received_at = time.monotonic()
            inbox += chunk
            # One recv may bring several lines glued together, or a piece of one.
            *lines, inbox = inbox.split(b"\n")
            for line in lines:
                if line.startswith(b"PING "):
                    # The peer asks whether *we* are alive: answer at once, with its token.
                    outbox += b"PONG " + line[len(b"PING ") :] + b"\n"
                elif line.startswith(b"PONG "):
                    token = line[len(b"PONG ") :]
                    if token not in outstanding:
                        # Answered already, never sent, or not a number at all: the peer is
                        # confused, and a round-trip time for it would be a lie.
                        shown = token.decode("utf-8", "replace")
                        raise ValueError(f"PONG {shown!r} answers no outstanding PING")
                    number, sent = outstanding.pop(token)
                    rtts[number] = received_at - sent
                    if len(rtts) == count:
                        flush()  # a PONG we owe the peer, if any, goes now
                        return [rtts[i] for i in range(1, count + 1)]
                # Any other line is not ours to judge: ignore it.
            flush()
    finally:
        # As we found it: blocking, non-blocking or with its timeout. Not closed: the
        # connection is the caller's.
        sock.settimeout(saved_timeout)


def serve_heartbeat(
    listener: socket.socket,
    clients: int,
    idle_timeout: float = 3.0,
    max_line: int = 65536,
) -> None:
    """Serve `clients` connections at once; say BYE to a client that has gone idle.

    A line that starts with "PING " (case-sensitive) is answered "PONG <t>", where <t> is
    the rest of the line; any other line, including a non-empty unterminated last line
    before EOF, is answered upper-cased. Every reply ends in "\\n" (UTF-8). A client that
    sends no *complete* line for `idle_timeout` seconds (a partial line does not count; a
    PING does) gets "BYE idle\\n" and is closed, `idle_timeout` after its last complete
    line (or after it was accepted, if it sent none): never before, and within 0.5 s
    after. A client that resets, sends invalid UTF-8 or a line longer than `max_line`
    bytes is closed without BYE. Accepts exactly `clients` connections and returns once
    all of them have ended; by then no thread it started is alive and no socket it opened
    is open. Never raises because of a client; does not close `listener`. An idle server
    uses no CPU: no busy loop, no wake-ups more often than every 50 ms.
    """

    def serve_one(conn: socket.socket, accepted_at: float) -> None:
        with conn:  # closed on every path
            try:
                # The idle deadline. It moves only when a *complete* line arrives: a
                # client that sends one byte a second and never "\n" (a slowloris) keeps
                # a plain settimeout(idle_timeout) from ever firing, but not this.
                deadline = accepted_at + idle_timeout
                buffer = b""
                while True:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        say_bye(conn)
                        return
                    # Wait for bytes only until the deadline, not a whole idle_timeout
                    # from now: the time left is what the last complete line left us.
                    conn.settimeout(remaining)
                    try:
                        chunk = conn.recv(4096)
                    except TimeoutError:
                        continue  # the loop looks at the clock: BYE now, or in a moment
                    at_eof = not chunk
                    if at_eof and buffer:
                        chunk = b"\n"  # the client is done: answer its unterminated last line
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if len(line) > max_line:
                            return  # over-long: closed without BYE
                        text = line.decode("utf-8")  # UnicodeDecodeError: closed without BYE
                        # A complete line, a PING as much as any other: the client is alive.
                        deadline = time.monotonic() + idle_timeout
                        if text.startswith("PING "):
                            reply = "PONG " + text[len("PING ") :]
                        else:
                            reply = text.upper()
                        # A client that takes no reply for idle_timeout is not reading: drop it.
                        conn.settimeout(idle_timeout)
                        conn.sendall((reply + "\n").encode("utf-8"))
                    if len(buffer) > max_line:
                        return  # more than max_line bytes and still no "\n": too long already
                    if at_eof:
                        return
            except (OSError, ValueError):
                # A reset, a client that would not read, invalid UTF-8 (a ValueError): this
                # client's problem, closed without BYE by the `with`. Caught here, in the
                # thread: an exception escaping a thread is printed and lost.
                pass

    def say_bye(conn: socket.socket) -> None:
        conn.settimeout(BYE_GRACE)
        conn.sendall(b"BYE idle\n")
        # FIN right behind BYE: the client reads BYE, then EOF. Without it, bytes that a
        # slowloris sends after our last recv would make close() send RST instead, and a
        # RST can reach the client as "connection reset" instead of a clean end.
        conn.shutdown(socket.SHUT_WR)

    threads: list[threading.Thread] = []
    try:
        for number in range(1, clients + 1):
            conn, _address = listener.accept()
            # The idle clock starts at accept, not when the thread gets round to running.
            accepted_at = time.monotonic()
            thread = threading.Thread(
                target=serve_one, args=(conn, accepted_at), name=f"client-{number}"
            )
            try:
                thread.start()
            except BaseException:
                conn.close()  # no thread will ever own it
                raise
            threads.append(thread)
    finally:
        # Done when every client has ended, not when the last one was accepted. Each
        # thread ends at most about idle_timeout after its client's last complete line,
        # so these joins cannot wait forever.
        for thread in threads:
            thread.join()
