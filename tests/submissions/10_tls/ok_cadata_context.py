"""Correct, with hand-built contexts and an explicit handshake: client_context is SSLContext(PROTOCOL_TLS_CLIENT) fed the CA file's text through load_verify_locations(cadata=...), server_context is SSLContext(PROTOCOL_TLS_SERVER); both sockets are wrapped with do_handshake_on_connect=False inside a `with`, so that do_handshake() runs (and fails) while the SSLSocket is already in the block that closes it. tls_request connects through its own getaddrinfo loop with settimeout before connect(); serve_tls reads lines with makefile("rb").readline(limit).

Should pass: every check.
"""

import socket
import ssl

MAX_LINE = 65536
TLS_1_2 = ssl.TLSVersion.TLSv1_2


def client_context(cafile):
    with open(cafile, encoding="ascii") as f:
        pem = f.read()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname by default
    ctx.minimum_version = TLS_1_2
    ctx.load_verify_locations(cadata=pem)
    return ctx


def server_context(certfile, keyfile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # verify_mode CERT_NONE: no client certificate
    ctx.minimum_version = TLS_1_2
    ctx.load_cert_chain(certfile=certfile, keyfile=keyfile)
    return ctx


def _connect(host, port, timeout):
    last = None
    for family, kind, proto, _name, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise last


def _handshake(tls):
    try:
        tls.do_handshake()
    except ssl.SSLError:
        raise  # SSLCertVerificationError included
    except TimeoutError:
        raise
    except OSError as exc:  # e.g. ConnectionResetError: the handshake failed all the same
        raise ssl.SSLError(f"handshake failed: {exc!r}") from exc


def _read_line(tls):
    buffer = bytearray()
    while True:
        newline = buffer.find(b"\n")
        if newline >= 0:
            return bytes(buffer[:newline])
        try:
            chunk = tls.recv(16384)
        except ssl.SSLEOFError as exc:
            raise EOFError(f"TCP closed after {len(buffer)} bytes of the reply") from exc
        if chunk == b"":
            raise EOFError(f"close_notify after {len(buffer)} bytes of the reply")
        buffer += chunk


def tls_request(host, port, line, cafile, server_hostname=None, timeout=5.0):
    ctx = client_context(cafile)
    name = server_hostname if server_hostname else host
    sock = _connect(host, port, timeout)
    try:
        with ctx.wrap_socket(sock, server_hostname=name, do_handshake_on_connect=False) as tls:
            _handshake(tls)  # bounded by the timeout the socket already has
            tls.sendall(line.encode("utf-8") + b"\n")
            reply = _read_line(tls)
    finally:
        sock.close()  # detached by wrap_socket (a no-op then), but closed if wrap_socket itself failed
    return reply.decode("utf-8")


def _serve_one(tls, max_line):
    reader = tls.makefile("rb")
    try:
        while True:
            raw = reader.readline(max_line + 2)
            if not raw:
                return
            if raw.endswith(b"\n"):
                raw = raw[:-1]
            elif len(raw) > max_line:
                return  # over-long, and still no newline
            if len(raw) > max_line:
                return
            tls.sendall(raw.decode("utf-8").upper().encode("utf-8") + b"\n")
    finally:
        reader.close()


def serve_tls(listener, certfile, keyfile, clients, timeout=2.0):
    ctx = server_context(certfile, keyfile)
    served = 0
    while served < clients:
        conn, _peer = listener.accept()
        served += 1
        try:
            conn.settimeout(timeout)
            with ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False) as tls:
                tls.do_handshake()
                _serve_one(tls, MAX_LINE)
        except (OSError, ValueError):
            continue  # handshake failed or stalled, reset, idle, bad UTF-8, too long
        finally:
            conn.close()
