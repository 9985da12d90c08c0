"""Correct, with ssl.create_default_context: client_context is create_default_context(cafile=cafile) (which loads only that file when a cafile is given) with minimum_version set to TLS 1.2; server_context is create_default_context(Purpose.CLIENT_AUTH) with the chain loaded; tls_request wraps a create_connection socket (the timeout is already on it, so the handshake inside wrap_socket is bounded) and serve_tls wraps each accepted connection after settimeout(timeout), one client after another.

Should pass: every check.
"""

import socket
import ssl

MAX_LINE = 65536


def client_context(cafile):
    # With a cafile, create_default_context loads that file and nothing else: no system store.
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def server_context(certfile, keyfile):
    # Purpose.CLIENT_AUTH: a context for the server side, which asks the client for nothing.
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile, keyfile)
    return ctx


def tls_request(host, port, line, cafile, server_hostname=None, timeout=5.0):
    ctx = client_context(cafile)
    with socket.create_connection((host, port), timeout=timeout) as raw:
        try:
            tls = ctx.wrap_socket(raw, server_hostname=server_hostname or host)
        except (ssl.SSLError, TimeoutError):
            raise  # a bad certificate, a protocol error, or a silent peer: as they are
        except OSError as exc:  # a reset during the handshake
            raise ssl.SSLError(f"TLS handshake failed: {exc}") from exc
        with tls:
            tls.sendall((line + "\n").encode("utf-8"))
            buffer = b""
            while b"\n" not in buffer:
                try:
                    chunk = tls.recv(4096)
                except ssl.SSLEOFError as exc:  # the peer closed without close_notify
                    raise EOFError("the server closed before a whole reply line") from exc
                if not chunk:  # close_notify
                    raise EOFError("the server closed before a whole reply line")
                buffer += chunk
    return buffer.split(b"\n", 1)[0].decode("utf-8")


def _converse(tls):
    buffer = b""
    while True:
        try:
            chunk = tls.recv(4096)
        except ssl.SSLEOFError:
            chunk = b""  # closed without close_notify: still an end of input
        at_eof = not chunk
        if at_eof and buffer:
            chunk = b"\n"
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if len(line) > MAX_LINE:
                raise ValueError("line too long")
            tls.sendall((line.decode("utf-8").upper() + "\n").encode("utf-8"))
        if len(buffer) > MAX_LINE:
            raise ValueError("line too long")
        if at_eof:
            return


def serve_tls(listener, certfile, keyfile, clients, timeout=2.0):
    ctx = server_context(certfile, keyfile)
    for _ in range(clients):
        conn, _address = listener.accept()
        with conn:
            conn.settimeout(timeout)  # before the handshake: it bounds it too
            try:
                with ctx.wrap_socket(conn, server_side=True) as tls:
                    _converse(tls)
            except (OSError, ValueError):
                pass  # this client failed (handshake, reset, idle, bad line): next one
