"""Stage 11 — asyncio streams: the same conversations on one thread, with an event loop.

Read exercises/11_asyncio/README.md first; `tcplab check 11` checks your work.

- request_lines: many request lines on one connection, one reply line each, reading the
  replies while the requests are still going out, all under one deadline;
- fetch_frame: one stage-05 frame out, one frame back, read with readexactly;
- serve_upper: stage 07's upper-casing line server, every client at once, with
  asyncio.start_server on the caller's listening socket.

All three are coroutine functions (async def): run one with asyncio.run(...), or await it
from a coroutine of your own. Text is UTF-8; lines end in "\\n".

    a stage-05 frame:   N as 4 bytes, unsigned, big-endian  |  N bytes of payload
"""

import asyncio
import socket
import struct

# The largest payload a frame may announce (stage 05's limit): checked before the body is read.
MAX_FRAME = 16 * 1024 * 1024
# The longest reply line request_lines takes, in bytes before its "\n".
MAX_REPLY = 65536
# How long a closing connection gets to hand its unsent bytes to the kernel before we
# abort it: ample for a peer that reads, and a bound on one that does not.
CLOSE_GRACE = 1.0
# How much we hand the transport at a time before drain(): small enough that a peer that
# reads slowly never makes us buffer much, big enough that 4 MB is only 64 rounds.
CHUNK = 65536


async def request_lines(host: str, port: int, lines: list[str], timeout: float = 5.0) -> list[str]:
    """Send each of `lines` + "\\n" on one connection; return one reply line per request, in order.

    Keeps reading replies while it writes: the lines may add up to megabytes. `timeout`
    bounds the whole exchange (connect, requests, replies) and raises the builtin
    TimeoutError. The peer closing before every reply line is complete raises EOFError; a
    reply line longer than MAX_REPLY bytes before its "\\n" raises ValueError. Replies come
    back decoded (UTF-8), without their "\\n". On every path the connection is closed:
    writer.close(), then wait_closed() for at most CLOSE_GRACE seconds (shielded), then
    writer.transport.abort() if it is still waiting.
    """
    # Encoded before we connect: a line that cannot be encoded fails here, not half-way
    # through the conversation.
    data = b"".join(line.encode("utf-8") + b"\n" for line in lines)

    async def send_requests(writer: asyncio.StreamWriter) -> None:
        # write() never blocks: it only appends to the transport's buffer. drain() is what
        # waits, while that buffer is above its high-water mark. Without it a peer that
        # reads slowly makes the buffer, and our memory, grow with everything we write.
        for start in range(0, len(data), CHUNK):
            writer.write(data[start : start + CHUNK])
            await writer.drain()

    async def exchange() -> list[str]:
        # limit: the longest line the StreamReader takes, counted in bytes *before* the
        # separator: a reply of exactly MAX_REPLY bytes passes, one byte more does not.
        # (65536 is also asyncio's default: said here, where the rule is kept.)
        reader, writer = await asyncio.open_connection(host, port, limit=MAX_REPLY)
        try:
            # The requests go out in a task of their own while this one reads the replies.
            # Writing them all first, drained, deadlocks once they add up to more than the
            # buffers hold: the peer stops reading because we do not read its replies, and
            # we wait in drain() for it to read.
            sending = asyncio.ensure_future(send_requests(writer))
            try:
                replies = []
                for _ in lines:
                    try:
                        # readuntil, not readline: at EOF readline() returns what it has
                        # ("HEL", no "\n") as if it were a line; readuntil raises.
                        line = await reader.readuntil(b"\n")
                    except asyncio.IncompleteReadError as exc:  # an EOFError; this one says more
                        raise EOFError(f"the peer closed {len(exc.partial)} bytes into reply "
                                       f"{len(replies) + 1} of {len(lines)}") from None
                    except asyncio.LimitOverrunError:
                        # Not a ValueError itself (readline turns it into one). Its bytes
                        # stay in the buffer: retrying would find them again.
                        raise ValueError(f"reply {len(replies) + 1} is longer than {MAX_REPLY} bytes") from None
                    replies.append(line[:-1].decode("utf-8"))
                return replies
            finally:
                # Every reply is in, or we are leaving on an error: the sender has nothing
                # left to do. asyncio.wait() waits for it to stop without raising its error
                # (the reader has seen the same lost connection) and, unlike `await sending`,
                # without cancelling it along with us if *we* are cancelled meanwhile.
                sending.cancel()
                await asyncio.wait([sending])
                if not sending.cancelled():
                    sending.exception()  # retrieved, or asyncio logs "never retrieved"
        finally:
            writer.close()  # FIN once the transport's buffer is empty; nothing waits yet
            # wait_closed() waits until the transport has handed every unsent byte to the
            # kernel and closed the socket: forever, if the peer never reads. So the wait is
            # bounded, and then abort() drops what is still unsent and closes the socket now.
            # wait_closed() runs in a task of its own, shielded: the timeout (or a
            # cancellation of ours) cancels only our wait. Cancelling wait_closed() itself
            # would cancel the connection's one "closed" future: every later wait_closed()
            # would raise CancelledError at once, a cancellation nobody asked for.
            closing = asyncio.ensure_future(writer.wait_closed())
            try:
                await asyncio.wait_for(asyncio.shield(closing), CLOSE_GRACE)
            except asyncio.TimeoutError:  # first: on 3.11+ it is the builtin, an OSError
                writer.transport.abort()
                await asyncio.wait([closing])  # abort() closes the socket on the loop's next turn
            except OSError:
                pass  # the connection ended with an error (a reset): closed all the same

    # One deadline for the whole exchange. asyncio.wait_for works on 3.10; on 3.11+
    # `async with asyncio.timeout(timeout):` says the same. On the timeout exchange() is
    # cancelled, and its `finally` blocks still run: closing takes up to CLOSE_GRACE more.
    try:
        return await asyncio.wait_for(exchange(), timeout)
    except asyncio.TimeoutError:
        # On 3.10 asyncio.TimeoutError is a class of its own, not the builtin TimeoutError
        # (an OSError) that the contract promises; on 3.11+ they are the same class.
        raise TimeoutError(f"no complete reply to {len(lines)} lines within {timeout} s") from None


async def fetch_frame(host: str, port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    """Send `payload` as one stage-05 frame; return the payload of the frame that comes back.

    `timeout` bounds the whole exchange and raises the builtin TimeoutError, as in
    request_lines. A reply that announces more than MAX_FRAME bytes raises ValueError
    before its body is read; EOF anywhere in the reply frame, header included, raises
    EOFError. The connection is closed on every path, as in request_lines.
    """
    frame = struct.pack("!I", len(payload)) + bytes(payload)

    async def send_frame(writer: asyncio.StreamWriter) -> None:
        for start in range(0, len(frame), CHUNK):
            writer.write(frame[start : start + CHUNK])
            await writer.drain()

    async def exchange() -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            # The frame goes out in a task of its own, as in request_lines: a peer may
            # answer (or refuse) before it has read all of a large frame.
            sending = asyncio.ensure_future(send_frame(writer))
            try:
                # readexactly(n) waits for all n bytes, however they are split on the way
                # (reader.read(n) returns as soon as *some* bytes are there), and raises
                # IncompleteReadError, an EOFError, if the stream ends first.
                try:
                    header = await reader.readexactly(4)
                except asyncio.IncompleteReadError as exc:
                    raise EOFError(f"the peer closed after {len(exc.partial)} of the 4 header bytes") from None
                (length,) = struct.unpack("!I", header)
                if length > MAX_FRAME:
                    # Before the body: 0xFFFFFFFF must cost nothing, not a wait for 4 GiB.
                    raise ValueError(f"the reply frame announces {length} bytes, more than {MAX_FRAME}")
                try:
                    return await reader.readexactly(length)
                except asyncio.IncompleteReadError as exc:
                    raise EOFError(f"the peer closed after {len(exc.partial)} of {length} payload bytes") from None
            finally:
                sending.cancel()
                await asyncio.wait([sending])
                if not sending.cancelled():
                    sending.exception()
        finally:
            writer.close()
            closing = asyncio.ensure_future(writer.wait_closed())
            try:
                await asyncio.wait_for(asyncio.shield(closing), CLOSE_GRACE)
            except asyncio.TimeoutError:
                writer.transport.abort()
                await asyncio.wait([closing])
            except OSError:
                pass

    try:
        return await asyncio.wait_for(exchange(), timeout)
    except asyncio.TimeoutError:
        raise TimeoutError(f"no complete reply frame within {timeout} s") from None


async def serve_upper(
    listener: socket.socket,
    clients: int,
    idle_timeout: float = 2.0,
    max_line: int = 65536,
) -> None:
    """Serve `clients` connections from `listener`, all at once, answering each line upper-cased.

    Stage 07's rules: every line is answered upper-cased plus "\\n" (UTF-8), then drained;
    so is a non-empty unterminated last line before EOF. A client that resets, sends
    invalid UTF-8, sends a line longer than `max_line` bytes before its "\\n" (exactly
    max_line is fine), sends no line within `idle_timeout` seconds (each line is waited for
    at most that long), or takes no reply within `idle_timeout` seconds is disconnected and
    counts as one of the `clients`; never raises because of a client. Accepts exactly
    `clients` connections, then stops accepting, and returns once every one of them has
    been served to its end. Closes `listener`: asyncio's server owns it.
    """
    if clients <= 0:
        listener.close()  # nothing to serve; the listener is ours to close all the same
        return

    accepted = 0
    finished = 0
    enough = asyncio.Event()  # the clients-th connection has come: stop accepting
    all_done = asyncio.Event()  # every one of them has been served to its end
    serving: dict[asyncio.Task, asyncio.StreamWriter] = {}  # the handlers still running

    async def close(writer: asyncio.StreamWriter) -> None:
        # As in request_lines: close, wait_closed() shielded and bounded, then abort.
        writer.close()
        closing = asyncio.ensure_future(writer.wait_closed())
        try:
            await asyncio.wait_for(asyncio.shield(closing), CLOSE_GRACE)
        except asyncio.TimeoutError:
            writer.transport.abort()
            await asyncio.wait([closing])
        except OSError:
            pass

    async def serve_one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                # The idle timeout bounds each read, not the connection: it starts over with
                # every line, so a client stays as long as it talks. (wait_for around the
                # whole handler would cut off a client that is busy all along.)
                line = await asyncio.wait_for(reader.readline(), idle_timeout)
                if not line:
                    return  # EOF, and nothing pending
                # At EOF readline() hands over an unterminated last line as it is: it is
                # answered like any other, and the next readline() returns b"".
                text = line.removesuffix(b"\n").decode("utf-8")  # UnicodeDecodeError if not UTF-8
                writer.write((text.upper() + "\n").encode("utf-8"))
                # drain() after every reply: a client that sends and never reads then holds
                # this handler here (so we stop reading from it) instead of filling our
                # memory with replies. Bounded too: one that takes no reply for
                # idle_timeout is dropped.
                await asyncio.wait_for(writer.drain(), idle_timeout)
        except (OSError, ValueError, asyncio.TimeoutError):
            # This client's problem, not the server's: a reset (ConnectionResetError), a line
            # over max_line (readline's ValueError: the bytes are discarded, nothing is read
            # twice), invalid UTF-8 (a ValueError), idleness (asyncio.TimeoutError is not an
            # OSError on 3.10). CancelledError is none of these: it goes through, as it must.
            pass
        finally:
            await close(writer)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted, finished
        accepted += 1
        if accepted > clients:
            # asyncio accepts whatever is waiting in one go, so one or two more may get in
            # before the server stops: not ours to serve. A reset, as the kernel gives the
            # connections still waiting in a listener that closes.
            writer.transport.abort()
            return
        task = asyncio.current_task()
        serving[task] = writer
        if accepted == clients:
            enough.set()
        try:
            await serve_one(reader, writer)
        finally:
            del serving[task]
            # Counted in a finally: a handler that ends in any way at all has finished, or
            # serve_upper would wait for it forever.
            finished += 1
            if finished == clients:
                all_done.set()

    # sock=listener: serve the caller's socket. From here on asyncio's server owns it, and
    # server.close() closes it. limit=max_line: readline() takes at most max_line bytes
    # before the "\n", and raises ValueError for a longer line.
    server = await asyncio.start_server(handle, sock=listener, limit=max_line)
    try:
        await enough.wait()
        server.close()  # stop accepting: exactly `clients` connections are served
        # Wait for the handlers ourselves. Server.wait_closed() is no way to do it: up to
        # 3.11 it returns at once without waiting for any connection; from 3.12 on it waits
        # for them all.
        await all_done.wait()
    finally:
        server.close()  # on every path, a cancellation too: the listener ends closed
        # Cancelled before every client was served: end the connections still open, and
        # wait for their handlers, which then see EOF and finish as usual. (Aborting the
        # transports, not cancelling the tasks: on 3.11 a handler task of start_server's
        # that ends cancelled makes asyncio log an error of its own.)
        if serving:
            for writer in serving.values():
                writer.transport.abort()
            await asyncio.wait(list(serving))
