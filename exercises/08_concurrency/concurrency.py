"""Stage 08 — many clients at once: a line server for all of them together, and a chat room.

Read exercises/08_concurrency/README.md first; `tcplab check 8` checks your work.

- serve_concurrently: stage 07's upper-casing line server, but every client is served at
  once, so one silent or slow client delays no other;
- serve_chat: a chat room in which every line a member sends reaches every other member,
  and a member too slow to read is dropped, never waited for.

Threads or a selector: your choice, for each of the two. Either way, a server whose
clients are all idle uses no CPU.

    chat protocol (UTF-8 lines ending in "\n"; the server never sends a partial line):
      first line    a nickname: 1..32 characters, no whitespace, not taken
      accepted      newcomer: "* welcome <nick>\n"   every other member: "* <nick> joined\n"
      refused       "ERR <reason>\n", then the connection is closed; nobody else hears of it
      later lines   "<text>" from N goes to every other member as "<N>: <text>\n"
      leaving       every remaining member: "* <N> left\n", exactly once
"""

import selectors  # noqa: F401  (unused in the stub until you write the functions)
import socket
import threading  # noqa: F401  (unused in the stub until you write the functions)
import time  # noqa: F401  (unused in the stub until you write the functions)

# The longest nickname, in characters (code points, not bytes): "é" counts as one.
MAX_NICK = 32

# How much one recv of serve_chat asks for. Whatever one recv brings is relayed, and queued
# for every member, before the loop reads again: so this bounds what one sender can add to
# each member's output buffer per turn of the loop. A small read keeps a flood from one
# sender in step with what the kernel takes for each reader per turn; a member that keeps
# reading keeps up, and only one that does not falls behind and is dropped.
RECV_SIZE = 4096

# How long serve_chat goes on sending to a connection it is closing (an ERR line, or the
# rest of a line whose start the kernel already has) before it closes it anyway: ample for
# a client that reads, and a bound on one that does not, which cannot hold the room open.
CLOSE_GRACE = 1.0


def serve_concurrently(
    listener: socket.socket,
    clients: int,
    idle_timeout: float = 2.0,
    max_line: int = 65536,
) -> None:
    """Serve `clients` connections at once, answering each line upper-cased.

    Each connection follows stage 07's serve_lines rules: every line is answered with the
    same line upper-cased plus "\\n" (UTF-8); a last line without "\\n" before the client's
    EOF is answered too; a client that resets, sends invalid UTF-8, sends a line longer than
    `max_line` bytes, or sends nothing for `idle_timeout` seconds is disconnected. One
    client's silence or slowness delays no other. Accepts exactly `clients` connections and
    returns once all of them have ended (a client that half-closed has ended when the server
    has closed it); by then no thread it started is alive and no socket it opened is open.
    Never raises because of a client; does not close `listener`.
    """
    raise NotImplementedError("a thread per client running stage 07's loop, then join every one")


def serve_chat(
    listener: socket.socket,
    clients: int,
    max_pending: int = 1 << 20,
    max_line: int = 4096,
) -> None:
    """Run a chat room for `clients` connections; return once all of them have ended.

    A connection's first line is its nickname: 1..32 characters, none of them whitespace
    (str.isspace), not held by a member in the room now. Accepted: the newcomer gets
    "* welcome <nick>\\n", every other member "* <nick> joined\\n". Refused (so is a first
    line that is not UTF-8 or is longer than `max_line` bytes): "ERR <reason>\\n", then
    close; nobody else hears of it. Every later line `text` from member N goes to every
    *other* member as "<N>: <text>\\n", in the order N sent them. A member leaves on EOF,
    reset, invalid UTF-8, a line over `max_line` bytes, or when more than `max_pending`
    bytes wait for it in the server after the server has offered them to the kernel (too
    slow: no member ever waits on another); its connection is closed and each remaining
    member gets "* <N> left\\n", exactly once. Bytes after a member's last "\\n" are never
    relayed; no partial line is ever sent, except to a member cut off as too slow. Refused
    nicknames count as connections. By the return no thread it started is alive and no
    socket it opened is open; `listener` stays open. An idle room uses no CPU.
    """
    raise NotImplementedError("a buffer in and out per connection; drop a member past max_pending")
