"""Correct, in the file-object style: request and serve_lines read lines through sock.makefile("rb").readline(limit), which loops over recv for us and bounds the line."""

import socket
import time

RETRYABLE_ERRORS = (ConnectionRefusedError, TimeoutError)

# The longest reply line request() accepts; a longer one is a broken server.
MAX_REPLY = 1024 * 1024


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
    """Send one line, read one reply line through a buffered file object."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        with sock.makefile("rb") as reader:
            sock.sendall((line + "\n").encode("utf-8"))
            # readline() keeps calling recv until b"\n", EOF, or the limit. The socket's
            # timeout still applies to each of those recv calls (TimeoutError), and a
            # reset still surfaces as ConnectionResetError.
            raw = reader.readline(MAX_REPLY + 1)
    if not raw.endswith(b"\n"):
        if len(raw) > MAX_REPLY:
            raise ValueError(f"reply longer than {MAX_REPLY} bytes")
        raise EOFError(f"server closed after {len(raw)} bytes, before a full reply line")
    return raw[:-1].decode("utf-8")


def serve_lines(
    listener: socket.socket,
    clients: int,
    idle_timeout: float = 2.0,
    max_line: int = 65536,
) -> None:
    """Serve clients one after another, answering each line upper-cased."""
    for _ in range(clients):
        conn, _address = listener.accept()
        with conn:
            conn.settimeout(idle_timeout)
            try:
                with conn.makefile("rb") as reader:
                    while True:
                        # At most max_line bytes plus the newline: a longer line comes
                        # back without its b"\n" and max_line + 1 bytes long.
                        raw = reader.readline(max_line + 1)
                        if not raw:
                            break  # EOF
                        if raw.endswith(b"\n"):
                            raw = raw[:-1]
                        elif len(raw) > max_line:
                            raise ValueError(f"line longer than {max_line} bytes")
                        # else: an unterminated last line before EOF; answer it too.
                        reply = raw.decode("utf-8").upper() + "\n"
                        conn.sendall(reply.encode("utf-8"))
            except (OSError, ValueError):
                pass  # reset, idle, over-long or not UTF-8: drop this client, serve the next
