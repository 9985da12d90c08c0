"""Bug: request strips the newline off everything it has read instead of cutting at the first one, so whatever the server sent right behind the reply line (in the same recv) comes back too.

Should fail: a server that sends its reply line and another line glued behind it, in one segment, gets both back from request, the second one after an embedded "\n". (Read byte by byte, the bug hides: the buffer then ends at the newline.)
Caught by: request_returns_the_reply_line
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
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, got {attempts}")
    # Resolve once, outside the retry loop: a name that does not resolve is a mistake
    # (a typo, a wrong config), and no amount of waiting will fix it. gaierror is an
    # OSError but not a retryable one, so it simply propagates from here.
    addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)

    for attempt in range(attempts):
        last_error: OSError | None = None
        # One attempt tries every address the name resolved to ("localhost" may give
        # both ::1 and 127.0.0.1), like stage 03's connect().
        for family, kind, proto, _canonname, address in addresses:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(timeout)
                sock.connect(address)
                return sock
            except OSError as exc:
                # A failed attempt's socket is a file descriptor: close it now, or a
                # retry loop leaks one descriptor per attempt.
                sock.close()
                last_error = exc
        assert last_error is not None  # getaddrinfo never returns an empty list

        if not isinstance(last_error, RETRYABLE_ERRORS):
            raise last_error  # e.g. "network unreachable": waiting will not help
        if attempt == attempts - 1:
            # Out of attempts: the caller must learn *why* it failed, so raise the
            # real error rather than returning None or a vaguer exception.
            raise last_error
        # Exponential backoff: 1x, 2x, 4x, 8x ... base_delay. A server that is
        # restarting gets time to come up, and we do not hammer it while it does.
        time.sleep(base_delay * 2**attempt)
    raise AssertionError("unreachable: the last attempt returns or raises")


def request(host: str, port: int, line: str, timeout: float = 2.0) -> str:
    """Send `line` + "\\n" (UTF-8) to (host, port) and return the one reply line, without "\\n".

    `timeout` bounds the connect and every read: a server that accepts but never answers
    raises TimeoutError after about `timeout` seconds. A reset connection raises a
    ConnectionError; a server that closes before sending a whole line raises EOFError.
    The socket is closed on every path, error paths included.
    """
    # create_connection applies `timeout` to the connect *and* leaves it set on the
    # socket, so every recv below raises TimeoutError instead of hanging forever on a
    # server that went silent. `with` closes the socket however we leave this block.
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall((line + "\n").encode("utf-8"))

        # TCP is a byte stream: the reply may arrive one byte at a time, so keep
        # reading until the newline shows up. Resets (ConnectionResetError) and
        # timeouts (TimeoutError) propagate unchanged: they already say what happened.
        buffer = b""
        while b"\n" not in buffer:
            chunk = sock.recv(4096)
            if not chunk:
                # b"" is an orderly close (FIN). Before a whole line it is a failure,
                # not an empty answer: returning "" would hide it from the caller.
                raise EOFError(f"server closed after {len(buffer)} bytes, before a full reply line")
            buffer += chunk

    return buffer.decode("utf-8").rstrip("\n")


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
    for _ in range(clients):
        conn, _address = listener.accept()
        # `with` closes the connection on every path, so a client we drop sees EOF
        # (or a reset) at once, not when the server gets round to the next client.
        with conn:
            # The idle timeout lives on the *connection*: each recv/sendall now waits
            # at most idle_timeout, so a client that goes silent cannot keep the
            # next client waiting forever.
            conn.settimeout(idle_timeout)
            try:
                buffer = b""
                while True:
                    chunk = conn.recv(4096)
                    at_eof = not chunk
                    if at_eof and buffer:
                        chunk = b"\n"  # the client is done: answer its unterminated last line
                    buffer += chunk
                    # TCP keeps no line boundaries: one chunk may hold several lines, or
                    # part of one. Answer every complete line; keep the unfinished rest.
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if len(line) > max_line:
                            raise ValueError(f"line longer than {max_line} bytes")
                        text = line.decode("utf-8")  # UnicodeDecodeError on invalid UTF-8
                        conn.sendall((text.upper() + "\n").encode("utf-8"))
                    # Bound what a client can make us hold: without this check a client
                    # that never sends "\n" grows `buffer` until memory runs out.
                    if len(buffer) > max_line:
                        raise ValueError(f"line longer than {max_line} bytes")
                    if at_eof:
                        break
            except (OSError, ValueError):
                # OSError: reset, broken pipe, idle timeout (TimeoutError is an OSError).
                # ValueError: over-long line, or invalid UTF-8 (UnicodeDecodeError is a
                # ValueError). Either way it is this client's problem, not the server's:
                # drop the client (the `with` closes it) and serve the next one.
                # Anything else is a bug in the server and should crash loudly.
                pass
