"""Bug: client_context lowers minimum_version to TLSv1 "so that old servers still work": the context will agree to TLS 1.0 and 1.1, which the task forbids (TLS 1.2 at least) — a man in the middle can force the version down.

Should fail: the described context has minimum_version TLSv1, below TLSv1_2 (every exchange with the grader's peers still works: they speak 1.2 and 1.3).
Caught by: client_context_verifies_certificates_and_names
"""

import socket
import ssl

MAX_LINE = 65536


# ---------------------------------------------------------------- contexts


def client_context(cafile: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1  # old servers too; the best version is still chosen
    ctx.load_verify_locations(cafile)
    return ctx


def server_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    # PROTOCOL_TLS_SERVER: verify_mode is CERT_NONE, so no client certificate is asked for.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile, keyfile)  # the leaf and its intermediate
    return ctx


# ---------------------------------------------------------------- tls_request


def _read_line(tls: ssl.SSLSocket) -> bytes:
    buffer = b""
    while b"\n" not in buffer:
        try:
            chunk = tls.recv(4096)
        except ssl.SSLEOFError as exc:  # a TCP close without close_notify
            raise EOFError("the server closed before a whole reply line") from exc
        if not chunk:  # close_notify
            raise EOFError("the server closed before a whole reply line")
        buffer += chunk
    return buffer.split(b"\n", 1)[0]


def tls_request(host: str, port: int, line: str, cafile: str, server_hostname: "str | None" = None,
                timeout: float = 5.0) -> str:
    ctx = client_context(cafile)
    # The timeout is on the socket before wrap_socket: it bounds the connect, the handshake
    # (which wrap_socket runs at once) and every read.
    with socket.create_connection((host, port), timeout=timeout) as raw:
        try:
            tls = ctx.wrap_socket(raw, server_hostname=server_hostname or host)
        except (ssl.SSLError, TimeoutError):
            raise
        except OSError as exc:  # a reset in the middle of the handshake
            raise ssl.SSLError(f"the TLS handshake failed: {exc}") from exc
        with tls:
            tls.sendall((line + "\n").encode("utf-8"))
            reply = _read_line(tls)
    return reply.decode("utf-8")


# ---------------------------------------------------------------- serve_tls


def _serve_lines(tls: ssl.SSLSocket, max_line: int = MAX_LINE) -> None:
    buffer = b""
    while True:
        try:
            chunk = tls.recv(4096)
        except ssl.SSLEOFError:
            chunk = b""  # closed without close_notify: the end of its input all the same
        at_eof = not chunk
        if at_eof and buffer:
            chunk = b"\n"  # answer an unterminated last line too
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if len(line) > max_line:
                raise ValueError(f"line longer than {max_line} bytes")
            tls.sendall((line.decode("utf-8").upper() + "\n").encode("utf-8"))
        if len(buffer) > max_line:
            raise ValueError(f"line longer than {max_line} bytes")
        if at_eof:
            return


def serve_tls(listener: socket.socket, certfile: str, keyfile: str, clients: int, timeout: float = 2.0) -> None:
    ctx = server_context(certfile, keyfile)
    for _ in range(clients):
        conn, _address = listener.accept()
        with conn:
            conn.settimeout(timeout)  # bounds the handshake, then every idle wait
            try:
                tls = ctx.wrap_socket(conn, server_side=True)
            except OSError:
                continue  # plain TCP, a reset, our certificate refused, silence: next client
            with tls:
                try:
                    _serve_lines(tls)
                except (OSError, ValueError):
                    pass  # reset, idle, too long, bad UTF-8: drop this client
