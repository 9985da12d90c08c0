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

import select  # noqa: F401  (unused in the stub until you write the functions)
import socket
import threading  # noqa: F401  (unused in the stub until you write the functions)
import time  # noqa: F401  (unused in the stub until you write the functions)

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
    raise NotImplementedError("check the ints; SO_KEEPALIVE at SOL_SOCKET, TCP_KEEP* at IPPROTO_TCP")


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
    raise NotImplementedError("select until the next PING or PONG deadline; answer PINGs")


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
    raise NotImplementedError("per client: settimeout(deadline - now) before recv; BYE at it")
