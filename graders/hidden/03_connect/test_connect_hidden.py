"""Hidden checks for stage 03: the public checks' ideas in other orders, families and peers.

Variations on the public checks, never new rules; each check names the README sentence it
relies on (exercises/03_connect/README.md, "The task"). As in the public checks,
dual.tcplab.test is a made-up name that the worker resolves (for one call) to two loopback
addresses in a set order; the grader keeps the port bound but not listening on the first
one, so that address refuses.
"""

import socket

from graders.api import (
    HANG_DEADLINE,
    AwaitRead,
    CallTimedOut,
    Failure,
    RecvAll,
    Reset,
    Send,
    Stall,
    check,
    explain_hang,
    peer_of,
    serving,
)
from graders.api import connect as shared  # what the public checks of this stage use too

EVERY_HINT = ("Try every address getaddrinfo gives, of both families, in its order: don't ask it for AF_INET "
              "only, and don't stop at the first. Close each failed attempt; raise the last error only when "
              "none connected.")
LINE_HINT = ("TCP is a byte stream: append each chunk to a buffer and keep reading until it holds b'\\n'. The "
             "line is everything before the FIRST b'\\n' (only that byte is removed: b'\\r' stays).")
MAX_LINE_HINT = ("Count as the buffer grows: as soon as it holds more than max_line bytes and no b'\\n', raise "
                 "ValueError — while the server is still sending, without waiting for a newline, EOF or timeout.")
CLOSE_HINT = ("Open the socket with `with connect(host, port, timeout) as sock:` so it is closed however "
              "fetch_line ends — a reset (ConnectionResetError) included.")
RESET_HINT = ("Let ConnectionResetError propagate (it is a ConnectionError): a server that resets did not send "
              "a line, and catching it to return b'' or raise something else hides what happened.")


def _expect_connected(lab, result, family: socket.AddressFamily, address: tuple, *, hint: str) -> None:
    """connect() returned a socket of `family` connected to `address`; the socket is closed."""
    value = lab.returned(result, hint=hint)
    if not isinstance(value, socket.socket):
        raise Failure(f"{result.shown} did not return a socket", expected="a connected socket",
                      actual=repr(value), hint=hint)
    with value as sock:
        peer = peer_of(sock)
        if sock.family != family or peer != tuple(address):
            raise Failure(f"{result.shown} returned a socket that is not connected to the server",
                          expected=f"a {family.name} socket connected to {tuple(address)}",
                          actual=f"a {socket.AddressFamily(sock.family).name} socket, peer {peer}", hint=hint)


# -- connect ---------------------------------------------------------------------------------------------------
# README: "connect" — "Try every address in the order given"; "It must work for "127.0.0.1", "::1" and
# "localhost", whichever family the server listens on."
@check(points=0.5, hint=EVERY_HINT)
def test_tries_every_address_when_ipv6_comes_second(lab):
    """connect() to a name whose first address (127.0.0.1) refuses connects to its second (::1)"""
    address, blocker, hosts = shared.dual(lab, socket.AF_INET6)
    with blocker:
        result = lab.call("connect", shared.DUAL, address[1], 2.5, hosts=hosts)
    if result.status == "raised":
        raise Failure(f"{result.shown} raised {result.error}: {shared.DUAL} resolves to 127.0.0.1 then ::1; "
                      "127.0.0.1 refused, and the server was listening on ::1, the next address (an IPv6 one)",
                      expected=f"an AF_INET6 socket connected to {address}", actual=str(result.error),
                      hint=EVERY_HINT)
    _expect_connected(lab, result, socket.AF_INET6, address, hint=EVERY_HINT)
    lab.expect_no_leaks(result)


# README: "connect" — "It must work for "127.0.0.1", "::1" and "localhost", whichever family the server
# listens on."
@check(points=0.5, hint=shared.CONNECT_HINT)
def test_connects_to_localhost(lab):
    """connect("localhost", port) reaches a server listening on localhost's address"""
    infos = socket.getaddrinfo("localhost", 0, type=socket.SOCK_STREAM)
    family = socket.AddressFamily(infos[0][0])
    address = shared.listening(lab, family)
    lab.transcript.add("grader", f"on this machine localhost is {', '.join(i[4][0] for i in infos)}")
    result = lab.call("connect", "localhost", address[1], 2.5)
    _expect_connected(lab, result, family, address, hint=shared.CONNECT_HINT)


# -- fetch_line -------------------------------------------------------------------------------------------------
# README: "fetch_line" — "Connect (use your connect), read the first line the server sends".
@check(points=0.5, hint=LINE_HINT)
def test_fetch_line_through_a_name_with_two_addresses(lab):
    """fetch_line() to a name whose first address (::1) refuses reads the line from its second"""
    address, blocker, hosts = shared.dual(lab, socket.AF_INET, [Send(b"found you\n"), RecvAll()])
    with blocker:
        result = lab.call("fetch_line", shared.DUAL, address[1], hosts=hosts)
    shared.expect_line(lab, result, b"found you", b"found you\n", hint=EVERY_HINT)
    lab.expect_no_leaks(result, hint=CLOSE_HINT)


# README: "fetch_line" — the table's row b"hel", pause, b"lo\n" gives b"hello" (a line in pieces), over "::1".
@check(points=0.5, hint=LINE_HINT)
def test_fetch_line_over_ipv6_one_byte_at_a_time(lab):
    """fetch_line("::1", port) reads a line that arrives one byte at a time"""
    line = b"one byte at a time, over IPv6"
    # Deliberate pacing: one byte per millisecond; faults=True caps every recv at 7 bytes too.
    server = serving(lab, [Send(line + b"\n", piece=1, pause=0.001), RecvAll()], family=socket.AF_INET6)
    result = lab.call("fetch_line", *server.address, faults=True)
    shared.expect_line(lab, result, line, line + b"\n", hint=LINE_HINT)


# README: "fetch_line" — the table's row: max_line + 1 bytes, no newline (and keeps the connection open)
# gives ValueError, at once.
@check(points=0.5, hint=MAX_LINE_HINT)
def test_fetch_line_rejects_an_endless_dribble(lab):
    """fetch_line(max_line=64) raises ValueError while the server is still sending bytes without a newline"""
    # The server would send 64 KiB, 16 bytes per millisecond: a reader that counts stops after
    # 65 bytes, long before the end; one that waits for a newline gets EOF or a timeout instead.
    server = serving(lab, [Send(b"y" * 65536, piece=16, pause=0.001), Stall()])
    try:
        result = lab.call("fetch_line", *server.address, kwargs={"timeout": 1.0, "max_line": 64},
                          deadline=HANG_DEADLINE)
    except CallTimedOut as exc:
        raise explain_hang(exc, "the server kept sending bytes without a newline", MAX_LINE_HINT) from None
    lab.expect_raises(result, ValueError, hint=MAX_LINE_HINT)
    lab.expect_no_leaks(result, hint=CLOSE_HINT)


# README: "fetch_line" — the table's row: b"partial", then a reset gives ConnectionResetError; "The socket is
# closed in every row of this table."
@check(points=0.5, hint=RESET_HINT)
def test_fetch_line_raises_connection_error_on_reset(lab):
    """fetch_line() raises a ConnectionError, and closes its socket, when the server resets mid-line"""
    # The reset waits until the student has read b"partial": a reset that overtook the
    # handshake would surface inside connect(), where even a leaky fetch_line has nothing to
    # leak, and one that overtook the data would spare a one-recv fetch_line its b"partial".
    server = serving(lab, [Send(b"partial"), AwaitRead(), Reset()])
    result = lab.call("fetch_line", *server.address, deadline=HANG_DEADLINE)
    lab.expect_raises(result, ConnectionError, hint=RESET_HINT)
    lab.expect_no_leaks(result, hint=CLOSE_HINT)
