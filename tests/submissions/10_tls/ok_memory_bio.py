"""Correct, with ssl.MemoryBIO and SSLObject: TLS is only a state machine here, and every byte goes through a plain socket the code reads and writes itself. tls_request feeds what recv() returns into the incoming BIO and sends whatever the outgoing BIO holds, with a deadline of its own for the handshake and settimeout(timeout) for every read; recv() returning b"" becomes incoming.write_eof(), so the SSLObject itself reports a close with or without close_notify. serve_tls does the same on each accepted connection, one after another.

Should pass: every check.
"""

import socket
import ssl
import time

MAX_LINE = 65536
CHUNK = 65536


def client_context(cafile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile=cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def server_context(certfile, keyfile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certfile, keyfile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class Channel:
    """An SSLObject and the plain socket that carries its records."""

    def __init__(self, sock, ctx, **wrap):
        self.sock = sock
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = ctx.wrap_bio(self.incoming, self.outgoing, **wrap)

    def flush(self):
        data = self.outgoing.read()
        if data:
            self.sock.sendall(data)

    def fill(self, timeout):
        self.sock.settimeout(max(timeout, 0.001))
        data = self.sock.recv(CHUNK)
        if data:
            self.incoming.write(data)
        else:
            self.incoming.write_eof()

    def handshake(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("the TLS handshake timed out") from None
                self.fill(left)
            except ssl.SSLError:
                self.flush_quietly()  # the alert we made (e.g. unknown CA) goes to the peer
                raise
        self.flush()

    def flush_quietly(self):
        try:
            self.flush()
        except OSError:
            pass

    def write(self, data):
        view = memoryview(data)
        while view:
            n = self.tls.write(view)
            view = view[n:]
            self.flush()

    def read(self, timeout):
        """Some plaintext; b"" after close_notify; ssl.SSLEOFError after a bare TCP close."""
        while True:
            try:
                return self.tls.read(CHUNK)
            except ssl.SSLWantReadError:
                self.flush()  # e.g. after a key update
                self.fill(timeout)
            except ssl.SSLZeroReturnError:
                return b""


def tls_request(host, port, line, cafile, server_hostname=None, timeout=5.0):
    ctx = client_context(cafile)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        chan = Channel(sock, ctx, server_hostname=server_hostname or host)
        try:
            chan.handshake(timeout)
        except (ssl.SSLError, TimeoutError):
            raise
        except OSError as exc:
            raise ssl.SSLError(f"the handshake failed: {exc}") from exc
        chan.write(line.encode("utf-8") + b"\n")
        buffer = b""
        while b"\n" not in buffer:
            try:
                data = chan.read(timeout)
            except ssl.SSLEOFError as exc:
                raise EOFError("the server closed (no close_notify) before a whole line") from exc
            if not data:
                raise EOFError("the server closed (close_notify) before a whole line")
            buffer += data
    return buffer[: buffer.index(b"\n")].decode("utf-8")


def _answer(chan, timeout):
    buffer = b""
    while True:
        try:
            data = chan.read(timeout)
        except ssl.SSLEOFError:
            data = b""
        if not data:
            if buffer:
                if len(buffer) > MAX_LINE:
                    return
                chan.write(buffer.decode("utf-8").upper().encode("utf-8") + b"\n")
            return
        buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            if len(line) > MAX_LINE:
                return
            chan.write(line.decode("utf-8").upper().encode("utf-8") + b"\n")
        if len(buffer) > MAX_LINE:
            return


def serve_tls(listener, certfile, keyfile, clients, timeout=2.0):
    ctx = server_context(certfile, keyfile)
    for _ in range(clients):
        sock, _address = listener.accept()
        with sock:
            try:
                chan = Channel(sock, ctx, server_side=True)
                chan.handshake(timeout)
                _answer(chan, timeout)
            except (OSError, ValueError):
                pass
