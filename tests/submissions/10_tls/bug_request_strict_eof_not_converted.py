"""Bug: tls_request wraps with suppress_ragged_eofs=False ("a cut-off reply must not look like a clean end"), so a TCP close without close_notify now raises ssl.SSLEOFError from recv(); but the read loop still only turns b"" into EOFError and lets SSLEOFError through, where the task asks for EOFError with or without close_notify.

Should fail: after the handshake the peer sends b"HEL" and closes without close_notify: ssl.SSLEOFError instead of EOFError (with close_notify: EOFError, correctly).
Caught by: tls_request_raises_eof_when_the_peer_closes_early
"""

import socket
import ssl

MAX_LINE = 65536


# ---------------------------------------------------------------- contexts


def client_context(cafile: str) -> ssl.SSLContext:
    # PROTOCOL_TLS_CLIENT: CERT_REQUIRED and check_hostname are already on.
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cafile)  # this CA and no other
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
        chunk = tls.recv(4096)
        if not chunk:  # the server closed
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
            tls = ctx.wrap_socket(raw, server_hostname=server_hostname or host, suppress_ragged_eofs=False)
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
