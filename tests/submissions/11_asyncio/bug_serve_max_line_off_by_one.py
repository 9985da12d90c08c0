"""Bug: besides limit=max_line, serve_upper's handler checks each line itself with len(line) > max_line; but readuntil() returns the line with its "\n", so a line of exactly max_line bytes is 1 byte "too long" and its client is dropped.

Should fail: a line of exactly max_line bytes plus "\n" is not answered: its client is disconnected.
Caught by: serve_upper_limits_line_length
"""

import asyncio
import struct

MAX_FRAME = 16 * 1024 * 1024
MAX_REPLY = 65536
CLOSE_GRACE = 1.0


async def close_writer(writer):
    writer.close()
    closing = asyncio.ensure_future(writer.wait_closed())
    closing.add_done_callback(lambda task: task.cancelled() or task.exception())
    try:
        await asyncio.wait_for(asyncio.shield(closing), CLOSE_GRACE)
    except asyncio.TimeoutError:
        writer.transport.abort()
        await asyncio.wait([closing])
    except OSError:
        pass


# ---------------------------------------------------------------- request_lines


async def read_reply(reader):
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError:
        raise EOFError("the server closed before the reply line was complete") from None
    except asyncio.LimitOverrunError:
        raise ValueError(f"reply line longer than {MAX_REPLY} bytes") from None
    return line[:-1].decode("utf-8")


async def exchange_lines(reader, writer, lines):
    async def send_all():
        for line in lines:
            writer.write(line.encode("utf-8") + b"\n")
            await writer.drain()

    sender = asyncio.ensure_future(send_all())
    sender.add_done_callback(lambda task: task.cancelled() or task.exception())
    try:
        replies = []
        for _ in lines:
            replies.append(await read_reply(reader))
        await sender
        return replies
    finally:
        sender.cancel()


async def request_lines(host, port, lines, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, limit=MAX_REPLY), timeout)
    except asyncio.TimeoutError:
        raise TimeoutError(f"could not connect within {timeout} s") from None
    try:
        return await asyncio.wait_for(exchange_lines(reader, writer, lines), deadline - loop.time())
    except asyncio.TimeoutError:
        raise TimeoutError(f"no complete answer within {timeout} s") from None
    finally:
        await close_writer(writer)


# ---------------------------------------------------------------- fetch_frame


async def exchange_frame(reader, writer, payload):
    writer.write(struct.pack("!I", len(payload)) + payload)
    await writer.drain()
    try:
        header = await reader.readexactly(4)
        (length,) = struct.unpack("!I", header)
        if length > MAX_FRAME:
            raise ValueError(f"the reply announces {length} bytes; MAX_FRAME is {MAX_FRAME}")
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError as exc:
        raise EOFError(f"the server closed inside the reply frame ({len(exc.partial)} bytes read)") from None


async def fetch_frame(host, port, payload, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except asyncio.TimeoutError:
        raise TimeoutError(f"could not connect within {timeout} s") from None
    try:
        return await asyncio.wait_for(exchange_frame(reader, writer, payload), deadline - loop.time())
    except asyncio.TimeoutError:
        raise TimeoutError(f"no reply frame within {timeout} s") from None
    finally:
        await close_writer(writer)


# ---------------------------------------------------------------- serve_upper


async def serve_client(reader, writer, idle_timeout, max_line):
    try:
        while True:
            try:
                line = await asyncio.wait_for(reader.readuntil(b"\n"), idle_timeout)
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    writer.write(exc.partial.decode("utf-8").upper().encode("utf-8") + b"\n")
                    await asyncio.wait_for(writer.drain(), idle_timeout)
                return
            if len(line) > max_line:
                return  # too long: drop this client
            writer.write(line[:-1].decode("utf-8").upper().encode("utf-8") + b"\n")
            await asyncio.wait_for(writer.drain(), idle_timeout)  # a client that takes no reply is idle too
    except (OSError, ValueError, asyncio.TimeoutError, asyncio.LimitOverrunError):
        pass  # reset, bad UTF-8, idle, line too long, not reading: this client only
    finally:
        await close_writer(writer)


async def serve_upper(listener, clients, idle_timeout=2.0, max_line=65536):
    if clients <= 0:
        listener.close()
        return
    loop = asyncio.get_running_loop()
    all_done = loop.create_future()
    accepted = 0
    finished = 0
    server = None

    async def handler(reader, writer):
        nonlocal accepted, finished
        accepted += 1
        if accepted > clients:
            writer.transport.abort()
            return
        if accepted == clients:
            server.close()
        try:
            await serve_client(reader, writer, idle_timeout, max_line)
        finally:
            finished += 1
            if finished == clients and not all_done.done():
                all_done.set_result(None)

    server = await asyncio.start_server(handler, sock=listener, limit=max_line)
    try:
        await all_done
    finally:
        server.close()
