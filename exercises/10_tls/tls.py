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
    raise NotImplementedError("SSLContext(PROTOCOL_TLS_CLIENT), TLS 1.2 at least, load_verify_locations(cafile)")


def server_context(certfile: str, keyfile: str) -> ssl.SSLContext:
    """A server-side context that presents the chain in `certfile` with the key in `keyfile`.

    `certfile` is a chain, leaf first (then the intermediates); minimum_version is at least
    TLS 1.2; it asks the client for no certificate (verify_mode CERT_NONE).
    """
    raise NotImplementedError("SSLContext(PROTOCOL_TLS_SERVER), TLS 1.2 at least, load_cert_chain(certfile, keyfile)")


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
    raise NotImplementedError("settimeout, then wrap_socket(server_hostname=...) in a try; read until a newline")


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
    raise NotImplementedError("settimeout on each accepted socket, wrap it (server_side=True) in a try; stage 7's loop")
