"""Stage 10 — TLS: the same lines over an encrypted, authenticated connection.

Read exercises/10_tls/README.md first; `tcplab check 10` checks your work.

- client_context: a client's TLS settings that verify the server's certificate chain
  against one CA file, and its name;
- server_context: a server's TLS settings that present a certificate chain, leaf first;
- tls_request: one request/reply exchange over TLS whose every failure says what it was;
- serve_tls: stage 7's line server over TLS, that outlives clients whose handshake fails.

    the certificates in the stage's certs/ folder:
      ca.pem             the test root: the one CA a client trusts
      server-chain.pem   a leaf for tcplab.test, 127.0.0.1 and ::1, then its intermediate
      server.key         the leaf's private key
"""

import socket
import ssl

# The longest line serve_tls holds for a client (stage 7's max_line): without a bound, a
# client that never sends "\n" grows our buffer until memory runs out.
MAX_LINE = 65536


def client_context(cafile: str) -> ssl.SSLContext:
    """A client-side context that trusts the CAs in `cafile` and nothing else.

    Loads the CA certificates in `cafile` and no other trust store (no load_default_certs(),
    no set_default_verify_paths()). verify_mode is CERT_REQUIRED, check_hostname is True,
    and minimum_version is at least TLS 1.2.
    """
    # PROTOCOL_TLS_CLIENT: the client side of any version both ends speak, with
    # verify_mode = CERT_REQUIRED and check_hostname = True from the start. A bare
    # SSLContext(PROTOCOL_TLS) (deprecated) would have CERT_NONE and no host check: TLS
    # that encrypts, but to anyone at all.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    # TLS 1.0 and 1.1 are broken and retired (RFC 8996). Python 3.10 and later already
    # start a new context at TLS 1.2; said here anyway, so that the rule lives in our code
    # and not in a default that an older Python, or the system's OpenSSL settings, can lower.
    # No maximum_version: a TLS-1.3-only server must work.
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # The only trust anchors: the CAs in this file. Not create_default_context(): it loads
    # the system's CAs too, and then a certificate from any public CA would pass as ours.
    context.load_verify_locations(cafile=cafile)
    return context


def server_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """A server-side context that presents the chain in `certfile` with the key in `keyfile`.

    `certfile` is a chain, leaf first (then the intermediates); minimum_version is at least
    TLS 1.2; it asks the client for no certificate (verify_mode CERT_NONE).
    """
    # PROTOCOL_TLS_SERVER: the server side. Its verify_mode is CERT_NONE, which on a server
    # means "ask the client for no certificate" (our clients have none), and check_hostname
    # is False: a server has no name to check a client against. A client-purpose context
    # here (create_default_context()) would want a server_hostname, then a client certificate.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # The whole chain file, leaf first: the client holds only the root, so it needs the
    # intermediate from us to build the path leaf -> intermediate -> root.
    context.load_cert_chain(certfile=certfile, keyfile=keyfile)
    return context


def tls_request(
    host: str,
    port: int,
    line: str,
    cafile: str,
    server_hostname: str | None = None,
    timeout: float = 5.0,
) -> str:
    """Send `line` + "\\n" (UTF-8) over TLS to (host, port) and return the reply line, without "\\n".

    Uses client_context(cafile) and checks the certificate against the name
    `server_hostname or host` (sent as SNI when it is a name). `timeout` bounds each of these
    on its own: the connect, the handshake, every read. A certificate that fails verification
    raises ssl.SSLCertVerificationError; any other failure of the handshake but a timeout
    (a peer that closes or resets, or does not speak TLS) raises ssl.SSLError; a silent peer
    raises TimeoutError. After the handshake, a peer that closes before a whole line, with or
    without close_notify, raises EOFError. The socket is closed on every path.
    """
    context = client_context(cafile)
    # The connect: bounded by `timeout`; its errors (refused, a name that does not resolve,
    # TimeoutError) are stage 7's and propagate as they are.
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        # Before the handshake, which wrap_socket runs at once: a timeout set afterwards
        # would come too late, and a silent peer would hold wrap_socket forever.
        # (create_connection already set it; said here so that nobody moves it.)
        raw.settimeout(timeout)
        try:
            # server_hostname does two jobs: it is sent as SNI (so the peer can pick the
            # certificate for that name; an IP address is never sent as SNI) and it is the
            # name the certificate must hold (a DNS SAN, or for an IP address an IP SAN).
            tls = context.wrap_socket(raw, server_hostname=server_hostname or host)
        except (ssl.SSLError, TimeoutError):
            # SSLCertVerificationError (a subclass of SSLError) says what was wrong with the
            # certificate (verify_code, verify_message); any other SSLError says what went
            # wrong in the protocol; TimeoutError is a silent peer. Each is already the
            # right error: never retry without verification, never return "" instead.
            raise
        except OSError as exc:
            # A peer that resets (ConnectionResetError) or breaks the pipe in the middle of
            # the handshake: to our caller it is a failed handshake like any other.
            raise ssl.SSLError(f"TLS handshake with {host}:{port} failed: {exc!r}") from exc
    except BaseException:
        # wrap_socket detaches `raw` into the SSLSocket (and closes that one if the
        # handshake fails), so raw.close() is then a no-op. But wrap_socket can raise
        # before it detaches (a ValueError, say): then only this close frees the descriptor.
        raw.close()
        raise

    with tls:  # from here on the descriptor is the SSLSocket's: close that one
        tls.sendall((line + "\n").encode("utf-8"))
        # TLS keeps no line boundaries either: one recv returns at most one record's
        # plaintext, and a peer may send one byte per record. Read until the newline.
        buffer = b""
        while b"\n" not in buffer:
            try:
                chunk = tls.recv(4096)
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:
                # A bare TCP close, without close_notify, as OpenSSL 3 reports it when the
                # socket does not suppress "ragged EOFs" (suppress_ragged_eofs=False);
                # SSLZeroReturnError is a close_notify reported as an error. Whatever the
                # settings, it is what b"" is below: no whole line will come.
                raise EOFError(f"the server closed after {len(buffer)} bytes, "
                               "without close_notify, before a full reply line") from exc
            if not chunk:
                # b"": a close_notify, or (wrap_socket's default) a bare TCP close. Before
                # the "\n" it is a failure, not an empty answer: "" would hide it.
                raise EOFError(f"the server closed after {len(buffer)} bytes, "
                               "before a full reply line")
            buffer += chunk

    reply, _newline, _rest = buffer.partition(b"\n")
    return reply.decode("utf-8")


def serve_tls(
    listener: socket.socket,
    certfile: str,
    keyfile: str,
    clients: int,
    timeout: float = 2.0,
) -> None:
    """Serve `clients` TLS connections one after another, answering each line upper-cased.

    The handshake runs on each accepted connection (never on `listener`, which is never
    wrapped), bounded by `timeout`. Then stage 7's rules: each line is answered upper-cased
    plus "\\n" (UTF-8), a non-empty unterminated last line before EOF too; a client that
    resets, sends invalid UTF-8, sends a line longer than MAX_LINE (65536) bytes, or is idle
    for `timeout` seconds is disconnected. A client whose handshake fails or stalls (plain
    TCP, rejects our certificate, resets, stays silent) is closed. Each counts as served.
    Never raises because of a client; does not close `listener`, nor change its timeout or
    blocking mode.
    """
    # One context for every connection: the chain and the key are loaded once.
    context = server_context(certfile, keyfile)
    for _ in range(clients):
        # The listener stays a plain socket. Wrapped, its accept() would run each
        # handshake itself, and a plain-TCP client's bytes would raise there: one bad
        # client would end the server.
        conn, _address = listener.accept()
        with conn:  # closed on every path (a no-op once wrap_socket has detached it)
            try:
                # Bound the handshake before it starts: a client that connects and says
                # nothing must not keep the next client waiting forever. The timeout stays
                # on the connection afterwards, as stage 7's idle timeout.
                conn.settimeout(timeout)
                tls = context.wrap_socket(conn, server_side=True)
            except (OSError, ValueError):
                # Plain TCP (WRONG_VERSION_NUMBER), a client that rejected our certificate
                # (an alert), a reset (ConnectionResetError, not an SSLError: catching
                # ssl.SSLError alone is not enough), silence (TimeoutError). This client's
                # problem: it is closed and counted, and the next one is served.
                continue
            with tls:  # wrap_socket moved the descriptor into `tls`: this closes it
                try:
                    buffer = b""
                    while True:
                        try:
                            chunk = tls.recv(4096)
                        except ssl.SSLEOFError:
                            # A bare TCP close, reported as an error (with the defaults it
                            # is b"" instead): an end all the same. An unterminated last
                            # line is still tried, though after a bare close OpenSSL 3
                            # sends nothing more (an SSLError, caught below).
                            chunk = b""
                        at_eof = not chunk
                        if at_eof and buffer:
                            chunk = b"\n"  # the client is done: answer its unterminated last line
                        buffer += chunk
                        # Records are not lines: one may hold several lines (what recv did
                        # not take, OpenSSL keeps, and the next recv returns it), or a piece
                        # of one. Answer every complete line; keep the unfinished rest.
                        *lines, buffer = buffer.split(b"\n")
                        for line in lines:
                            if len(line) > MAX_LINE:
                                raise ValueError(f"line longer than {MAX_LINE} bytes")
                            text = line.decode("utf-8")  # UnicodeDecodeError: a ValueError
                            tls.sendall((text.upper() + "\n").encode("utf-8"))
                        if len(buffer) > MAX_LINE:
                            raise ValueError(f"line longer than {MAX_LINE} bytes")  # no "\n" yet
                        if at_eof:
                            # An orderly end: our own close_notify tells the client that our
                            # replies ended on purpose and were not cut off. After a bare TCP
                            # close OpenSSL refuses at once (an SSLError, caught below).
                            tls.unwrap()
                            break
                except (OSError, ValueError):
                    # Stage 7: a reset, an idle client (TimeoutError), an over-long line or
                    # invalid UTF-8. This client is dropped (the `with` closes it), and the
                    # next one is served. Anything else is a bug in the server: let it crash.
                    pass
