"""What stage 10's checks share (exercises/10_tls and graders/hidden/10_tls): TLS peers on a lab,
a tls_request call against one, the judgement of a refused certificate, and the hints.

TLS checks are judged by classes and verify codes, never by message text, which differs
between OpenSSL versions: ssl.SSLCertVerificationError carries `verify_code` (10 expired, 18
self-signed, 20 unknown issuer, 62 host name mismatch, 64 IP address mismatch), and the worker's
codec passes it back. The transcript shows the alert the grader's own end of the handshake saw.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from typing import Any

from graders.checking.declare import Failure
from graders.checking.helpers import shown_traceback
from graders.checking.lab import Lab, LabCall
from graders.checking.tls_peers import (
    CA,
    HOSTNAME,
    OTHER_CA,
    Serving,
    TlsServer,
    cert,
    plain_client,
    rejecting_client,
    resetting_client,
    silent_client,
    tls_exchange,
)
from graders.engine.calls import CallResult
from graders.engine.codec import RemoteError
from graders.engine.tls_view import ContextView, leaf_sha256, view

__all__ = ["CA", "HOSTNAME", "OTHER_CA", "Serving", "cert", "leaf_sha256", "plain_client", "rejecting_client",
           "resetting_client", "silent_client", "tls_exchange"]

# Why: the names OpenSSL gives the failures the checks meet, for messages.
VERIFY_CODES = {10: "certificate has expired", 18: "self-signed certificate", 19: "self-signed certificate in chain",
                20: "unable to get local issuer certificate", 62: "hostname mismatch", 64: "IP address mismatch"}

VERIFY_HINT = ("Verify the server: ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT) (or ssl.create_default_context(cafile=...)) "
               "is CERT_REQUIRED with host names checked; load only your cafile (load_verify_locations(cafile)). "
               "CERT_NONE, check_hostname = False, ssl._create_unverified_context() or a bare SSLContext(PROTOCOL_TLS) "
               "encrypt to whoever answers: an attacker in the middle included.")
FALLBACK_HINT = ("A certificate that fails verification is the answer: let ssl.SSLCertVerificationError propagate. "
                 "Retrying without verification, or returning '' on SSLError, hands the line to an impostor.")
HOSTNAME_HINT = ("Check the name the caller meant: wrap_socket(sock, server_hostname=server_hostname or host). It is "
                 "sent as SNI and matched against the certificate's names (an IP address against its IP entries).")
CAFILE_HINT = ("Trust the CAs of cafile and nothing else: ctx.load_verify_locations(cafile). load_default_certs(), "
               "set_default_verify_paths() or create_default_context() without cafile add the system's store, so "
               "any certificate any public CA signed would pass.")
MINIMUM_HINT = "Allow TLS 1.2 at least: ctx.minimum_version = ssl.TLSVersion.TLSv1_2."
MODERN_HINT = ("Do not pin an old protocol (PROTOCOL_TLSv1_2, maximum_version = TLSv1_2, ssl.wrap_socket, gone in "
               "3.12): a PROTOCOL_TLS_CLIENT context speaks TLS 1.3 and 1.2 alike.")
HANDSHAKE_TIMEOUT_HINT = ("settimeout(timeout) BEFORE the handshake: wrap_socket() does the handshake at once, so a "
                          "timeout set after it bounds the reads only, and a server that never speaks hangs you.")
RECORDS_HINT = ("TLS cuts the stream into records, and recv() returns at most one: a server may send a byte per "
                "record. Keep reading into a buffer until it holds b'\\n'.")
HANDSHAKE_ERROR_HINT = ("During the handshake, any failure but a timeout or a refused certificate raises ssl.SSLError: "
                        "a peer that speaks no TLS gives SSLError (WRONG_VERSION_NUMBER), one that closes gives "
                        "SSLEOFError (an SSLError); a reset (ConnectionResetError) and other OSErrors you wrap: "
                        "raise ssl.SSLError(...) from exc.")
EOF_HINT = ("After the handshake, the peer closing before a whole line is EOFError: recv() returns b'' (after a "
            "close_notify, and after a bare TCP close too with wrap_socket's default suppress_ragged_eofs=True), "
            "or raises ssl.SSLEOFError (suppress_ragged_eofs=False, an SSLObject): raise EOFError for both.")
CLOSE_HINT = ("Close on every path: `with socket.create_connection(...) as raw:` and `with ctx.wrap_socket(raw, ...) "
              "as tls:`. wrap_socket takes the raw socket over only once it succeeds.")
SERVER_CONTEXT_HINT = ("Serve with a server context: ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER) (or create_default_context("
                       "ssl.Purpose.CLIENT_AUTH)), load_cert_chain(certfile, keyfile), minimum TLS 1.2, and verify_mode "
                       "left at CERT_NONE: a server that demands client certificates refuses every client here.")
CHAIN_HINT = ("load_cert_chain(certfile, keyfile) with the whole chain file (leaf first, then the intermediate): a "
              "client that trusts only the root needs the intermediate to link the leaf to it.")
LISTENER_HINT = ("Never wrap the listener: accept() a plain connection, settimeout(timeout) on it, then wrap_socket("
                 "conn, server_side=True) inside try/except. A wrapped listener runs each handshake inside accept(), "
                 "where one bad client's error ends the server.")
SURVIVE_HINT = ("A handshake can fail in many ways: ssl.SSLError (plain TCP, a rejected certificate), "
                "ConnectionResetError, TimeoutError. Catch OSError (SSLError is one) around it, close that "
                "connection, count it, and accept the next.")
BOUND_HINT = ("Bound each handshake: conn.settimeout(timeout) before wrap_socket(conn, server_side=True). Without it a "
              "client that connects and says nothing holds the server, and every client after it, forever.")
PENDING_HINT = ("One TLS record can hold several lines: after recv() returns, the rest may already be inside the "
                "SSLSocket, where select() cannot see it. Handle every complete line in your buffer, and with "
                "non-blocking sockets keep reading while sock.pending() > 0.")
RULES_HINT = ("Stage 07's rules hold behind TLS too: a client idle longer than timeout, one that sends invalid "
              "UTF-8 or a line over 65536 bytes is closed and counted, and the server goes on.")


def server(lab: Lab, serving: Serving | None = None, *, family: socket.AddressFamily = socket.AF_INET,
           name: str = "tls server") -> TlsServer:
    """A TLS server peer for this check (by default: the good chain, answering upper-cased),
    ended when the check ends."""
    return lab.adopt(TlsServer(lab.transcript, threading.Event(), serving or Serving(), family, name))


def request(lab: Lab, peer: TlsServer, *, line: str = "hello", host: str | None = None,
            server_hostname: str | None = None, timeout: float = 2.0, cafile: str = CA,
            environ: dict[str, str] | None = None, deadline: float = 12.0) -> CallResult:
    """tls_request against `peer`, then waits for the peer to end its side."""
    host = host or peer.address[0]
    kwargs: dict[str, Any] = {"timeout": timeout}
    if server_hostname is not None:
        kwargs["server_hostname"] = server_hostname
    result = lab.call("tls_request", host, peer.port, line, cafile, kwargs=kwargs, deadline=deadline,
                      environ=environ)
    peer.wait(3.0)
    return result


def expect_refused(lab: Lab, result: CallResult, peer: TlsServer, codes: tuple[int, ...], what: str,
                   hint: str) -> RemoteError:
    """The call raised ssl.SSLCertVerificationError with one of `codes`, and left no socket open."""
    wanted = " or ".join(f"{c} ({VERIFY_CODES.get(c, '?')})" for c in codes)
    if result.status == "returned":
        raise Failure(f"{result.shown} accepted {what}: it returned {result.value!r}",
                      expected=f"ssl.SSLCertVerificationError, verify_code {wanted}",
                      actual="the line went to a server whose certificate does not prove who it is"
                             + (f" (TLS {peer.version})" if peer.version else ""), hint=hint)
    error = lab.expect_raises(result, "SSLCertVerificationError", hint=hint)
    if error.verify_code not in codes:
        raise Failure(f"{result.shown} refused {what}, but for another reason",
                      expected=f"verify_code {wanted}",
                      actual=f"verify_code {error.verify_code} ({error.message})" if error.verify_code is not None
                      else f"{error} (an SSLCertVerificationError of your own making, without a verify code)",
                      hint=hint)
    lab.expect_no_leaks(result, hint=CLOSE_HINT)
    return error


def context(lab: Lab, result: CallResult, *, hint: str) -> ContextView:
    """The SSLContext a call returned, as data (a Failure when it returned something else)."""
    value = lab.returned(result, hint=hint)
    if not isinstance(value, ContextView):
        view_of = view(value)  # a live context (the notebook subject) turns into the same view
        if view_of.protocol == "?":
            raise Failure(f"{result.shown} did not return an ssl.SSLContext", expected="an ssl.SSLContext",
                          actual=repr(value), hint=hint)
        return view_of
    return value


def version_at_least_1_2(name: str) -> bool:
    """TLS 1.2 or later as minimum_version ('MINIMUM_SUPPORTED' and 'TLSv1' are not)."""
    return name in ("TLSv1_2", "TLSv1_3", "MAXIMUM_SUPPORTED")


def against(pending: LabCall, client: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Runs one client of the student's server (a function of graders/checking/tls_peers.py) and
    returns what it returns; fails at once when the server's call ends first (a stub, a crash,
    an early return), instead of letting the client wait for a server that is gone."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = client(*args, **kwargs)
        except BaseException as exc:  # the grader's own client failing: re-raised in the check
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="tls client", daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.01)
        if thread.is_alive() and pending.done():
            result = pending.wait()  # a stub or a crash fails here, as such
            thread.join(3.0)  # what it sent before it ended may still be on its way
            if thread.is_alive():
                ended = f"raised {result.error}" if result.status == "raised" else f"returned {result.value!r}"
                raise Failure(f"{result.shown} {ended} while a client was still being served{shown_traceback(result)}",
                              hint=SURVIVE_HINT)
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")
