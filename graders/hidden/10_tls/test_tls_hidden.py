"""Hidden checks for stage 10: TLS over IPv6, more records, more bad clients in a row.

Each check tests a sentence of exercises/10_tls/README.md, named in its comment, and a public
check already catches that rule's most common violation: these add depth, never a rule.
"""

import socket

from graders.api import Failure, check
from graders.api import tls as shared  # what the public checks of this stage use too

CHAIN, KEY = shared.cert("server-chain.pem"), shared.cert("server.key")


def _serve(lab, clients, family=socket.AF_INET, timeout=2.0):
    listener = lab.listener(family)
    return listener, lab.start("serve_tls", listener, CHAIN, KEY, clients, kwargs={"timeout": timeout}, deadline=40.0)


def _expect_served(exchange, want, who, hint):
    if exchange.replies != want or exchange.error:
        raise Failure(f"{who} was not answered over TLS", expected=repr(want),
                      actual=f"{exchange.replies!r}" + (f", then {exchange.error}" if exchange.error else ""), hint=hint)


@check(points=1, hint=shared.HOSTNAME_HINT)
def test_tls_request_over_ipv6(lab):
    """tls_request("::1", port, ...) verifies the server's IPv6 address and returns its reply"""
    # README: "tls_request" — checking the name server_hostname or host (an IP against the certificate's
    # IP addresses); the certificate names 127.0.0.1 and ::1.
    peer = shared.server(lab, shared.Serving(reply="v6 réponse\n".encode()), family=socket.AF_INET6)
    result = shared.request(lab, peer, host="::1")
    lab.expect_equal(result, "v6 réponse", hint=shared.HOSTNAME_HINT)
    lab.expect_no_leaks(result, hint=shared.CLOSE_HINT)


@check(points=1, hint=shared.RECORDS_HINT)
def test_tls_request_with_records_of_one_byte_and_more_behind(lab):
    """tls_request() returns only the first line when two lines come one byte per record"""
    # README: "tls_request" — returns the first reply line without its "\n"; recv returns at most one
    # record.
    peer = shared.server(lab, shared.Serving(reply=b"FIRST LINE\nsecond line\n", record_size=1))
    result = shared.request(lab, peer)
    lab.expect_equal(result, "FIRST LINE", hint=shared.RECORDS_HINT)


@check(points=1, hint=shared.PENDING_HINT)
def test_serve_tls_over_ipv6_in_small_records(lab):
    """serve_tls() over IPv6 answers lines that arrive three bytes per TLS record"""
    # README: "serve_tls" — each line answered upper-cased; records make short reads of their own.
    listener, pending = _serve(lab, 2, family=socket.AF_INET6)
    address = listener.getsockname()[:2]
    for n in (1, 2):
        got = shared.against(pending, shared.tls_exchange, address, [b"small records here\n", f"client {n}\n".encode()], lab.transcript,
                                  record_size=3, timeout=6.0, name=f"client {n}")
        _expect_served(got, [b"SMALL RECORDS HERE\n", f"CLIENT {n}\n".encode()], f"client {n} over IPv6",
                       shared.PENDING_HINT)
    result = pending.wait()
    lab.returned(result, hint=shared.PENDING_HINT)
    lab.expect_no_leaks(result)


@check(points=1, hint=shared.SURVIVE_HINT)
def test_serve_tls_many_bad_clients_in_a_row(lab):
    """serve_tls(timeout=0.5) serves good clients after plain, silent, resetting and rejecting ones, in a row"""
    # README: "serve_tls" — a client whose handshake fails or stalls (plain TCP, rejects our certificate,
    # resets, stays silent) is closed and counted; never raises because of a client.
    listener, pending = _serve(lab, 7, timeout=0.5)
    address = listener.getsockname()[:2]
    silent = shared.against(pending, shared.silent_client, address, lab.transcript)
    try:
        shared.against(pending, shared.plain_client, address, lab.transcript, data=b"GET / HTTP/1.0\r\n\r\n", timeout=8.0)
        shared.against(pending, shared.resetting_client, address, lab.transcript)
        got = shared.against(pending, shared.tls_exchange, address, [b"in between\n"], lab.transcript, timeout=8.0, name="good client 1")
        _expect_served(got, [b"IN BETWEEN\n"], "a good client after a silent, a plain and a resetting one",
                       shared.SURVIVE_HINT)
        shared.against(pending, shared.rejecting_client, address, lab.transcript)
        shared.against(pending, shared.resetting_client, address, lab.transcript)
        got = shared.against(pending, shared.tls_exchange, address, [b"the end\n"], lab.transcript, timeout=8.0, name="good client 2")
        _expect_served(got, [b"THE END\n"], "the last client", shared.SURVIVE_HINT)
    finally:
        silent.close()
    result = pending.wait()
    lab.returned(result, hint=shared.SURVIVE_HINT)
    lab.expect_no_leaks(result)
