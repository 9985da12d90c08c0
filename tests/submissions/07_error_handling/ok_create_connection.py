"""Correct, in the create_connection style: each attempt is one socket.create_connection call, which resolves the name, tries every address and closes the sockets that failed."""

import socket
import time


def connect_with_retry(
    host: str,
    port: int,
    attempts: int = 5,
    base_delay: float = 0.05,
    timeout: float = 2.0,
) -> socket.socket:
    """Connect to (host, port), retrying on refused or timed-out connects with backoff."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")
    for attempt in range(attempts):
        try:
            # create_connection raises socket.gaierror before any connect when the
            # name does not resolve; it is not caught below, so it escapes at once.
            return socket.create_connection((host, port), timeout=timeout)
        except (ConnectionRefusedError, TimeoutError):
            if attempt == attempts - 1:
                raise  # the last attempt's own error
            time.sleep(base_delay * 2**attempt)
    raise AssertionError("unreachable")


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

    reply, _newline, _rest = buffer.partition(b"\n")
    return reply.decode("utf-8")


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
