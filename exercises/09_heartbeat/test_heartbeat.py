"""Public checks for stage 09: TCP keepalive, a pinger that keeps its schedule, a server that says BYE.

How these checks stay honest on a loaded machine is told in
graders/checking/stage_helpers/heartbeat.py: lower bounds where the contract says "never
earlier", an order where an order proves the point, and the few upper bounds seconds above
what a correct solution needs plus how late the grader's own timers ran meanwhile.

Every rule of exercises/09_heartbeat/README.md ("The task") has a check here that catches its
most common violation; each check names the README rule it relies on. The hidden checks add
depth (a real dead peer, IPv6, more clients), never a rule.
"""

import socket
import threading
import time

from graders.api import DEADLINE, HANG_DEADLINE, CallTimedOut, Failure, check
from graders.api import concurrency as rooms  # serving many clients: stage 08's helpers
from graders.api import heartbeat as shared  # what these checks share with the hidden ones

TCP_OPTIONS = ("TCP_KEEPIDLE", "TCP_KEEPINTVL", "TCP_KEEPCNT")

SERVE_HINT = ("Serve every connection at once; answer a line starting with 'PING ' with 'PONG ' and the rest of "
              "the line, any other line upper-cased (an unterminated last line at EOF too), then close at EOF.")
BYE_HINT = ("Give each connection a deadline: idle_timeout after its last COMPLETE line (or after accept). When it "
            "passes, send b'BYE idle\\n', then close. A thread can settimeout(deadline - now) before each recv; a "
            "selector loop can select(timeout=earliest deadline - now).")
SLOWLORIS_HINT = ("settimeout(idle_timeout) restarts with every recv(), so a client sending a byte now and then is "
                  "never idle to it. Keep the deadline yourself: move it only when a complete line arrives, and "
                  "wait each time only until that deadline (settimeout(deadline - now)).")
PING_COUNTS_HINT = ("A PING is a complete line: it moves the client's deadline like any other line. A client that "
                    "pings regularly is alive, never idle.")
EVENTS_HINT = ("Wake up for deadlines, not only for data: select(timeout=time until the EARLIEST deadline of any "
               "connection). Waiting with no timeout, or a fixed idle_timeout, notices a silent client only when "
               "some other event happens, or an idle_timeout too late.")
BAD_CLIENT_HINT = ("A reset, invalid UTF-8 or an over-long line ends that connection at once, without BYE (BYE is "
                   "for idleness only): catch OSError and ValueError per client, close it, go on.")


def _keepalive(lab, *args, **kwargs):
    """enable_keepalive on the student's end of a live connection; (result, the grader's copy)."""
    _, sock = lab.connection([])
    result = lab.call("enable_keepalive", sock, *args, **kwargs)
    return result, sock


def _tcp_options(sock: socket.socket) -> dict[str, int]:
    return {name: sock.getsockopt(socket.IPPROTO_TCP, getattr(socket, name)) for name in TCP_OPTIONS}


# -- enable_keepalive ---------------------------------------------------------------------------------
@check(points=1, hint=shared.KEEPALIVE_HINT)
def test_keepalive_turns_on_so_keepalive_and_the_tcp_options(lab):
    """enable_keepalive(sock, idle=30, interval=5, count=4) turns SO_KEEPALIVE on and sets the three TCP timers"""
    # README: "enable_keepalive" — SO_KEEPALIVE on (SOL_SOCKET), then at IPPROTO_TCP each option;
    # returns {constant name: value read back}; does not close sock.
    result, sock = _keepalive(lab, kwargs={"idle": 30, "interval": 5, "count": 4})
    value = lab.returned(result, hint=shared.KEEPALIVE_HINT)
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE):
        raise Failure("SO_KEEPALIVE is still off on the socket", expected="SO_KEEPALIVE = 1 (at SOL_SOCKET)",
                      actual="0: without it the kernel sends no keepalive probe, whatever the timers say",
                      hint=shared.KEEPALIVE_HINT)
    want = {"TCP_KEEPIDLE": 30, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 4}
    if _tcp_options(sock) != want:
        raise Failure("the TCP keepalive timers on the socket are not the ones asked for", expected=repr(want),
                      actual=repr(_tcp_options(sock)), hint=shared.KEEPALIVE_HINT)
    if value != want:
        raise Failure(f"{result.shown} returned the wrong dict", expected=repr(want), actual=repr(value),
                      hint="Return {constant name: sock.getsockopt(socket.IPPROTO_TCP, option)} for each TCP "
                           "option you set, read back from the socket (SO_KEEPALIVE is not among them).")
    lab.expect_args_open(result, hint="The socket is your caller's: set its options, never close it.")


@check(points=1, hint=shared.LEVEL_HINT)
def test_keepalive_sets_the_tcp_options_at_ipproto_tcp(lab):
    """enable_keepalive() leaves SO_DONTROUTE and SO_BROADCAST alone: the timers belong to IPPROTO_TCP"""
    # README: "enable_keepalive" — TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT are set at IPPROTO_TCP.
    result, sock = _keepalive(lab, kwargs={"idle": 30, "interval": 5, "count": 4})
    for name in ("SO_DONTROUTE", "SO_BROADCAST"):
        if sock.getsockopt(socket.SOL_SOCKET, getattr(socket, name)):
            raise Failure(f"{name} was turned on: a TCP option was set at SOL_SOCKET", expected=f"{name} = 0",
                          actual=f"{name} = 1 (SOL_SOCKET option {getattr(socket, name)} is the number of a TCP "
                                 "keepalive option)", hint=shared.LEVEL_HINT)
    lab.returned(result, hint=shared.LEVEL_HINT)
    if _tcp_options(sock) != {"TCP_KEEPIDLE": 30, "TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 4}:
        raise Failure("the TCP keepalive timers were not set at IPPROTO_TCP", expected="30, 5 and 4",
                      actual=repr(_tcp_options(sock)), hint=shared.LEVEL_HINT)


@check(points=1, hint=shared.PORTABLE_HINT)
def test_keepalive_leaves_out_options_the_platform_lacks(lab):
    """enable_keepalive() where socket has neither TCP_KEEPIDLE nor TCP_KEEPALIVE sets the other two and leaves it out"""
    # README: "enable_keepalive" — at IPPROTO_TCP each option the platform has; returns the ones it set.
    _, sock = lab.connection([])
    result = lab.call("enable_keepalive", sock, kwargs={"idle": 30, "interval": 5, "count": 4},
                      hide=["TCP_KEEPIDLE", "TCP_KEEPALIVE"])
    if result.status == "raised" and result.error.is_a(AttributeError):
        raise Failure(f"{result.shown} raised {result.error} on a platform without TCP_KEEPIDLE",
                      expected="the two options the platform has set, and returned", actual=str(result.error),
                      hint=shared.PORTABLE_HINT)
    value = lab.returned(result, hint=shared.PORTABLE_HINT)
    want = {"TCP_KEEPINTVL": 5, "TCP_KEEPCNT": 4}
    if value != want:
        raise Failure(f"{result.shown} returned the wrong dict where socket.TCP_KEEPIDLE does not exist",
                      expected=repr(want), actual=repr(value), hint=shared.PORTABLE_HINT)


@check(points=1, hint=shared.ARGUMENTS_HINT)
def test_keepalive_checks_its_arguments_first(lab):
    """enable_keepalive() raises ValueError for idle=0, interval=-1, count="5" and idle=2.5, touching nothing; idle=60 means 60 s"""
    # README: "enable_keepalive" — an argument that is not an int, or below 1, raises ValueError
    # before the socket is touched; the values are seconds.
    for kwargs in ({"idle": 0}, {"interval": -1}, {"count": "5"}, {"idle": 2.5}):
        result, sock = _keepalive(lab, kwargs=kwargs)
        lab.expect_raises(result, ValueError, hint=shared.ARGUMENTS_HINT)
        if sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE):
            raise Failure(f"{result.shown} turned SO_KEEPALIVE on before finding its argument bad",
                          expected="the socket untouched", actual="SO_KEEPALIVE = 1", hint=shared.ARGUMENTS_HINT)
    result, sock = _keepalive(lab, kwargs={"idle": 60, "interval": 10, "count": 5})
    lab.returned(result, hint=shared.ARGUMENTS_HINT)
    if sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) != 60:
        raise Failure("idle=60 was not set as 60 seconds", expected="TCP_KEEPIDLE = 60",
                      actual=str(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)), hint=shared.ARGUMENTS_HINT)


# -- ping ------------------------------------------------------------------------------------------------
def _ping(lab, policy, *, faults=False, deadline=DEADLINE, **arguments):
    """ping(sock, **arguments) on the student's end of a connection whose other end is a PongPeer;
    (the peer, the result, a moment before the call started)."""
    peer_sock, sock = lab.pair()
    sock.settimeout(7.5)  # a timeout of the caller's own, which ping must leave as it found it
    peer = shared.PongPeer(lab, peer_sock, policy)
    started = time.monotonic()  # before the call starts: no PING can leave earlier than this
    result = lab.call("ping", sock, kwargs=arguments, faults=faults, deadline=deadline)
    return peer, result, started


@check(points=1, hint=shared.SCHEDULE_HINT)
def test_ping_returns_the_round_trip_times(lab):
    """ping(sock, count=3, interval=0.1) to a peer that answers at once returns three round-trip times and keeps the socket"""
    # README: "ping" — returns the round-trip times in ping order; leaves sock open with its timeout
    # as it found it.
    peer, result, _ = _ping(lab, shared.Policy(), count=3, interval=0.1)
    times = lab.returned(result, hint=shared.SCHEDULE_HINT)
    if (not isinstance(times, list) or len(times) != 3
            or not all(isinstance(t, float) and 0 <= t <= result.elapsed for t in times)):
        raise Failure(f"{result.shown} did not return three round-trip times", expected="[t1, t2, t3]: floats, "
                      f"each between 0 and the {result.elapsed:.2f} s the call took", actual=repr(times),
                      hint=shared.SCHEDULE_HINT)
    if sorted(peer.pings) != ["1", "2", "3"]:
        raise Failure("the peer did not get PING 1, PING 2 and PING 3", expected="b'PING 1\\n' … b'PING 3\\n'",
                      actual=repr(sorted(peer.pings)), hint=shared.SCHEDULE_HINT)
    lab.expect_args_open(result, hint=shared.RESTORE_HINT)
    if result.arg_timeouts[:1] != [7.5]:
        raise Failure(f"{result.shown} changed the socket's timeout", expected="7.5 (as it was)",
                      actual=repr(result.arg_timeouts[:1]), hint=shared.RESTORE_HINT)


@check(points=1.5, hint=shared.SCHEDULE_HINT)
def test_ping_keeps_its_schedule_while_pongs_are_late(lab):
    """ping(count=4, interval=0.1, timeout=5) sends PING 2 while PONG 1 is still outstanding"""
    # README: "ping" — PING i at start + (i-1)*interval, never held back by PONGs still outstanding.
    peer, result, _ = _ping(lab, shared.Policy(hold_first=True), count=4, interval=0.1, timeout=5.0)
    # The order is the proof: the peer sends PONG 1 only once PING 2 has arrived (or after 3 s).
    if "2" not in peer.pings or "1" not in peer.pong_sent or peer.pings["2"] > peer.pong_sent["1"]:
        raise Failure("PING 2 waited for PONG 1", expected="PING 2 sent 0.1 s after PING 1, while PONG 1 was still "
                      "outstanding", actual="the peer held PONG 1 back for 3 s and PING 2 came only after it"
                      if "1" in peer.pong_sent else "no PING 2", hint=shared.SCHEDULE_HINT)
    lab.returned(result, hint=shared.SCHEDULE_HINT)


@check(points=1, hint=shared.PACING_HINT)
def test_ping_paces_its_pings(lab):
    """ping(count=4, interval=0.1) sends PING i no earlier than (i-1)*0.1 s after it started"""
    # README: "ping" — sends PING i at start + (i-1)*interval, never earlier.
    peer, result, started = _ping(lab, shared.Policy(), count=4, interval=0.1)
    lab.returned(result, hint=shared.PACING_HINT)
    for i in range(1, 5):
        arrived = peer.pings.get(str(i))
        # A lower bound only: a PING arrives after it was sent, which is after its moment.
        if arrived is None or arrived - started < (i - 1) * 0.1 - 0.02:
            raise Failure(f"PING {i} came too early", expected=f"no earlier than {(i - 1) * 0.1:.1f} s after the call "
                          "started", actual=f"{(arrived - started) * 1000:.0f} ms after" if arrived else "never",
                          hint=shared.PACING_HINT)


@check(points=1, hint=shared.DEAF_HINT)
def test_ping_answers_the_peers_ping_at_once(lab):
    """ping(count=2, interval=3.0) answers the peer's own "PING x" within about a second, not after its interval"""
    # README: "ping" — meanwhile reads: a PING <t> from the peer is answered at once.
    lateness = shared.Lateness()
    peer, result, _ = _ping(lab, shared.Policy(ping_after_first="x"), count=2, interval=3.0)
    worst = lateness.stop()
    lab.returned(result, hint=shared.DEAF_HINT)
    asked, answered = peer.asked.get("x"), peer.answers.get("x")
    # Why 1 s (plus how late the grader's own timers ran): a correct pinger answers in
    # milliseconds; one asleep in time.sleep(3.0) answers three seconds later.
    limit = 1.0 + worst
    if asked is None or answered is None or answered - asked > limit:
        raise Failure("the peer's PING x was not answered at once", expected=f"b'PONG x\\n' within {limit:.1f} s",
                      actual=f"after {answered - asked:.1f} s" if asked and answered else "never",
                      hint=shared.DEAF_HINT)


@check(points=1.5, hint=shared.TIMEOUT_HINT)
def test_ping_raises_timeout_when_the_peer_goes_silent(lab):
    """ping(count=3, interval=0.3, timeout=0.5) raises TimeoutError when PONG 3 never comes, not before PING 3 + 0.5 s"""
    # README: "ping" — a PONG not arrived timeout seconds after its PING raises TimeoutError no
    # earlier than that moment and within 0.5 s after it.
    try:
        peer, result, _ = _ping(lab, shared.Policy(answer=2), count=3, interval=0.3, timeout=0.5,
                                deadline=HANG_DEADLINE)
    except CallTimedOut as exc:
        raise CallTimedOut(f"{exc.message}: the peer stopped answering after PONG 2, and ping() kept waiting; it "
                           "should have raised TimeoutError 0.5 s after PING 3", hint=shared.TIMEOUT_HINT) from None
    lab.expect_raises(result, TimeoutError, hint=shared.TIMEOUT_HINT)
    # PING 3 left no earlier than 0.6 s after the call began: its deadline is no earlier than 1.1 s.
    if result.elapsed < 0.6 + 0.5 - 0.02:
        raise Failure(f"{result.shown} raised TimeoutError too early", expected="no earlier than 1.1 s after the "
                      "call started (PING 3 at 0.6 s, plus the 0.5 s timeout)", actual=f"{result.elapsed:.2f} s",
                      hint=shared.TIMEOUT_HINT)


@check(points=1, hint=shared.FRAMING_HINT)
def test_ping_reads_pongs_glued_to_other_lines(lab):
    r"""ping(count=3, interval=0.1) in short reads gets b"PONG 1\nNEWS x\nPONG 2\n" in one segment and returns three times"""
    # README: "ping" — PONG <i> records a round-trip time; other lines are ignored.
    peer, result, _ = _ping(lab, shared.Policy(glue=True), count=3, interval=0.1, timeout=2.0,
                            faults=True)
    times = lab.returned(result, hint=shared.FRAMING_HINT)
    if not isinstance(times, list) or len(times) != 3:
        raise Failure(f"{result.shown} did not return three round-trip times", expected="[t1, t2, t3]",
                      actual=repr(times), hint=shared.FRAMING_HINT)
    if result.arg_timeouts[:1] != [7.5]:
        raise Failure(f"{result.shown} changed the socket's timeout", expected="7.5 (as it was)",
                      actual=repr(result.arg_timeouts[:1]), hint=shared.RESTORE_HINT)


@check(points=1, hint=shared.BOGUS_HINT)
def test_ping_rejects_a_pong_for_no_ping(lab):
    """ping(count=2) raises ValueError for "PONG 9" while only ping 1 is out, and for PONG 1 answered twice"""
    # README: "ping" — a PONG whose token is not the number of an outstanding ping (answered
    # already, not sent yet, or not a number) raises ValueError.
    for bogus in (b"PONG 9\n", b"PONG 1\nPONG 1\n", b"PONG one\n"):
        _, result, _ = _ping(lab, shared.Policy(after_first=bogus), count=2, interval=1.0, timeout=2.0)
        lab.expect_raises(result, ValueError, hint=shared.BOGUS_HINT)


@check(points=1, hint=shared.EOF_HINT)
def test_ping_raises_eof_when_the_peer_closes(lab):
    """ping(count=3, interval=0.1) raises EOFError when the peer closes after PONG 1"""
    # README: "ping" — EOF raises EOFError.
    _, result, _ = _ping(lab, shared.Policy(close_after=1), count=3, interval=0.1, timeout=2.0,
                         deadline=HANG_DEADLINE)
    lab.expect_raises(result, EOFError, hint=shared.EOF_HINT)


# -- serve_heartbeat ---------------------------------------------------------------------------------------
@check(points=1, hint=SERVE_HINT)
def test_heartbeat_answers_pings_and_lines(lab):
    """serve_heartbeat(listener, 2) answers "PING abc" with "PONG abc", other lines upper-cased, while another client is silent"""
    # README: "serve_heartbeat" — all connections at once; a line that starts with "PING " is answered
    # "PONG <t>"; any other line, including an unterminated last line before EOF, upper-cased.
    server = rooms.Server(lab, "serve_heartbeat", 2, faults=True, idle_timeout=30.0)
    b = server.member("client B")  # connected first, silent until A has been answered
    a = server.member("client A")
    a.send(b"PING abc\nhello\nping x\nPING \xc3\xa9t\xc3\xa9 1\nlast")
    a.leave("eof")
    server.until(lambda: a.ended, "client A was answered and closed while client B was connected and silent",
                 hint=SERVE_HINT, actual=lambda: f"client A got {rooms.shown_lines(a)}")
    b.send(b"PINGX\nPING 7\n")
    b.leave("eof")
    for client in (a, b):
        server.until(lambda c=client: c.ended, f"{client.name} was answered and closed after its EOF",
                     hint=SERVE_HINT, actual=lambda c=client: f"{c.name} got {rooms.shown_lines(c)}")
    result = server.finish("after its clients", hint=SERVE_HINT)
    for client, want in ((a, ["PONG abc", "HELLO", "PING X", "PONG été 1", "LAST"]), (b, ["PINGX", "PONG 7"])):
        if client.texts() != want:
            raise Failure(f"{client.name} got the wrong answers", expected=repr(want),
                          actual=rooms.shown_lines(client), hint=SERVE_HINT)
    server.expect_clean(result)


@check(points=1.5, hint=BYE_HINT)
def test_heartbeat_says_bye_to_an_idle_client(lab):
    """serve_heartbeat(listener, 1, idle_timeout=0.5) sends a silent client b"BYE idle\\n" after 0.5 s, then closes"""
    # README: "serve_heartbeat" — a client with no complete line for idle_timeout seconds gets
    # "BYE idle\n" and is closed, idle_timeout after it was accepted, never before.
    server = rooms.Server(lab, "serve_heartbeat", 1, idle_timeout=0.5)
    connected = time.monotonic()
    silent = server.member("silent")
    # Why 3 s: a correct server says BYE 0.5 s after the accept; one without a deadline never does.
    server.until(lambda: silent.ended, "the silent client was told BYE and closed", timeout=3.0, hint=BYE_HINT,
                 actual=lambda: f"it got {rooms.shown_lines(silent)} and was still connected")
    server.finish("after its client", hint=BYE_HINT)
    if silent.texts() != ["BYE idle"]:
        raise Failure("the idle client was closed without b'BYE idle\\n' before the close",
                      expected="['BYE idle'], then EOF", actual=rooms.shown_lines(silent), hint=BYE_HINT)
    said = silent.lines[0][0] - connected
    if said < 0.5 - 0.01:  # the server accepted after the connect: its BYE cannot be due earlier
        raise Failure("BYE came too early", expected="no earlier than 0.5 s after the client connected",
                      actual=f"{said:.2f} s", hint=BYE_HINT)


@check(points=1, hint=SLOWLORIS_HINT)
def test_heartbeat_partial_lines_do_not_count(lab):
    """serve_heartbeat(idle_timeout=0.5) says BYE to a client that sends a byte every 0.2 s and never a newline"""
    # README: "serve_heartbeat" — a partial line does not count: no complete line for idle_timeout
    # seconds gets "BYE idle\n".
    server = rooms.Server(lab, "serve_heartbeat", 1, idle_timeout=0.5)
    slow = server.member("slowloris")
    stop = threading.Event()

    def drip() -> None:  # a byte every 0.2 s, never a newline, until the server ends it
        while not stop.wait(0.2) and slow.ended is None:
            if not slow.send(b"x"):
                return

    threading.Thread(target=drip, daemon=True).start()
    try:
        server.until(lambda: slow.ended, "the client that never finished a line was told BYE", timeout=3.0,
                     hint=SLOWLORIS_HINT, actual=lambda: "it was still connected after 3 s of single bytes")
    finally:
        stop.set()
    server.finish("after its client", hint=BYE_HINT)
    if slow.texts() != ["BYE idle"]:
        raise Failure("the slowloris was closed without b'BYE idle\\n'", expected="['BYE idle'], then EOF",
                      actual=rooms.shown_lines(slow), hint=BYE_HINT)


@check(points=1, hint=PING_COUNTS_HINT)
def test_heartbeat_pings_keep_a_client(lab):
    """serve_heartbeat(idle_timeout=1.0) never says BYE to a client that sends "PING <n>" every 0.15 s for 2.5 s"""
    # README: "serve_heartbeat" — a PING is a complete line: it counts as activity.
    server = rooms.Server(lab, "serve_heartbeat", 1, idle_timeout=1.0)
    pinger = server.member("pinger")
    sent: list[float] = []
    pause = threading.Event()
    end = time.monotonic() + 2.5
    n = 0
    while time.monotonic() < end and pinger.ended is None and not server.pending.done():
        n += 1
        sent.append(time.monotonic())
        pinger.say(f"PING {n}")
        pause.wait(0.15)
    # A BYE is the server's mistake only if this client really kept talking: if the grader itself
    # was held up for a whole idle_timeout between two PINGs, a BYE was deserved.
    gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    if pinger.ended is not None and "BYE idle" in pinger.texts() and max(gaps, default=0) < 1.0 - 0.05:
        bye_at = next(t for t, line in pinger.lines if line == b"BYE idle") - sent[0]
        raise Failure("a client that sent a PING every 0.15 s was told BYE", expected="no BYE: a PING is a line",
                      actual=f"BYE {bye_at:.2f} s after its first PING (the longest gap between PINGs was "
                             f"{max(gaps):.2f} s)", hint=PING_COUNTS_HINT)
    pinger.leave("eof")
    server.until(lambda: pinger.ended, "the pinger was closed after its EOF", hint=SERVE_HINT)
    server.finish("after its client", hint=SERVE_HINT)
    pongs = [t for t in pinger.texts() if t.startswith("PONG ")]
    if pongs != [f"PONG {i}" for i in range(1, n + 1)] and "BYE idle" not in pinger.texts():
        raise Failure("the pinger did not get a PONG for each PING", expected=f"PONG 1 … PONG {n}",
                      actual=rooms.shown_lines(pinger), hint=SERVE_HINT)


@check(points=1.5, hint=EVENTS_HINT)
def test_heartbeat_deadlines_without_events(lab):
    """serve_heartbeat(listener, 2, idle_timeout=1.0): silent A gets BYE at 1 s though B's line at 0.9 s was the last event"""
    # README: "serve_heartbeat" — BYE idle_timeout after the last complete line (or the accept),
    # never before and within 0.5 s after.
    server = rooms.Server(lab, "serve_heartbeat", 2, idle_timeout=1.0)
    lateness = shared.Lateness()
    connected = time.monotonic()
    a = server.member("silent A")
    b = server.member("client B")
    server.pause(0.9, "client B's line, 0.9 s in", hint=SERVE_HINT)  # the scenario itself
    b.say("one line")
    try:
        server.until(lambda: a.ended, "silent A was told BYE", timeout=4.0, hint=EVENTS_HINT,
                     actual=lambda: "A was still connected 4 s later: its deadline was never looked at")
    finally:
        worst = lateness.stop()
    b.leave("eof")
    server.finish("after its clients", hint=BYE_HINT)
    if a.texts() != ["BYE idle"]:
        raise Failure("A was closed without b'BYE idle\\n'", expected="['BYE idle'], then EOF",
                      actual=rooms.shown_lines(a), hint=BYE_HINT)
    said = a.lines[0][0] - connected
    # Why 1.6 s (plus how late the grader's own timers ran): due at 1.0 s, the contract allows
    # 0.5 s more; a loop that waits a fixed idle_timeout from B's line says it at 1.9 s.
    limit = 1.6 + worst
    if said < 1.0 - 0.01 or said > limit:
        raise Failure("A's BYE did not come when its deadline passed", expected=f"between 1.0 and {limit:.2f} s "
                      "after A connected", actual=f"{said:.2f} s", hint=EVENTS_HINT)


@check(points=1, hint=BAD_CLIENT_HINT)
def test_heartbeat_closes_bad_clients_without_bye(lab):
    r"""serve_heartbeat(listener, 4, max_line=64) closes clients that reset, send b"\xff\n" or 100 bytes, without BYE"""
    # README: "serve_heartbeat" — reset, invalid UTF-8 or an over-long line: closed without BYE.
    server = rooms.Server(lab, "serve_heartbeat", 4, max_line=64, idle_timeout=3.0)
    good = server.member("good")
    resetter, garbler, endless = (server.member(n) for n in ("resetter", "garbler", "endless"))
    resetter.say("ok")
    server.until(lambda: resetter.lines or resetter.ended, "the resetter got its answer", hint=SERVE_HINT)
    resetter.leave("reset")
    garbler.send(b"\xff\xfe\n")
    endless.send(b"x" * 100)
    for client, how in ((garbler, "invalid UTF-8"), (endless, "100 bytes without a newline")):
        server.until(lambda c=client: c.ended, f"the client that sent {how} was closed", hint=BAD_CLIENT_HINT,
                     actual=lambda c=client: f"it got {rooms.shown_lines(c)} and was still connected")
        if "BYE idle" in client.texts():
            raise Failure(f"the client that sent {how} was told BYE", expected="closed without BYE",
                          actual=rooms.shown_lines(client), hint=BAD_CLIENT_HINT)
    good.say("PING 1")
    server.until(lambda: good.lines or good.ended, "the good client got its PONG", hint=SERVE_HINT)
    good.leave("eof")
    server.finish("because of a bad client", hint=BAD_CLIENT_HINT)


@check(points=1, hint=rooms.RETURNED_EARLY_HINT)
def test_heartbeat_returns_and_leaves_nothing_behind(lab):
    """serve_heartbeat(listener, 2) runs until both clients ended, then returns with no thread alive and no socket open"""
    # README: "serve_heartbeat" — return and clean-up as in stage 08.
    server = rooms.Server(lab, "serve_heartbeat", 2)
    a, b = server.answered(["PING 1", "hi"], hint=SERVE_HINT)
    a.leave("eof")
    server.until(lambda: a.ended, "client 1 was closed after its EOF", hint=SERVE_HINT)
    server.still_running("after one of its two clients had left")
    b.leave("eof")
    server.expect_clean(server.finish("after both clients left", hint=SERVE_HINT))


@check(points=1, hint=rooms.BUSY_HINT)
def test_heartbeat_idle_server_uses_no_cpu(lab):
    """serve_heartbeat(idle_timeout=3.0) with three silent clients sleeps until a deadline: no busy loop, no polling"""
    # README: "serve_heartbeat" — return and clean-up as in stage 08, where an idle server uses no
    # CPU (no busy loop, no wake-ups more often than every 50 ms).
    server = rooms.Server(lab, "serve_heartbeat", 3, idle_timeout=3.0)
    server.answered(["hi", "PING 2", "hi"], hint=SERVE_HINT)
    server.expect_idle("its three clients were silent, their deadlines seconds away")
    server.end_all()
    server.finish("after its clients left", hint=SERVE_HINT)
