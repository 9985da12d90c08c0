"""Stage 07 — handle errors: retry with backoff, time out, and survive bad clients.

Read exercises/07_error_handling/README.md first; `tcplab check 7` checks your work.

- connect_with_retry: a client that waits for a server that is not up yet, with
  exponential backoff, and gives up with the real error;
- request: one request/reply exchange that can never hang and always closes its socket;
- serve_lines: a server that outlives clients that reset, stall, or send garbage.
"""

import socket
import time  # noqa: F401  (unused in the stub until you write the functions)

# Errors that waiting can fix: nobody listening *yet*, or no answer *yet*.
# Everything else (a misspelt host name, a bad port, no route) is raised at once.
RETRYABLE_ERRORS = (ConnectionRefusedError, TimeoutError)


def connect_with_retry(
    host: str,
    port: int,
    attempts: int = 5,
    base_delay: float = 0.05,
    timeout: float = 2.0,
) -> socket.socket:
    """Connect to (host, port), retrying while the server is refusing or not answering.

    Makes at most `attempts` attempts. After failed attempt i (counting from 0) it sleeps
    base_delay * 2**i seconds, except after the last attempt, which re-raises its own
    error. Only ConnectionRefusedError and TimeoutError are retried; any other error
    (for example socket.gaierror for a host name that does not resolve) is raised at once.
    `timeout` bounds each connect and stays set on the returned socket. The socket of
    every failed attempt is closed.
    """
    raise NotImplementedError("retry on refused/timeout, sleep base_delay * 2**i, re-raise last")


def request(host: str, port: int, line: str, timeout: float = 2.0) -> str:
    """Send `line` + "\\n" (UTF-8) to (host, port) and return the one reply line, without "\\n".

    `timeout` bounds the connect and every read: a server that accepts but never answers
    raises TimeoutError after about `timeout` seconds. A reset connection raises a
    ConnectionError; a server that closes before sending a whole line raises EOFError.
    The socket is closed on every path, error paths included.
    """
    raise NotImplementedError("connect with a timeout, send, recv until b'\\n' (EOFError on b'')")


def serve_lines(
    listener: socket.socket,
    clients: int,
    idle_timeout: float = 2.0,
    max_line: int = 65536,
) -> None:
    """Serve `clients` connections one after another, answering each line upper-cased.

    For every line a client sends, reply with the same line upper-cased plus "\\n"
    (UTF-8); a last line without "\\n" before the client's EOF is answered too. A client
    that resets, sends invalid UTF-8, sends a line longer than `max_line` bytes, or sends
    nothing for `idle_timeout` seconds is disconnected and counts as served; the server
    goes on with the next one and never raises because of a client. Returns after the
    `clients`-th connection; does not close `listener`.
    """
    raise NotImplementedError("per client: settimeout, answer lines upper-cased, drop bad clients")
