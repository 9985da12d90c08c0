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
import struct  # noqa: F401  (unused in the stub until you write the functions)

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
    raise NotImplementedError("open_connection; a task writes (drain as you go) while you readuntil; wait_for the lot")


async def fetch_frame(host: str, port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    """Send `payload` as one stage-05 frame; return the payload of the frame that comes back.

    `timeout` bounds the whole exchange and raises the builtin TimeoutError, as in
    request_lines. A reply that announces more than MAX_FRAME bytes raises ValueError
    before its body is read; EOF anywhere in the reply frame, header included, raises
    EOFError. The connection is closed on every path, as in request_lines.
    """
    raise NotImplementedError("readexactly(4), check the length against MAX_FRAME, readexactly(n); one deadline")


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
    raise NotImplementedError("start_server(handler, sock=listener); readline under wait_for per line; count finished handlers")
