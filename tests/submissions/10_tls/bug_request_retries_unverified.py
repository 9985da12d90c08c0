"""Bug: tls_request falls back to an unverified connection when verification fails: on SSLCertVerificationError it connects again with ssl._create_unverified_context() "so that the request still gets through". A man in the middle only has to present any certificate at all.

Should fail: a leaf from another CA (or expired, self-signed, wrong name) does not raise SSLCertVerificationError: the retry connects a second time, and returns that server's reply or fails with another error class (the grader's peer accepts only one connection).
Caught by: tls_request_refuses_an_unknown_ca, tls_request_refuses_bad_certificates
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
        try:
            chunk = tls.recv(4096)
        except ssl.SSLEOFError as exc:  # a TCP close without close_notify
            raise EOFError("the server closed before a whole reply line") from exc
        if not chunk:  # close_notify
            raise EOFError("the server closed before a whole reply line")
        buffer += chunk
    return buffer.split(b"\n", 1)[0]


def _exchange(ctx: ssl.SSLContext, host: str, port: int, line: str, name: str, timeout: float) -> str:
    with socket.create_connection((host, port), timeout=timeout) as raw:
        try:
            tls = ctx.wrap_socket(raw, server_hostname=name)
        except (ssl.SSLError, TimeoutError):
            raise
        except OSError as exc:  # a reset in the middle of the handshake
            raise ssl.SSLError(f"the TLS handshake failed: {exc}") from exc
        with tls:
            tls.sendall((line + "\n").encode("utf-8"))
            reply = _read_line(tls)
    return reply.decode("utf-8")


def tls_request(host: str, port: int, line: str, cafile: str, server_hostname: "str | None" = None,
                timeout: float = 5.0) -> str:
    ctx = client_context(cafile)
    name = server_hostname or host
    try:
        return _exchange(ctx, host, port, line, name, timeout)
    except ssl.SSLCertVerificationError:
        # Some servers have a certificate we cannot verify: still get the answer.
        fallback = ssl._create_unverified_context()
        return _exchange(fallback, host, port, line, name, timeout)


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
