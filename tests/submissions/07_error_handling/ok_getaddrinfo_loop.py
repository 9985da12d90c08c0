"""Correct, in the style of the CPython socket HOWTO's client: getaddrinfo and a loop over its
addresses (no create_connection), a retry loop that keeps the last error and sleeps only when
another attempt follows, and a server that reads lines through one bytearray per client.
"""

import socket
import time

RETRYABLE = (ConnectionRefusedError, TimeoutError)


def _connect_once(host: str, port: int, timeout: float) -> socket.socket:
    error: OSError | None = None
    for family, kind, proto, _name, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        return sock
    raise error if error else OSError(f"no address for {host!r}")


def connect_with_retry(host: str, port: int, attempts: int = 5, base_delay: float = 0.05,
                       timeout: float = 2.0) -> socket.socket:
    i = 0
    while True:
        try:
            return _connect_once(host, port, timeout)
        except RETRYABLE:
            if i + 1 >= attempts:
                raise
        time.sleep(base_delay * 2**i)
        i += 1


def request(host: str, port: int, line: str, timeout: float = 2.0) -> str:
    sock = _connect_once(host, port, timeout)
    try:
        sock.sendall(line.encode("utf-8") + b"\n")
        data = bytearray()
        while (end := data.find(b"\n")) < 0:
            chunk = sock.recv(1024)
            if chunk == b"":
                raise EOFError("connection closed before a whole reply line")
            data.extend(chunk)
        return data[:end].decode("utf-8")
    finally:
        sock.close()


def serve_lines(listener: socket.socket, clients: int, idle_timeout: float = 2.0, max_line: int = 65536) -> None:
    served = 0
    while served < clients:
        conn, _ = listener.accept()
        served += 1
        conn.settimeout(idle_timeout)
        pending = bytearray()
        try:
            while True:
                chunk = conn.recv(8192)
                if chunk:
                    pending.extend(chunk)
                elif pending:
                    pending.extend(b"\n")  # EOF after an unterminated last line: answer it
                while (end := pending.find(b"\n")) >= 0:
                    if end > max_line:
                        raise ValueError("line too long")
                    conn.sendall(pending[:end].decode("utf-8").upper().encode("utf-8") + b"\n")
                    del pending[: end + 1]
                if len(pending) > max_line:
                    raise ValueError("line too long")
                if not chunk:
                    break
        except (OSError, UnicodeDecodeError, ValueError):
            pass
        finally:
            conn.close()
