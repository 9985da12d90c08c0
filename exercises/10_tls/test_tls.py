"""Public checks for stage 10: contexts that verify, a TLS client that refuses impostors, a TLS server that survives its clients.

The grader's TLS peers (graders/checking/tls_peers.py) show certificates from
graders/checking/certs/: the good chain of the stage's test root, and one bad certificate per
way a certificate can fail. Refusals are judged by class and verify code, never by message
text, which differs between OpenSSL versions.

Every rule of exercises/10_tls/README.md ("The task") has a check here that catches its most
common violation; each check names the README rule it relies on. The hidden checks add depth
(IPv6, more records, more bad clients in a row), never a rule.
"""

import ssl
import time

from graders.api import Failure, check
from graders.api import tls as shared  # what these checks share with the hidden ones

CHAIN, KEY = shared.cert("server-chain.pem"), shared.cert("server.key")


def _serve(lab, clients, timeout=2.0):
    listener = lab.listener()
    return listener, lab.start("serve_tls", listener, CHAIN, KEY, clients, kwargs={"timeout": timeout}, deadline=30.0)


def _finish(lab, pending, when, hint):
    result = pending.wait()
    lab.returned(result, hint=hint)
    if result.value is not None:
        raise Failure(f"{result.shown} returned {result.value!r}", expected="None", hint=hint)
    return result


def _expect_replies(exchange, want, who, hint):
    if exchange.replies != want or exchange.error:
        raise Failure(f"{who} was not answered over TLS", expected=repr(want),
                      actual=f"{exchange.replies!r}" + (f", then {exchange.error}" if exchange.error else ""), hint=hint)


# -- contexts -------------------------------------------------------------------------------------
@check(points=1, hint=shared.VERIFY_HINT)
def test_client_context_verifies_certificates_and_names(lab):
    """client_context(cafile) requires a certificate (CERT_REQUIRED), checks host names, and allows TLS 1.2 at least"""
    # README: "client_context" — CERT_REQUIRED, host names checked, TLS 1.2 at least.
    ctx = shared.context(lab, lab.call("client_context", shared.CA), hint=shared.VERIFY_HINT)
    if ctx.verify_mode != "CERT_REQUIRED":
        raise Failure("the client context does not require the server's certificate", expected="CERT_REQUIRED",
                      actual=f"{ctx.verify_mode}: any certificate, or none, is accepted", hint=shared.VERIFY_HINT)
    if not ctx.check_hostname:
        raise Failure("the client context does not check host names", expected="check_hostname = True",
                      actual="False: a certificate for any name the root signed would do", hint=shared.VERIFY_HINT)
    if not shared.version_at_least_1_2(ctx.minimum_version):
        raise Failure("the client context allows protocols older than TLS 1.2",
                      expected="minimum_version TLSv1_2 or later", actual=ctx.minimum_version, hint=shared.MINIMUM_HINT)


@check(points=1, hint=shared.CAFILE_HINT)
def test_client_context_trusts_only_its_cafile(lab):
    """client_context(cafile) holds the CA of cafile and no other, even when the system store has others"""
    # README: "client_context" — loads the CAs in cafile and no other trust store.
    # While the call runs, the system's store (SSL_CERT_FILE) is another root: loading it shows.
    result = lab.call("client_context", shared.CA, environ={"SSL_CERT_FILE": shared.OTHER_CA,
                                                             "SSL_CERT_DIR": str(lab.tmpdir())})
    ctx = shared.context(lab, result, hint=shared.CAFILE_HINT)
    roots = [c for c in ctx.ca_certs if "tcplab test root" in c]
    others = [c for c in ctx.ca_certs if "tcplab test root" not in c]
    if not roots:
        raise Failure("the client context does not hold the CA of cafile", expected="the tcplab test root",
                      actual=repr(ctx.ca_certs) if ctx.ca_certs else "no CA certificate at all", hint=shared.CAFILE_HINT)
    if others:
        raise Failure("the client context trusts more than cafile: the system's store is loaded too",
                      expected="only the tcplab test root", actual=f"also {others}", hint=shared.CAFILE_HINT)


@check(points=1, hint=shared.SERVER_CONTEXT_HINT)
def test_server_context_serves_without_asking_for_a_client_certificate(lab):
    """server_context(certfile, keyfile) serves the certfile's leaf, TLS 1.2 at least, and asks clients for no certificate"""
    # README: "server_context" — server side; certfile is a chain, leaf first; TLS 1.2 at least; asks
    # the client for no certificate.
    ctx = shared.context(lab, lab.call("server_context", CHAIN, KEY), hint=shared.SERVER_CONTEXT_HINT)
    if ctx.protocol == "PROTOCOL_TLS_CLIENT":
        raise Failure("server_context() made a client's context: it cannot serve", expected="PROTOCOL_TLS_SERVER "
                      "(or create_default_context(ssl.Purpose.CLIENT_AUTH))", actual=f"{ctx}: {ctx.serve_error}",
                      hint=shared.SERVER_CONTEXT_HINT)
    if ctx.verify_mode != "CERT_NONE":
        raise Failure("the server context asks every client for a certificate", expected="verify_mode CERT_NONE",
                      actual=f"{ctx.verify_mode}: a client without a certificate is refused",
                      hint=shared.SERVER_CONTEXT_HINT)
    if not ctx.serves:
        raise Failure("a TLS handshake with the context as the server fails", expected="a handshake that completes",
                      actual=ctx.serve_error, hint=shared.SERVER_CONTEXT_HINT)
    if ctx.leaf_sha256 != shared.leaf_sha256(CHAIN):
        raise Failure("the server context serves another certificate than certfile's leaf",
                      expected="the leaf of server-chain.pem", actual=f"a leaf with SHA-256 {ctx.leaf_sha256[:16]}…",
                      hint=shared.SERVER_CONTEXT_HINT)
    if not shared.version_at_least_1_2(ctx.minimum_version):
        raise Failure("the server context allows protocols older than TLS 1.2",
                      expected="minimum_version TLSv1_2 or later", actual=ctx.minimum_version, hint=shared.MINIMUM_HINT)


# -- tls_request ----------------------------------------------------------------------------------
@check(points=1.5, hint=shared.VERIFY_HINT)
def test_tls_request_gets_a_reply_over_tls(lab):
    """tls_request("127.0.0.1", port, "hello", ca.pem) verifies the server and returns its reply line"""
    # README: "tls_request" — TLS with client_context(cafile), checking the name server_hostname or host;
    # sends line + "\n", returns the first reply line without its "\n"; the socket is closed.
    peer = shared.server(lab, shared.Serving(reply=b"HELLO\nmore\n"))
    result = shared.request(lab, peer)
    lab.expect_equal(result, "HELLO", hint=shared.VERIFY_HINT)
    if peer.received != b"hello\n":
        raise Failure("the server received the wrong line", expected=repr(b"hello\n"), actual=repr(peer.received),
                      hint="Send line + '\\n', encoded as UTF-8, over the TLS socket: tls.sendall(...).")
    lab.expect_no_leaks(result, hint=shared.CLOSE_HINT)


@check(points=1.5, hint=shared.FALLBACK_HINT)
def test_tls_request_refuses_an_unknown_ca(lab):
    """tls_request() raises ssl.SSLCertVerificationError for a server whose certificate another root signed"""
    # README: "tls_request" — a certificate that fails verification (unknown CA) raises
    # ssl.SSLCertVerificationError.
    peer = shared.server(lab, shared.Serving(chain="other-chain.pem", key="other.key"))
    result = shared.request(lab, peer)
    shared.expect_refused(lab, result, peer, (20,), "a certificate from another CA", shared.FALLBACK_HINT)


@check(points=1, hint=shared.HOSTNAME_HINT)
def test_tls_request_refuses_a_wrong_host_name(lab):
    """tls_request(server_hostname="tcplab.test") refuses a certificate made out to other.test"""
    # README: "tls_request" — checking the name server_hostname or host; a wrong name raises
    # ssl.SSLCertVerificationError.
    peer = shared.server(lab, shared.Serving(chain="wrong-host-chain.pem", key="wrong-host.key"))
    result = shared.request(lab, peer, server_hostname=shared.HOSTNAME)
    shared.expect_refused(lab, result, peer, (62,), "a certificate for other.test when it asked for tcplab.test",
                          shared.VERIFY_HINT)


@check(points=1, hint=shared.HOSTNAME_HINT)
def test_tls_request_checks_the_name_it_is_given(lab):
    """tls_request("127.0.0.1", ..., server_hostname="tcplab.test") checks tcplab.test, sent as SNI"""
    # README: "tls_request" — the name checked is server_hostname or host; server_hostname is sent as SNI.
    # The leaf names tcplab.test only: checking 127.0.0.1 instead fails (IP address mismatch).
    peer = shared.server(lab, shared.Serving(chain="dns-only-chain.pem", key="dns-only.key", reply=b"OK\n"))
    result = shared.request(lab, peer, server_hostname=shared.HOSTNAME)
    if result.status == "raised" and result.error and result.error.verify_code == 64:
        raise Failure(f"{result.shown} checked the certificate against 127.0.0.1, not the server_hostname it was given",
                      expected="the name tcplab.test checked (and sent as SNI)", actual=str(result.error),
                      hint=shared.HOSTNAME_HINT)
    lab.expect_equal(result, "OK", hint=shared.HOSTNAME_HINT)
    if peer.sni != shared.HOSTNAME:
        raise Failure("the server was not told the name asked for (SNI)", expected=repr(shared.HOSTNAME),
                      actual=repr(peer.sni), hint=shared.HOSTNAME_HINT)


@check(points=1.5, hint=shared.VERIFY_HINT)
def test_tls_request_refuses_bad_certificates(lab):
    """tls_request() refuses an expired certificate, a self-signed one, and a leaf sent without its intermediate"""
    # README: "tls_request" — a certificate that fails verification (self-signed, expired, missing
    # intermediate) raises ssl.SSLCertVerificationError; the socket is closed on every path.
    for chain, key, codes, what in (("expired-chain.pem", "expired.key", (10,), "a certificate that expired in 2001"),
                                     ("self-signed.pem", "self-signed.key", (18,), "a self-signed certificate"),
                                     ("leaf-only.pem", "server.key", (20,), "a leaf sent without its intermediate")):
        peer = shared.server(lab, shared.Serving(chain=chain, key=key), name=chain.split(".")[0])
        shared.expect_refused(lab, shared.request(lab, peer), peer, codes, what, shared.VERIFY_HINT)


@check(points=1, hint=shared.CAFILE_HINT)
def test_tls_request_trusts_only_its_cafile(lab):
    """tls_request() refuses a server whose root is in the system's store but not in cafile"""
    # README: "tls_request" — TLS with client_context(cafile): the CAs in cafile and no other trust store.
    peer = shared.server(lab, shared.Serving(chain="other-chain.pem", key="other.key"))
    result = shared.request(lab, peer, environ={"SSL_CERT_FILE": shared.OTHER_CA, "SSL_CERT_DIR": str(lab.tmpdir())})
    shared.expect_refused(lab, result, peer, (20,), "a server that only the system's store (not cafile) trusts",
                          shared.CAFILE_HINT)


@check(points=1, hint=shared.HANDSHAKE_TIMEOUT_HINT)
def test_tls_request_times_out_in_the_handshake(lab):
    """tls_request(timeout=0.5) raises TimeoutError when the server accepts and never answers the handshake"""
    # README: "tls_request" — timeout bounds the connect, the handshake, every read; a silent peer
    # raises TimeoutError.
    peer = shared.server(lab, shared.Serving(handshake="silent"))
    started = time.monotonic()
    result = shared.request(lab, peer, timeout=0.5, deadline=6.0)
    took = time.monotonic() - started
    lab.expect_raises(result, TimeoutError, hint=shared.HANDSHAKE_TIMEOUT_HINT)
    if took < 0.5 - 0.05:
        raise Failure(f"{result.shown} gave up after {took:.2f} s, before its timeout", expected="about 0.5 s",
                      hint=shared.HANDSHAKE_TIMEOUT_HINT)
    lab.expect_no_leaks(result, hint=shared.CLOSE_HINT)


@check(points=1.5, hint=shared.RECORDS_HINT)
def test_tls_request_reads_a_reply_split_into_records(lab):
    """tls_request() returns the whole reply line when the server sends it one byte per TLS record"""
    # README: "tls_request" — returns the first reply line; TLS records make short reads of their own.
    peer = shared.server(lab, shared.Serving(reply="ÉCHO, one byte per record\n".encode(), record_size=1))
    result = shared.request(lab, peer)
    lab.expect_equal(result, "ÉCHO, one byte per record", hint=shared.RECORDS_HINT)


@check(points=1, hint=shared.HANDSHAKE_ERROR_HINT)
def test_tls_request_raises_ssl_error_when_the_handshake_fails(lab):
    """tls_request() raises ssl.SSLError when the server speaks no TLS, closes or resets during the handshake"""
    # README: "tls_request" — during the handshake every other failure but a timeout raises ssl.SSLError
    # (a peer that closes, or doesn't speak TLS, included); the socket is closed on every path.
    for serving, what in ((shared.Serving(handshake="plain", reply=b"hello, plain text here\n"), "speaks no TLS"),
                          (shared.Serving(handshake="close"), "closes during the handshake"),
                          (shared.Serving(handshake="reset"), "resets the connection during the handshake")):
        peer = shared.server(lab, serving, name=f"{serving.handshake} server")
        result = shared.request(lab, peer, timeout=3.0)
        if result.status == "returned":
            raise Failure(f"{result.shown} returned {result.value!r} from a server that {what}",
                          expected="ssl.SSLError", hint=shared.HANDSHAKE_ERROR_HINT)
        error = result.error
        if error.is_a("SSLCertVerificationError") or not error.is_a("SSLError"):
            raise Failure(f"{result.shown} raised the wrong exception for a server that {what}",
                          expected="ssl.SSLError (not a certificate failure, not EOFError)", actual=str(error),
                          hint=shared.HANDSHAKE_ERROR_HINT)
        lab.expect_no_leaks(result, hint=shared.CLOSE_HINT)


@check(points=1, hint=shared.EOF_HINT)
def test_tls_request_raises_eof_when_the_peer_closes_early(lab):
    """tls_request() raises EOFError when the server sends "HEL" and closes, with or without close_notify"""
    # README: "tls_request" — after the handshake, the peer closing before a whole line, with or
    # without close_notify, raises EOFError (convert ssl.SSLEOFError).
    for notify in (True, False):
        peer = shared.server(lab, shared.Serving(reply=b"HEL", close_notify=notify))
        result = shared.request(lab, peer)
        how = "with close_notify" if notify else "without close_notify (a bare TCP close)"
        if result.status == "returned":
            raise Failure(f"{result.shown} returned {result.value!r} when the server closed {how} after b'HEL'",
                          expected="EOFError: no whole line came", hint=shared.EOF_HINT)
        if not result.error.is_a("EOFError"):
            raise Failure(f"{result.shown} raised the wrong exception when the server closed {how}",
                          expected="EOFError", actual=str(result.error), hint=shared.EOF_HINT)
        lab.expect_no_leaks(result, hint=shared.CLOSE_HINT)


@check(points=1, hint=shared.MODERN_HINT)
def test_tls_request_speaks_tls_1_3(lab):
    """tls_request() talks to a server that accepts TLS 1.3 only"""
    # README: "client_context" / "tls_request" — TLS 1.2 at least (so 1.3 too).
    peer = shared.server(lab, shared.Serving(minimum=ssl.TLSVersion.TLSv1_3, reply=b"THIRTEEN\n"))
    result = shared.request(lab, peer)
    lab.expect_equal(result, "THIRTEEN", hint=shared.MODERN_HINT)


# -- serve_tls ------------------------------------------------------------------------------------
@check(points=1.5, hint=shared.CHAIN_HINT)
def test_serve_tls_answers_lines_over_tls(lab):
    """serve_tls(listener, chain, key, 2) answers each client's lines upper-cased over TLS, then returns"""
    # README: "serve_tls" — serves `clients` connections one after another; the handshake on each
    # accepted connection; each line answered upper-cased; does not close listener.
    listener, pending = _serve(lab, 2)
    address = listener.getsockname()[:2]
    first = shared.against(pending, shared.tls_exchange, address, [b"hello\n", "café\n".encode()], lab.transcript, name="client 1")
    _expect_replies(first, [b"HELLO\n", "CAFÉ\n".encode()], "client 1", shared.CHAIN_HINT)
    second = shared.against(pending, shared.tls_exchange, address, [b"one\n", b"Two words\n"], lab.transcript, name="client 2")
    _expect_replies(second, [b"ONE\n", b"TWO WORDS\n"], "client 2", shared.CHAIN_HINT)
    result = _finish(lab, pending, "after its clients", shared.CHAIN_HINT)
    lab.expect_args_open(result, hint="The listener belongs to the caller: never close it (no `with listener:`).")
    lab.expect_no_leaks(result, hint="Close each connection once you are done with it.")


@check(points=1, hint=shared.LISTENER_HINT)
def test_serve_tls_never_wraps_its_listener(lab):
    """serve_tls() leaves its listener plain: a plain-TCP client is dropped and the next client is served"""
    # README: "serve_tls" — the handshake runs on each accepted connection (never wrap the listener); a
    # client whose handshake fails (plain TCP) is closed and counted; never raises; does not close listener.
    listener, pending = _serve(lab, 2)
    address = listener.getsockname()[:2]
    shared.against(pending, shared.plain_client, address, lab.transcript, timeout=6.0)
    good = shared.against(pending, shared.tls_exchange, address, [b"after the plain client\n"], lab.transcript, timeout=6.0, name="client 2")
    _expect_replies(good, [b"AFTER THE PLAIN CLIENT\n"], "a TLS client after a plain-TCP one", shared.LISTENER_HINT)
    result = _finish(lab, pending, "after its clients", shared.LISTENER_HINT)
    if result.closed_args:
        raise Failure(f"{result.shown} wrapped (or closed) its listener", expected="the listener left a plain socket",
                      actual="wrap_socket(listener) takes the listener's file descriptor over", hint=shared.LISTENER_HINT)


@check(points=1.5, hint=shared.SURVIVE_HINT)
def test_serve_tls_survives_failed_handshakes(lab):
    """serve_tls(..., 4) goes on after a plain-TCP client, a reset mid-handshake and a client that rejects the certificate"""
    # README: "serve_tls" — a client whose handshake fails (plain TCP, rejects our certificate, resets)
    # is closed and counted; never raises because of a client.
    listener, pending = _serve(lab, 4)
    address = listener.getsockname()[:2]
    shared.against(pending, shared.plain_client, address, lab.transcript, timeout=6.0)
    shared.against(pending, shared.resetting_client, address, lab.transcript)
    shared.against(pending, shared.rejecting_client, address, lab.transcript)
    good = shared.against(pending, shared.tls_exchange, address, [b"still serving?\n"], lab.transcript, timeout=8.0, name="client 4")
    _expect_replies(good, [b"STILL SERVING?\n"], "the fourth client, after three failed handshakes",
                    shared.SURVIVE_HINT)
    result = _finish(lab, pending, "after four clients", shared.SURVIVE_HINT)
    lab.expect_no_leaks(result, hint="Close a connection whose handshake failed, too.")


@check(points=1.5, hint=shared.BOUND_HINT)
def test_serve_tls_bounds_each_handshake(lab):
    """serve_tls(timeout=0.5) drops a client that connects and never starts its handshake, then serves the next"""
    # README: "serve_tls" — the handshake is bounded by timeout; a client whose handshake stalls (stays
    # silent) is closed and counted.
    listener, pending = _serve(lab, 2, timeout=0.5)
    address = listener.getsockname()[:2]
    silent = shared.against(pending, shared.silent_client, address, lab.transcript)
    connected = time.monotonic()
    try:
        # Why 6 s: a correct server drops the silent client 0.5 s after accepting it; one without a
        # handshake timeout never does, and this client's own timeout ends the wait.
        good = shared.against(pending, shared.tls_exchange, address, [b"next\n"], lab.transcript, timeout=6.0, name="client 2")
        _expect_replies(good, [b"NEXT\n"], "the client after a silent one (timeout=0.5)", shared.BOUND_HINT)
        silent.settimeout(1.0)
        try:
            leftover = silent.recv(1)
        except OSError:
            leftover = b""
        if leftover:
            raise Failure("the server sent the silent client bytes before its handshake",
                          hint="A server speaks after the client's ClientHello, never before.")
        dropped = time.monotonic() - connected
        if dropped < 0.5 - 0.05:
            raise Failure(f"the silent client was dropped {dropped:.2f} s after it connected, before the timeout",
                          expected="dropped no earlier than 0.5 s", hint=shared.BOUND_HINT)
    finally:
        silent.close()
    _finish(lab, pending, "after its clients", shared.BOUND_HINT)


@check(points=1, hint=shared.PENDING_HINT)
def test_serve_tls_answers_lines_sent_in_one_record(lab):
    """serve_tls() answers all three lines of b"a\\nb\\nc\\n" sent in one TLS record"""
    # README: "serve_tls" — each line answered upper-cased; TLS records make short reads of their own,
    # and one record may hold several lines.
    listener, pending = _serve(lab, 1)
    address = listener.getsockname()[:2]
    got = shared.against(pending, shared.tls_exchange, address, [b"a\n", b"b\n", b"c\n"], lab.transcript, one_record=True, timeout=5.0)
    _expect_replies(got, [b"A\n", b"B\n", b"C\n"], "a client whose three lines came in one record", shared.PENDING_HINT)
    _finish(lab, pending, "after its client", shared.PENDING_HINT)


@check(points=1.5, hint=shared.RULES_HINT)
def test_serve_tls_keeps_the_stage_07_rules(lab):
    """serve_tls(timeout=0.5) closes an idle client, one sending b"\\xff\\n" and one sending a line of 65537 bytes"""
    # README: "serve_tls" — stage 07 rules, with timeout as the idle timeout and max_line 65536: a client
    # idle longer than timeout, sending invalid UTF-8 or an over-long line is disconnected and counted.
    listener, pending = _serve(lab, 4, timeout=0.5)
    address = listener.getsockname()[:2]
    for lines, what in (([b"hi\n"], "an idle client"), ([b"hi\n", b"\xff\n"], "a client that sent invalid UTF-8"),
                        ([b"hi\n", b"x" * 65537 + b"\n"], "a client that sent a line of 65537 bytes")):
        # Why 6 s: a correct server closes each of them at once, or 0.5 s after its last line.
        got = shared.against(pending, shared.tls_exchange, address, lines, lab.transcript, timeout=6.0, name="client", until_closed=True)
        if got.replies != [b"HI\n"] or got.ended not in ("eof", "reset"):
            raise Failure(f"{what} was not closed after its first line was answered",
                          expected="b'HI\\n', then the connection closed by the server",
                          actual=f"{got.replies!r}, then {got.error or got.ended or 'still open'}", hint=shared.RULES_HINT)
        if not lines[1:] and got.ended_after < 0.5 - 0.05:
            raise Failure(f"the idle client was closed {got.ended_after:.2f} s after its last line, before the timeout",
                          expected="closed no earlier than 0.5 s after it", hint=shared.RULES_HINT)
    good = shared.against(pending, shared.tls_exchange, address, [b"last\n"], lab.transcript, timeout=6.0, name="client 4")
    _expect_replies(good, [b"LAST\n"], "the fourth client", shared.RULES_HINT)
    _finish(lab, pending, "after four clients", shared.RULES_HINT)
