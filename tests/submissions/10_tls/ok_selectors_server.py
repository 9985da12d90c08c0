"""Correct, with a non-blocking selectors loop: serve_tls puts each accepted connection in non-blocking mode, wraps it with do_handshake_on_connect=False and drives do_handshake() by hand (SSLWantReadError / SSLWantWriteError say which way to wait) against a deadline of `timeout`; then it reads in small pieces and, before waiting on the selector again, drains tls.pending(): bytes OpenSSL has already decrypted are invisible to select(). The listener itself is only ever accept()ed from, as it was given. tls_request is the plain wrap_socket version.

Should pass: every check.
"""

import selectors
import socket
import ssl
import time

MAX_LINE = 65536
PIECE = 1024  # read in small pieces: whole records wait in OpenSSL, and pending() must be drained


def client_context(cafile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_verify_locations(cafile)
    return ctx


def server_context(certfile, keyfile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certfile, keyfile)
    return ctx


def tls_request(host, port, line, cafile, server_hostname=None, timeout=5.0):
    ctx = client_context(cafile)
    with socket.create_connection((host, port), timeout=timeout) as raw:
        try:
            tls = ctx.wrap_socket(raw, server_hostname=server_hostname or host)
        except ssl.SSLError:
            raise
        except TimeoutError:
            raise
        except OSError as exc:
            raise ssl.SSLError(f"handshake: {exc}") from exc
        with tls:
            tls.sendall(f"{line}\n".encode("utf-8"))
            got = b""
            while b"\n" not in got:
                try:
                    more = tls.recv(4096)
                except ssl.SSLEOFError as exc:
                    raise EOFError("no whole reply line") from exc
                if not more:
                    raise EOFError("no whole reply line")
                got += more
    return got.split(b"\n")[0].decode("utf-8")


class ClientGone(Exception):
    """This client is done with (failed, idle, or finished)."""


def _wait(sel, tls, events, deadline):
    left = deadline - time.monotonic()
    if left <= 0:
        raise ClientGone("timed out")
    sel.modify(tls, events)
    if not sel.select(left):
        raise ClientGone("timed out")


def _handshake(sel, tls, timeout):
    deadline = time.monotonic() + timeout
    while True:
        try:
            tls.do_handshake()
            return
        except ssl.SSLWantReadError:
            _wait(sel, tls, selectors.EVENT_READ, deadline)
        except ssl.SSLWantWriteError:
            _wait(sel, tls, selectors.EVENT_WRITE, deadline)


def _send(sel, tls, data, timeout):
    view = memoryview(data)
    deadline = time.monotonic() + timeout
    while view:
        try:
            view = view[tls.send(view):]
        except (ssl.SSLWantWriteError, BlockingIOError):
            _wait(sel, tls, selectors.EVENT_WRITE, deadline)
        except ssl.SSLWantReadError:
            _wait(sel, tls, selectors.EVENT_READ, deadline)


def _recv(sel, tls, timeout):
    """b"" at the client's end of input; ClientGone when it is idle for `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        if not tls.pending():
            _wait(sel, tls, selectors.EVENT_READ, deadline)
        try:
            return tls.recv(PIECE)
        except ssl.SSLWantReadError:
            continue  # part of a record only: wait for the rest
        except ssl.SSLWantWriteError:
            _wait(sel, tls, selectors.EVENT_WRITE, deadline)
        except ssl.SSLEOFError:
            return b""


def _conversation(sel, tls, timeout):
    buffer = b""
    while True:
        data = _recv(sel, tls, timeout)
        at_eof = data == b""
        buffer += b"\n" if at_eof and buffer else data
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            if len(line) > MAX_LINE:
                raise ClientGone("line too long")
            _send(sel, tls, line.decode("utf-8").upper().encode("utf-8") + b"\n", timeout)
        if len(buffer) > MAX_LINE:
            raise ClientGone("line too long")
        if at_eof:
            return


def serve_tls(listener, certfile, keyfile, clients, timeout=2.0):
    ctx = server_context(certfile, keyfile)
    for _ in range(clients):
        conn, _address = listener.accept()
        conn.setblocking(False)
        with selectors.DefaultSelector() as sel:
            try:
                tls = ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
            except (OSError, ValueError):
                conn.close()
                continue
            with tls:
                sel.register(tls, selectors.EVENT_READ)
                try:
                    _handshake(sel, tls, timeout)
                    _conversation(sel, tls, timeout)
                except (ClientGone, OSError, ValueError):
                    pass
                sel.unregister(tls)
