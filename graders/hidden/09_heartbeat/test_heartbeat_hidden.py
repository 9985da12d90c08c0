"""Hidden checks for stage 09: a peer that really dies, IPv6, short reads, deadlines of their own.

As in the public checks (graders/checking/stage_helpers/heartbeat.py tells how), times are
bounded from below where the contract says "never before", and from above only by seconds.

Each check tests a sentence of exercises/09_heartbeat/README.md, named in its comment, and a
public check already catches that rule's most common violation: these add depth, never a rule.
"""

import socket
import time

from graders.api import Failure, check
from graders.api import concurrency as rooms  # serving many clients: stage 08's helpers
from graders.api import heartbeat as shared  # what the public checks of this stage use too

DEAD_PEER_HINT = ("Set the options on the socket you were given (not a new one), SO_KEEPALIVE included: only then "
                  "does the kernel probe a silent peer and, when nobody answers, fail the connection with "
                  "ETIMEDOUT (errno 110).")
DEADLINE_HINT = ("Each client has a deadline of its own: idle_timeout after ITS last complete line. Wait for the "
                 "earliest of them, and say BYE to each client when its own deadline passes.")


@check(points=1, hint=DEAD_PEER_HINT)
def test_keepalive_finds_a_dead_peer(lab):
    """after enable_keepalive(sock, idle=1, interval=1, count=2), a connection whose network dies fails with ETIMEDOUT in about 3 s"""
    # README: "enable_keepalive" — SO_KEEPALIVE on, then TCP_KEEPIDLE = idle, TCP_KEEPINTVL =
    # interval, TCP_KEEPCNT = count: the kernel's probes find a dead peer.
    network = shared.DeadNetwork.make()
    if network is None:
        # Nothing can die here: what makes keepalive work, the options on this very socket, is checked instead.
        lab.transcript.add("grader", f"no throwaway network: {shared.DeadNetwork.why_not}; reading the options")
        _, sock = lab.connection([])
        result = lab.call("enable_keepalive", sock, kwargs={"idle": 1, "interval": 1, "count": 2})
        lab.returned(result, hint=DEAD_PEER_HINT)
        if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE):
            raise Failure("SO_KEEPALIVE is off on the socket", expected="SO_KEEPALIVE = 1", actual="0",
                          hint=DEAD_PEER_HINT)
        return
    lab.adopt(network)
    lab.transcript.add("grader", "a connection in a network namespace of its own")
    result = lab.call("enable_keepalive", network.near, kwargs={"idle": 1, "interval": 1, "count": 2})
    lab.returned(result, hint=DEAD_PEER_HINT)
    network.cut()
    lab.transcript.add("grader", "took the network down: from now on nothing crosses; reading for 8 s")
    network.near.settimeout(8.0)  # the grader's own copy: keepalive gives up after 1 + 2 * 1 = 3 s
    started = time.monotonic()
    try:
        network.near.recv(1)
    except OSError as exc:
        waited = time.monotonic() - started
        lab.transcript.add("grader", f"recv raised {type(exc).__name__} (errno {exc.errno}) after {waited:.2f} s")
        if exc.errno == 110:
            return
        raise Failure("the dead connection was not found by keepalive", expected="recv fails with ETIMEDOUT "
                      "(errno 110) about 3 s after the network died", actual=f"only the grader's own 8 s timeout "
                      f"ended the wait ({exc})" if exc.errno is None else str(exc), hint=DEAD_PEER_HINT) from None
    raise Failure("recv on the dead connection returned", expected="ETIMEDOUT", hint=DEAD_PEER_HINT)


@check(points=1, hint=shared.SCHEDULE_HINT)
def test_ping_over_ipv6_in_short_reads(lab):
    """ping(count=4, interval=0.1) over IPv6, in short reads, with PONGs 0.2 s late, returns four round-trip times"""
    # README: "ping" — PING i at start + (i-1)*interval, never held back by outstanding PONGs;
    # returns the round-trip times in ping order.
    peer_sock, sock = lab.pair(socket.AF_INET6)
    peer = shared.PongPeer(lab, peer_sock, shared.Policy(delay=0.2))
    started = time.monotonic()
    result = lab.call("ping", sock, kwargs={"count": 4, "interval": 0.1, "timeout": 3.0}, faults=True)
    times = lab.returned(result, hint=shared.SCHEDULE_HINT)
    if not isinstance(times, list) or len(times) != 4 or not all(isinstance(t, float) and t >= 0.2 - 0.01
                                                                 for t in times):
        raise Failure(f"{result.shown} did not return four round-trip times of at least 0.2 s",
                      expected="four floats, each >= 0.2 (the peer held every PONG back 0.2 s)", actual=repr(times),
                      hint=shared.SCHEDULE_HINT)
    for i in range(1, 5):
        arrived = peer.pings.get(str(i))
        if arrived is None or arrived - started < (i - 1) * 0.1 - 0.02:
            raise Failure(f"PING {i} came too early or never", expected=f"no earlier than {(i - 1) * 0.1:.1f} s",
                          actual="never" if arrived is None else f"{arrived - started:.2f} s", hint=shared.PACING_HINT)
    if peer.pings["2"] > peer.pong_sent.get("1", float("inf")):
        raise Failure("PING 2 waited for PONG 1", expected="PING 2 0.1 s after PING 1, PONG 1 still outstanding",
                      hint=shared.SCHEDULE_HINT)


@check(points=1, hint=DEADLINE_HINT)
def test_heartbeat_many_clients_with_their_own_deadlines(lab):
    """serve_heartbeat(listener, 4, idle_timeout=0.6) says BYE to each client no earlier than 0.6 s after its own last line"""
    # README: "serve_heartbeat" — BYE idle_timeout after the client's last complete line, never before.
    server = rooms.Server(lab, "serve_heartbeat", 4, idle_timeout=0.6)
    clients = [server.member(f"client {i}") for i in range(4)]
    last_line: dict[str, float] = {}
    for i, client in enumerate(clients):  # client i's last complete line comes 0.15 * i s in, with a stray byte
        if i:
            server.pause(0.15, f"{client.name}'s line", hint=DEADLINE_HINT)
        last_line[client.name] = time.monotonic()
        client.send(f"line {i}\n".encode() + b"x")
    for client in clients:
        server.until(lambda c=client: c.ended, f"{client.name} was told BYE", timeout=4.0, hint=DEADLINE_HINT)
    server.expect_clean(server.finish("after its clients", hint=DEADLINE_HINT))
    for i, client in enumerate(clients):
        if client.texts() != [f"LINE {i}", "BYE idle"]:
            raise Failure(f"{client.name} did not get its answer and then BYE", expected=repr([f"LINE {i}", "BYE idle"]),
                          actual=rooms.shown_lines(client), hint=DEADLINE_HINT)
        bye = client.lines[1][0] - last_line[client.name]
        if bye < 0.6 - 0.01:  # the server read the line after it was sent: BYE cannot be due earlier
            raise Failure(f"{client.name} was told BYE too early", expected="no earlier than 0.6 s after its last "
                          "line", actual=f"{bye:.2f} s after it", hint=DEADLINE_HINT)


@check(points=1, hint=shared.FRAMING_HINT)
def test_heartbeat_over_ipv6_in_short_reads(lab):
    """serve_heartbeat() on an IPv6 listener, in short reads and writes, answers PINGs and lines and says BYE"""
    # README: "serve_heartbeat" — PING answered PONG, other lines upper-cased, BYE when idle.
    server = rooms.Server(lab, "serve_heartbeat", 2, faults=True, family=socket.AF_INET6, idle_timeout=0.5)
    talker, sleeper = server.member("talker"), server.member("sleeper")
    talker.dribble("PING ünï 1\nhéllo\n".encode())
    server.until(lambda: len(talker.lines) >= 2 or talker.ended, "the talker got its two answers",
                 hint=shared.FRAMING_HINT)
    talker.leave("eof")
    server.until(lambda: sleeper.ended, "the sleeper was told BYE", timeout=4.0, hint=DEADLINE_HINT)
    server.finish("after its clients", hint=DEADLINE_HINT)
    if talker.texts()[:2] != ["PONG ünï 1", "HÉLLO"]:
        raise Failure("the talker got the wrong answers", expected="['PONG ünï 1', 'HÉLLO']",
                      actual=rooms.shown_lines(talker), hint=shared.FRAMING_HINT)
    if sleeper.texts() != ["BYE idle"]:
        raise Failure("the sleeper did not get BYE before the close", expected="['BYE idle']",
                      actual=rooms.shown_lines(sleeper), hint=DEADLINE_HINT)
