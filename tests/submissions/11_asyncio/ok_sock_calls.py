"""Correct, without streams: plain non-blocking sockets driven by the loop's own socket calls (loop.getaddrinfo, sock_connect, sock_accept, sock_recv, sock_sendall). The buffers and the line and frame logic are written out by hand; sock_sendall() returns only once the kernel has taken everything, so it is the backpressure that drain() is for streams. request_lines sends from a second task while the first reads; serve_upper accepts `clients` times with sock_accept, serves each connection in its own task, and gathers them; each read waits at most until idle_timeout after the connection's last complete line. Timeouts are asyncio.wait_for; sockets are closed in finally blocks.

Should pass: every check.
"""

import asyncio
import socket
import struct

MAX_FRAME = 16 * 1024 * 1024
MAX_REPLY = 65536
RECV_SIZE = 65536


async def _limit(coro, timeout):
    try:
        return await asyncio.wait_for(coro, timeout)
    except asyncio.TimeoutError:
        raise TimeoutError(f"timed out after {timeout} s") from None


async def _connect(loop, host, port):
    """A connected non-blocking socket to the first address of host that answers."""
    error = None
    for family, kind, proto, _, address in await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            await loop.sock_connect(sock, address)
            return sock
        except BaseException as exc:  # closed on every way out, CancelledError included
            sock.close()
            if not isinstance(exc, OSError):
                raise
            error = exc
    raise error or OSError(f"no address for {host!r}")


async def _stop(task):
    """Cancel a helper task and wait until it has really stopped (its error, if any, is ours to drop)."""
    task.cancel()
    await asyncio.wait([task])
    if not task.cancelled():
        task.exception()


# ---------------------------------------------------------------- request_lines


async def _exchange_lines(loop, sock, lines):
    data = b"".join(line.encode("utf-8") + b"\n" for line in lines)
    sender = asyncio.ensure_future(loop.sock_sendall(sock, data))
    try:
        replies = []
        buffer = b""
        while len(replies) < len(lines):
            end = buffer.find(b"\n")
            if end >= 0:
                if end > MAX_REPLY:
                    raise ValueError(f"reply line of {end} bytes (at most {MAX_REPLY})")
                replies.append(buffer[:end].decode("utf-8"))
                buffer = buffer[end + 1:]
                continue
            if len(buffer) > MAX_REPLY:
                raise ValueError(f"reply line longer than {MAX_REPLY} bytes")
            chunk = await loop.sock_recv(sock, RECV_SIZE)
            if not chunk:
                raise EOFError(f"the server closed with {len(replies)} of {len(lines)} replies"
                               + (" and part of the next" if buffer else ""))
            buffer += chunk
        await sender
        return replies
    finally:
        await _stop(sender)


async def request_lines(host, port, lines, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    sock = await _limit(_connect(loop, host, port), timeout)
    try:
        return await _limit(_exchange_lines(loop, sock, lines), deadline - loop.time())
    finally:
        sock.close()  # a plain socket: close() is the whole of closing, nothing to wait for


# ---------------------------------------------------------------- fetch_frame


async def _recv_exactly(loop, sock, count, what):
    parts = bytearray()
    while len(parts) < count:
        chunk = await loop.sock_recv(sock, min(count - len(parts), RECV_SIZE))
        if not chunk:
            raise EOFError(f"EOF after {len(parts)} of the {count} bytes of the reply's {what}")
        parts += chunk
    return bytes(parts)


async def _exchange_frame(loop, sock, payload):
    await loop.sock_sendall(sock, struct.pack("!I", len(payload)) + payload)
    (length,) = struct.unpack("!I", await _recv_exactly(loop, sock, 4, "header"))
    if length > MAX_FRAME:
        raise ValueError(f"the reply frame says {length} bytes; MAX_FRAME is {MAX_FRAME}")
    return await _recv_exactly(loop, sock, length, "payload")


async def fetch_frame(host, port, payload, timeout=5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    sock = await _limit(_connect(loop, host, port), timeout)
    try:
        return await _limit(_exchange_frame(loop, sock, payload), deadline - loop.time())
    finally:
        sock.close()


# ---------------------------------------------------------------- serve_upper


async def _serve_client(loop, conn, idle_timeout, max_line):
    buffer = b""
    try:
        last_line = loop.time()
        while True:
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if len(line) > max_line:
                    return
                await _limit(loop.sock_sendall(conn, line.decode("utf-8").upper().encode("utf-8") + b"\n"),
                             idle_timeout)
                last_line = loop.time()
            if len(buffer) > max_line:
                return
            chunk = await _limit(loop.sock_recv(conn, RECV_SIZE), last_line + idle_timeout - loop.time())
            if not chunk:
                if buffer:
                    await _limit(loop.sock_sendall(conn, buffer.decode("utf-8").upper().encode("utf-8") + b"\n"),
                                 idle_timeout)
                return
            buffer += chunk
    except (OSError, ValueError):
        pass  # reset, idle (TimeoutError is an OSError), not UTF-8, a client that does not read
    finally:
        conn.close()


async def serve_upper(listener, clients, idle_timeout=2.0, max_line=65536):
    loop = asyncio.get_running_loop()
    tasks = []
    try:
        listener.setblocking(False)
        for _ in range(clients):
            conn, _address = await loop.sock_accept(listener)  # already non-blocking
            try:
                tasks.append(asyncio.ensure_future(_serve_client(loop, conn, idle_timeout, max_line)))
            except BaseException:
                conn.close()
                raise
    except BaseException:
        for task in tasks:
            task.cancel()
        raise
    finally:
        listener.close()
        try:
            while not all(task.done() for task in tasks):
                await asyncio.wait(tasks)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()  # we are being cancelled: so are the connections
            raise
