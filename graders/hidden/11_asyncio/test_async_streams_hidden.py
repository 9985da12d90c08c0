"""Hidden checks for stage 11: IPv6, short reads and writes (the seeded faults reach asyncio's
transports, which call socket.recv and send), more clients, pipelined lines.

Each check tests a sentence of exercises/11_asyncio/README.md, named in its comment, and a public
check already catches that rule's most common violation: these add depth, never a rule.
"""

import socket

from graders.api import Close, Failure, Recv, Send, check, encode_frame
from graders.api import async_streams as shared  # what the public checks of this stage use too
from graders.api import concurrency as rooms  # serving many clients: stage 08's helpers


@check(points=1, hint=shared.REQUEST_HINT)
def test_request_lines_over_ipv6_in_short_reads(lab):
    """request_lines("::1", ...) returns every reply in order when reads and writes come up short"""
    # README: "request_lines" — one connection; one reply line per request, in order.
    peer = shared.UpperPeer(lab, family=socket.AF_INET6)
    lines = [f"ligne {i} é" for i in range(40)]
    result = lab.call("request_lines", "::1", peer.port, lines, kwargs={"timeout": 10.0}, faults=True, deadline=20.0)
    lab.expect_equal(result, [line.upper() for line in lines], hint=shared.REQUEST_HINT)
    lab.expect_no_leaks(result, hint=shared.CLOSE_HINT)


@check(points=1, hint=shared.FRAME_HINT)
def test_fetch_frame_over_ipv6(lab):
    """fetch_frame("::1", ...) returns the reply frame, and only it, when another frame follows it"""
    # README: "fetch_frame" — returns the frame that comes back (read with readexactly).
    reply = bytes(range(256)) * 8
    server = lab.server([Recv(4 + 5), Send(encode_frame(reply) + encode_frame(b"next")), Close()],
                        family=socket.AF_INET6)
    result = lab.call("fetch_frame", "::1", server.address[1], b"hello", kwargs={"timeout": 10.0}, faults=True,
                      deadline=20.0)
    lab.expect_equal(result, reply, hint=shared.FRAME_HINT)
    lab.expect_no_leaks(result, hint=shared.CLOSE_HINT)


@check(points=1, hint=shared.SERVE_HINT)
def test_serve_upper_many_clients_over_ipv6(lab):
    """serve_upper(listener, 8) over IPv6 answers eight clients talking in turns, in short reads and writes"""
    # README: "serve_upper" — accepts exactly `clients` connections, all at once; each line answered.
    server = rooms.Server(lab, "serve_upper", 8, family=socket.AF_INET6, faults=True, idle_timeout=30.0)
    clients = [server.member(f"client {i}") for i in range(1, 9)]
    for turn in range(3):
        for client in clients:
            client.say(f"{client.name} turn {turn}")
        for client in clients:
            server.until(lambda c=client, t=turn: len(c.lines) > t or c.ended, f"{client.name} got answer {turn + 1}",
                         hint=shared.SERVE_HINT)
    server.end_all()
    for client in clients:
        server.until(lambda c=client: c.ended, f"{client.name} was closed after its EOF", hint=shared.SERVE_HINT)
    result = server.finish("after its clients", hint=shared.SERVE_HINT)
    for client in clients:
        want = [f"{client.name.upper()} TURN {t}" for t in range(3)]
        if client.texts() != want:
            raise Failure(f"{client.name} got the wrong answers", expected=repr(want),
                          actual=rooms.shown_lines(client), hint=shared.SERVE_HINT)
    shared.expect_ended(server, result)


@check(points=1, hint=shared.SERVE_HINT)
def test_serve_upper_pipelined_lines_in_short_reads(lab):
    """serve_upper() answers 300 lines sent in one go, in order, when reads and writes come up short"""
    # README: "serve_upper" — each line answered upper-cased, then drained; stage 07 rules.
    server = rooms.Server(lab, "serve_upper", 1, faults=True, idle_timeout=30.0)
    client = server.member("client", log_lines=False)
    lines = [f"pipelined {i}" for i in range(300)]
    client.send("".join(line + "\n" for line in lines).encode())
    server.until(lambda: len(client.lines) >= 300 or client.ended, "all 300 lines were answered",
                 hint=shared.SERVE_HINT, actual=lambda: f"{len(client.lines)} answers")
    client.leave("eof")
    server.until(lambda: client.ended, "the client was closed after its EOF", hint=shared.SERVE_HINT)
    server.finish("after its client", hint=shared.SERVE_HINT)
    if client.texts() != [line.upper() for line in lines]:
        raise Failure("the pipelined lines were not answered in order", expected="PIPELINED 0 … PIPELINED 299",
                      actual=rooms.shown_lines(client), hint=shared.SERVE_HINT)
