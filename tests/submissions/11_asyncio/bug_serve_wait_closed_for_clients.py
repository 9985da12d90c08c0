"""Bug: serve_upper stops accepting after the clients-th connection with server.close() and then awaits server.wait_closed() to wait for the handlers. On Python 3.8-3.11 wait_closed() returns at once once close() has been called (it waits for the connections only from 3.12 on), so serve_upper returns while clients are still being served, and asyncio.run() then cancels their handlers.

Should fail (on 3.11): the last of the clients connects after the others left and talks for a while; serve_upper returns as soon as it has connected, and asyncio.run() cuts its conversation short.
Caught by: serve_upper_serves_the_last_client_to_its_end
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


async def serve_client(reader, writer, idle_timeout):
    try:
        while True:
            try:
                line = await asyncio.wait_for(reader.readuntil(b"\n"), idle_timeout)
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    writer.write(exc.partial.decode("utf-8").upper().encode("utf-8") + b"\n")
                    await asyncio.wait_for(writer.drain(), idle_timeout)
                return
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
    everyone_in = asyncio.Event()
    accepted = 0

    async def handler(reader, writer):
        nonlocal accepted
        accepted += 1
        if accepted > clients:
            writer.transport.abort()
            return
        if accepted == clients:
            everyone_in.set()
        await serve_client(reader, writer, idle_timeout)

    server = await asyncio.start_server(handler, sock=listener, limit=max_line)
    try:
        await everyone_in.wait()
    finally:
        server.close()  # no more connections
    await server.wait_closed()  # ... and wait until the ones we have are done
