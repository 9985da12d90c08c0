"""Bug: serve_tls drives each connection non-blocking with select(), and reads one byte per readable event ("never read past a line"); it asks select() before every recv, but never tls.pending(): once OpenSSL has taken a whole record off the socket, the bytes it holds decrypted are invisible to select(), which reports nothing more until the client sends again.

Should fail: "a\nb\nc\n" sent in one TLS record, then the client waits: nothing is answered (select sleeps until the idle timeout while the rest of the record waits in OpenSSL) and the client is dropped.
Caught by: serve_tls_answers_lines_sent_in_one_record
"""

import select
import socket
import ssl
import time

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


def _wait(tls: ssl.SSLSocket, for_writing: bool, deadline: float) -> None:
    left = deadline - time.monotonic()
    ready = select.select([] if for_writing else [tls], [tls] if for_writing else [], [], max(left, 0))
    if not ready[0] and not ready[1]:
        raise TimeoutError("idle")


def _send_all(tls: ssl.SSLSocket, data: bytes, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while data:
        try:
            data = data[tls.send(data):]
        except ssl.SSLWantWriteError:
            _wait(tls, True, deadline)
        except ssl.SSLWantReadError:
            _wait(tls, False, deadline)


def _serve_lines(tls: ssl.SSLSocket, timeout: float, max_line: int = MAX_LINE) -> None:
    buffer = b""
    while True:
        deadline = time.monotonic() + timeout
        while True:
            _wait(tls, False, deadline)  # wait until the client has sent something
            try:
                chunk = tls.recv(1)  # one byte at a time: never more than the line being read
                break
            except ssl.SSLWantReadError:
                continue  # only part of a record so far
            except ssl.SSLEOFError:
                chunk = b""  # closed without close_notify: the end of its input all the same
                break
        at_eof = not chunk
        if at_eof and buffer:
            chunk = b"\n"  # answer an unterminated last line too
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if len(line) > max_line:
                raise ValueError(f"line longer than {max_line} bytes")
            _send_all(tls, (line.decode("utf-8").upper() + "\n").encode("utf-8"), timeout)
        if len(buffer) > max_line:
            raise ValueError(f"line longer than {max_line} bytes")
        if at_eof:
            return


def serve_tls(listener: socket.socket, certfile: str, keyfile: str, clients: int, timeout: float = 2.0) -> None:
    ctx = server_context(certfile, keyfile)
    for _ in range(clients):
        conn, _address = listener.accept()
        with conn:
            conn.settimeout(timeout)  # bounds the handshake
            try:
                tls = ctx.wrap_socket(conn, server_side=True)
            except OSError:
                continue  # plain TCP, a reset, our certificate refused, silence: next client
            with tls:
                tls.setblocking(False)  # from here on select() does the waiting
                try:
                    _serve_lines(tls, timeout)
                except (OSError, ValueError):
                    pass  # reset, idle, too long, bad UTF-8: drop this client
