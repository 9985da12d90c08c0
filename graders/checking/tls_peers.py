"""The TLS peers of stage 10: servers that tls_request() talks to, clients that serve_tls() serves.

Rule: every peer's behaviour is data. A `Serving` says what a TLS server peer does with the one
connection it accepts (which certificate it shows, whether it speaks TLS at all, how it cuts its
reply into records, how it closes); the clients are functions, one per kind of client a server
meets (a good one, a plain-TCP one, one that resets mid-handshake, one that rejects the
certificate, a silent one). All of them use the standard library's ssl and the certificates in
graders/checking/certs/ (made once by make_certs.py there), and say in the transcript what
happened on their side: the SNI they were sent, the alert their handshake ended with.

Why one byte per record: socket-level fault injection cannot reach an SSLSocket (its recv and
send are C code), so a short read of TLS is made the way TLS makes one: SSLSocket.recv returns
at most one record, and a peer that sends one byte per record gives one byte per recv.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from graders.checking.peers import loopback
from graders.checking.transcript import Transcript

CERTS = Path(__file__).resolve().parent / "certs"
CA = str(CERTS / "ca.pem")
OTHER_CA = str(CERTS / "other-ca.pem")
# The name the stage's good leaf carries besides 127.0.0.1 and ::1.
HOSTNAME = "tcplab.test"
# Why 10 s: a peer's own bound on any one step, far above what loopback needs; a check's own
# deadline ends it sooner.
PEER_TIMEOUT = 10.0


def cert(name: str) -> str:
    return str(CERTS / name)


def server_context(chain: str = "server-chain.pem", key: str = "server.key", *,
                   minimum: ssl.TLSVersion | None = None, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert(chain), cert(key))
    if minimum is not None:
        ctx.minimum_version = minimum
    if maximum is not None:
        ctx.maximum_version = maximum
    return ctx


def client_context(cafile: str = CA) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    return ctx


@dataclass(frozen=True)
class Serving:
    """What a TLS server peer does with its one connection."""

    chain: str = "server-chain.pem"
    key: str = "server.key"
    # "tls": a handshake; "silent": accepts and never says a word; "plain": answers the
    # ClientHello with `reply` in plain text; "close": reads the ClientHello, then closes (FIN);
    # "reset": reads the ClientHello, then resets the connection (RST).
    handshake: str = "tls"
    reply: bytes | None = None  # None: the line received, upper-cased
    record_size: int = 0  # 0: the reply in one record; n: n bytes per record
    close_notify: bool = True  # close with a TLS close_notify (unwrap) or a bare TCP close
    minimum: ssl.TLSVersion | None = None
    maximum: ssl.TLSVersion | None = None


class TlsServer:
    """A TLS server peer on a listener of its own: accepts one connection and serves it by `Serving`."""

    def __init__(self, transcript: Transcript, stop: threading.Event, serving: Serving,
                 family: socket.AddressFamily = socket.AF_INET, name: str = "tls server") -> None:
        self.serving, self.name, self.transcript, self._stop = serving, name, transcript, stop
        self.listener = socket.socket(family, socket.SOCK_STREAM)
        self.listener.bind((loopback(family), 0))
        self.listener.listen(4)
        self.address = self.listener.getsockname()[:2]
        self.sni: str | None = None  # the server name the client sent, if any
        self.handshake_error = ""  # how the peer's handshake ended, when it failed
        self.received = b""
        self.version = ""
        self._conn: socket.socket | None = None
        self._ctx: ssl.SSLContext | None = None
        if serving.handshake == "tls":
            self._ctx = server_context(serving.chain, serving.key, minimum=serving.minimum, maximum=serving.maximum)
            self._ctx.sni_callback = self._on_sni
        self._thread = threading.Thread(target=self._run, name=f"peer {name}", daemon=True)
        self._thread.start()
        what = {"tls": f"showing {serving.chain}", "silent": "that never speaks",
                "plain": "that speaks no TLS", "close": "that closes during the handshake",
                "reset": "that resets during the handshake"}[serving.handshake]
        self.log(f"listening on port {self.address[1]}, {what}")

    @property
    def port(self) -> int:
        return self.address[1]

    def log(self, what: str, data: bytes | None = None) -> None:
        self.transcript.add(self.name, what, data)

    def wait(self, timeout: float = PEER_TIMEOUT) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def shutdown(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            if self._conn is not None:
                self._conn.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):  # close() alone does not wake a thread in accept() on Linux
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self._thread.join(5.0)
        if self._conn is not None:
            self._conn.close()

    def _on_sni(self, _sslobj: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        self.sni = name

    def _run(self) -> None:
        serving = self.serving
        try:
            self.listener.settimeout(PEER_TIMEOUT)
            conn, _ = self.listener.accept()
        except OSError:
            return
        self._conn = conn
        conn.settimeout(PEER_TIMEOUT)
        self.log("accepted a connection")
        try:
            if serving.handshake == "silent":
                self._stop.wait(PEER_TIMEOUT)
                return
            if serving.handshake in ("plain", "close", "reset"):
                hello = conn.recv(65536)
                self.log("received (a TLS ClientHello)" if hello[:1] == b"\x16" else "received", hello[:16])
                if serving.handshake == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    conn.close()
                    self._conn = None
                    self.log("reset the connection (RST)")
                    return
                if serving.handshake == "plain":
                    conn.sendall(serving.reply or b"hello\n")
                    self.log("sent in plain text", serving.reply or b"hello\n")
                conn.shutdown(socket.SHUT_WR)
                self.log("closed (FIN)")
                self._stop.wait(PEER_TIMEOUT)
                return
            self._serve_tls(conn)
        except OSError as exc:
            if not self._stop.is_set():
                self.log(f"connection error: {type(exc).__name__}: {exc}")

    def _serve_tls(self, conn: socket.socket) -> None:
        serving = self.serving
        assert self._ctx is not None
        try:
            tls = self._ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            self.handshake_error = getattr(exc, "reason", None) or str(exc)
            self.log(f"handshake failed on the peer's side: {self.handshake_error}")
            return
        self._conn = tls
        self.version = tls.version() or ""
        self.log(f"handshake done ({self.version}" + (f", SNI {self.sni!r})" if self.sni else ", no SNI)"))
        line = b""
        try:
            while not line.endswith(b"\n"):
                data = tls.recv(65536)
                if not data:
                    break
                line += data
        except (ssl.SSLError, OSError) as exc:
            self.handshake_error = getattr(exc, "reason", None) or str(exc)
            self.log(f"read failed on the peer's side: {self.handshake_error}")
            return
        self.received = line
        self.log("received", line)
        reply = serving.reply if serving.reply is not None else line.upper()
        step = serving.record_size or len(reply) or 1
        for i in range(0, len(reply), step):
            tls.sendall(reply[i:i + step])
        self.log("sent" + (f" ({step} byte(s) per TLS record)" if serving.record_size else ""), reply)
        if serving.close_notify:
            with contextlib.suppress(ssl.SSLError, OSError):
                tls.settimeout(1.0)
                self._conn = tls.unwrap()
            self.log("closed with close_notify")
        else:
            self.log("closed without close_notify (a bare TCP close)")
        with contextlib.suppress(OSError):
            self._conn.shutdown(socket.SHUT_RDWR)


# -- clients of serve_tls ---------------------------------------------------------------------
@dataclass
class Exchange:
    """What a good client got from a TLS server: its replies, or how its handshake or reading failed."""

    replies: list[bytes]
    error: str = ""  # "" when every line was answered (and, asked to wait for it, the server closed)
    verify_code: int | None = None  # the client's verification failure, if that is what it was
    version: str = ""
    ended: str = ""  # how the connection ended on the client's side: "eof", "reset", "timeout" or ""
    ended_after: float = 0.0  # seconds from the handshake to that end


def tls_exchange(address: tuple, lines: list[bytes], transcript: Transcript, *, timeout: float = PEER_TIMEOUT,
                 name: str = "client", one_record: bool = False, record_size: int = 0,
                 until_closed: bool = False) -> Exchange:
    """A client that verifies the server as tcplab.test against the test root, sends each line
    and reads its reply. one_record: every line in one TLS record, then the replies; record_size:
    each line cut into records of that many bytes. until_closed: then waits (up to `timeout`) for
    the server to close, and says how it ended."""
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    raw = socket.socket(family, socket.SOCK_STREAM)
    raw.settimeout(timeout)
    replies: list[bytes] = []
    try:
        raw.connect(address)
        tls = client_context().wrap_socket(raw, server_hostname=HOSTNAME)
    except ssl.SSLCertVerificationError as exc:
        raw.close()
        transcript.add(name, f"refused the server's certificate: {exc.verify_message} (code {exc.verify_code})")
        return Exchange([], f"the client refused the certificate: {exc.verify_message}", exc.verify_code)
    except OSError as exc:
        raw.close()
        transcript.add(name, f"handshake failed: {type(exc).__name__}: {exc}")
        return Exchange([], f"the TLS handshake failed: {type(exc).__name__}: {exc}")
    transcript.add(name, f"handshake done ({tls.version()}), server verified as {HOSTNAME}")
    shaken = time.monotonic()
    buffer = b""

    def read_reply() -> None:
        nonlocal buffer
        while b"\n" not in buffer:
            data = tls.recv(65536)
            if not data:
                raise EOFError
            buffer += data
        reply, buffer = buffer.split(b"\n", 1)
        replies.append(reply + b"\n")
        transcript.add(name, "received", reply + b"\n")

    try:
        with tls:
            if one_record:
                tls.sendall(b"".join(lines))
                transcript.add(name, "sent (in one TLS record)", b"".join(lines))
                for _ in lines:
                    read_reply()
            else:
                for line in lines:
                    step = record_size or len(line) or 1
                    for i in range(0, len(line), step):
                        tls.sendall(line[i:i + step])
                    transcript.add(name, "sent" + (f" ({step} byte(s) per TLS record)" if record_size else ""), line)
                    read_reply()
            version = tls.version() or ""
            if not until_closed:
                return Exchange(replies, version=version)
            while True:
                data = tls.recv(65536)
                if not data:
                    break
                replies.append(data)
                transcript.add(name, "received", data)
            transcript.add(name, "EOF from the server")
            return Exchange(replies, version=version, ended="eof", ended_after=time.monotonic() - shaken)
    except (EOFError, ssl.SSLEOFError):
        transcript.add(name, "EOF from the server" + ("" if until_closed else " before every reply"))
        return Exchange(replies, "" if until_closed else "the server closed before answering every line",
                        ended="eof", ended_after=time.monotonic() - shaken)
    except TimeoutError:
        transcript.add(name, f"no reply and no close within {timeout:g} s")
        return Exchange(replies, f"timed out after {timeout:g} s waiting for the server", ended="timeout",
                        ended_after=time.monotonic() - shaken)
    except (ssl.SSLError, OSError) as exc:
        transcript.add(name, f"connection ended: {type(exc).__name__}: {exc}")
        return Exchange(replies, "" if until_closed else f"{type(exc).__name__}: {exc}", ended="reset",
                        ended_after=time.monotonic() - shaken)


def plain_client(address: tuple, transcript: Transcript, data: bytes = b"hello\n",
                 timeout: float = PEER_TIMEOUT) -> bytes:
    """A client that speaks no TLS: sends `data`, returns what came back until EOF."""
    with socket.create_connection(address, timeout=timeout) as sock:
        sock.sendall(data)
        transcript.add("plain client", "sent in plain text", data)
        got = b""
        with contextlib.suppress(OSError):
            while chunk := sock.recv(65536):
                got += chunk
        transcript.add("plain client", "connection ended", got or None)
        return got


def client_hello() -> bytes:
    """The first flight of a real TLS client, made in memory."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    hello = client_context().wrap_bio(incoming, outgoing, server_hostname=HOSTNAME)
    with contextlib.suppress(ssl.SSLWantReadError):
        hello.do_handshake()
    return outgoing.read()


def resetting_client(address: tuple, transcript: Transcript) -> None:
    """A client that resets in the middle of its handshake: its ClientHello, the server's first
    answer read (so the server is inside its handshake, not before it), then RST (SO_LINGER 0)."""
    hello = client_hello()
    sock = socket.create_connection(address, timeout=PEER_TIMEOUT)
    try:
        sock.sendall(hello)
        answered = sock.recv(1)
    except OSError:
        answered = b""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    transcript.add("resetting client", "sent its ClientHello, " + ("read the server's answer" if answered else
                                        "got no answer") + ", then reset the connection (RST)")


def rejecting_client(address: tuple, transcript: Transcript) -> str:
    """A client that trusts another root, so it rejects the server's certificate (an alert)."""
    sock = socket.create_connection(address, timeout=PEER_TIMEOUT)
    try:
        client_context(OTHER_CA).wrap_socket(sock, server_hostname=HOSTNAME).close()
        outcome = "accepted the certificate (it should not have)"
    except ssl.SSLCertVerificationError as exc:
        outcome = f"rejected the certificate ({exc.verify_message}) and sent an alert"
    except OSError as exc:
        outcome = f"handshake failed: {type(exc).__name__}"
    finally:
        sock.close()
    transcript.add("rejecting client", outcome)
    return outcome


def silent_client(address: tuple, transcript: Transcript) -> socket.socket:
    """A TCP client that connects and never says a word; the caller closes it."""
    sock = socket.create_connection(address, timeout=PEER_TIMEOUT)
    transcript.add("silent client", "connected, and says nothing")
    return sock
