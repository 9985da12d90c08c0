"""Public checks for stage 11: asyncio streams that read while they write, time out, close, and a server that drains.

The grader runs each coroutine function with asyncio.run() (graders/engine/coroutines.py), in
the worker as in a notebook. Its peers are threads with blocking sockets; how the checks stay
honest on a loaded machine is told in graders/checking/stage_helpers/async_streams.py.

Every rule of exercises/11_asyncio/README.md ("The task") has a check here that catches its
most common violation; each check names the README rule it relies on. The hidden checks add
depth (IPv6, short reads, more clients), never a rule.
"""

import threading
import time

from graders.api import Close, Failure, Recv, RecvLine, Send, Stall, check, dribble, encode_frame
from graders.api import async_streams as shared  # what these checks share with the hidden ones
from graders.api import concurrency as rooms  # serving many clients: stage 08's helpers


def _replies_or_fail(lab, result, want, hint):
    value = lab.returned(result, hint=hint)
    if value != want:
        shown = value if not isinstance(value, list) or len(value) < 6 else f"{len(value)} replies, starting {value[:3]}"
        raise Failure(f"{result.shown} returned the wrong replies", expected=repr(want) if len(want) < 6 else
                      f"{len(want)} replies, starting {want[:3]}", actual=repr(shown), hint=hint)


def _frame_server(lab, *script):
    server = lab.server(list(script))
    return server, server.address


# -- request_lines ----------------------------------------------------------------------------------
@check(points=1, hint=shared.REQUEST_HINT)
def test_request_lines_returns_one_reply_per_line(lab):
    """request_lines(host, port, ["hello", "café", "a b"]) returns the three replies in order"""
    # README: "request_lines" — one connection; sends each line + "\n", returns one reply line per
    # request, in order; writer closed on every path.
    peer = shared.UpperPeer(lab)
    result = shared.request(lab, peer, ["hello", "café", "a b"])
    _replies_or_fail(lab, result, ["HELLO", "CAFÉ", "A B"], shared.REQUEST_HINT)
    lab.expect_no_leaks(result, hint=shared.CLOSE_HINT)


@check(points=1.5, hint=shared.PIPELINE_HINT)
def test_request_lines_reads_while_it_writes(lab):
    """request_lines() gets every reply to 8 MB of request lines from a server with 4 KB buffers"""
    # README: "request_lines" — the lines may add up to megabytes: keep reading while you write.
    peer = shared.UpperPeer(lab, small=True)
    count = shared.PIPELINE_BYTES // 1024
    lines = [f"{i:07d}" + "x" * 1016 for i in range(count)]
    # Why timeout 20 s: a client that reads as it writes is done in well under a second; one that
    # writes everything first is stuck for good once the buffers are full, and times out.
    result = shared.request(lab, peer, lines, timeout=20.0, deadline=30.0)
    if result.status == "raised" and result.error.is_a("TimeoutError"):
        raise Failure(f"{result.shown} timed out: it wrote without reading, and both sides got stuck",
                      expected=f"{count} replies", actual=f"the server had read {peer.bytes_read / 1e6:.1f} MB "
                      f"({peer.lines} lines), then stopped: its answers were not read", hint=shared.PIPELINE_HINT)
    value = lab.returned(result, hint=shared.PIPELINE_HINT)
    if not isinstance(value, list) or len(value) != count or value[:1] != [lines[0].upper()] or value[-1:] != [
            lines[-1].upper()]:
        raise Failure(f"{result.shown} did not return one reply per request", expected=f"{count} replies",
                      actual=f"{len(value) if isinstance(value, list) else value!r}", hint=shared.PIPELINE_HINT)


@check(points=1, hint=shared.TIMEOUT_HINT)
def test_request_lines_raises_the_builtin_timeout(lab):
    """request_lines(timeout=0.5) raises the builtin TimeoutError when the server never answers"""
    # README: "request_lines" — timeout bounds the whole exchange and raises the builtin TimeoutError
    # (on 3.10 convert asyncio.TimeoutError); closing may take up to 1 s beyond timeout.
    server = lab.server([RecvLine(), Stall()])
    started = time.monotonic()
    result = lab.call("request_lines", *server.address, ["anyone?"], kwargs={"timeout": 0.5}, deadline=8.0)
    took = time.monotonic() - started
    error = lab.expect_raises(result, "TimeoutError", hint=shared.TIMEOUT_HINT)
    if "OSError" not in error.class_names:
        raise Failure(f"{result.shown} raised asyncio's TimeoutError, not the builtin one",
                      expected="TimeoutError (an OSError)", actual=f"{error.type} ({' → '.join(error.class_names)})",
                      hint=shared.TIMEOUT_HINT)
    if took < 0.5 - 0.05:
        raise Failure(f"{result.shown} gave up after {took:.2f} s, before its timeout", expected="about 0.5 s",
                      hint=shared.TIMEOUT_HINT)
    lab.expect_no_leaks(result, hint=shared.CLOSE_HINT)


@check(points=1, hint=shared.PARTIAL_HINT)
def test_request_lines_raises_eof_on_a_partial_reply(lab):
    """request_lines() raises EOFError when the server answers b"HEL" and closes"""
    # README: "request_lines" — an early close raises EOFError.
    server = lab.server([RecvLine(), Send(b"HEL"), Close()])
    result = lab.call("request_lines", *server.address, ["hello"], kwargs={"timeout": 3.0})
    lab.expect_raises(result, EOFError, hint=shared.PARTIAL_HINT)
    lab.expect_no_leaks(result, hint=shared.CLOSE_HINT)


@check(points=1, hint=shared.LIMIT_HINT)
def test_request_lines_rejects_an_over_long_reply(lab):
    """request_lines() returns a reply of 65536 bytes, and raises ValueError for one of 65537"""
    # README: "request_lines" — reply lines are at most 65536 bytes; a longer one raises ValueError.
    longest = shared.UpperPeer(lab, reply=b"y" * 65536 + b"\n", name="server 1")
    result = shared.request(lab, longest, ["long"])
    value = lab.returned(result, hint=shared.LIMIT_HINT)
    if value != ["y" * 65536]:
        raise Failure(f"{result.shown} did not return the 65536-byte reply", expected="['yyy…'] (65536 bytes)",
                      actual=repr(value)[:80], hint=shared.LIMIT_HINT)
    longer = shared.UpperPeer(lab, reply=b"y" * 65537 + b"\n", name="server 2")
    result = shared.request(lab, longer, ["longer"])
    lab.expect_raises(result, ValueError, hint=shared.LIMIT_HINT)
    lab.expect_no_leaks(result, hint=shared.CLOSE_HINT)


@check(points=1.5, hint=shared.CLOSE_HINT)
def test_request_lines_closes_on_every_path(lab):
    """request_lines(timeout=0.5) to a server that never reads returns in time and leaves no socket open"""
    # README: "request_lines" — on every path writer.close(), then await writer.wait_closed(), bounded:
    # when unsent data keeps it waiting, writer.transport.abort(); closing may take up to 1 s beyond timeout.
    peer = shared.UpperPeer(lab, reads=False)
    # Why 4 MB of lines: more than the kernel's buffers take, so unsent data is left when the time is up.
    # A close that waits for the peer to read never ends: the call's deadline (12 s) ends it.
    result = shared.request(lab, peer, ["z" * 65000] * 64, timeout=0.5, deadline=12.0)
    lab.expect_raises(result, "TimeoutError", hint=shared.TIMEOUT_HINT)
    # Why 6.5 s, timed in the worker: 0.5 s of timeout and 1 s of closing allowed, and 5 s for a
    # loaded machine; a close bounded by the peer (one that waits for it to read) is not over by 12 s.
    if result.elapsed > 6.5:
        raise Failure(f"{result.shown} took {result.elapsed:.1f} s to give up on a server that never reads",
                      expected="about 0.5 s, plus at most 1 s to close", hint=shared.CLOSE_HINT)
    lab.expect_no_leaks(result, hint=shared.CLOSE_HINT)


# -- fetch_frame --------------------------------------------------------------------------------------
@check(points=1.5, hint=shared.FRAME_HINT)
def test_fetch_frame_returns_the_frame(lab):
    """fetch_frame(host, port, b"ping") returns the whole reply frame when it arrives a byte at a time"""
    # README: "fetch_frame" — sends one stage-05 frame, returns the frame that comes back (readexactly).
    reply = "réponse dribbled".encode() * 4
    server, address = _frame_server(lab, Recv(8), dribble(encode_frame(reply)), Close())
    result = lab.call("fetch_frame", *address, b"ping", kwargs={"timeout": 10.0}, deadline=20.0)
    lab.expect_equal(result, reply, hint=shared.FRAME_HINT)
    peer = server.first_served(3.0)
    if peer is not None and bytes(peer.received) != encode_frame(b"ping"):
        raise Failure("the server received the wrong frame", expected=repr(encode_frame(b"ping")),
                      actual=repr(bytes(peer.received)), hint="Send struct.pack('!I', len(payload)) + payload.")
    lab.expect_no_leaks(result, hint=shared.CLOSE_HINT)


@check(points=1, hint=shared.HUGE_HINT)
def test_fetch_frame_rejects_a_huge_length_at_once(lab):
    """fetch_frame() raises ValueError at once when the reply announces 0xFFFFFFFF bytes"""
    # README: "fetch_frame" — a length above MAX_FRAME raises ValueError before the body is read.
    server, address = _frame_server(lab, Recv(8), Send(b"\xff\xff\xff\xff" + b"x" * 100), Stall())
    result = lab.call("fetch_frame", *address, b"ping", kwargs={"timeout": 10.0}, deadline=15.0)
    if result.status == "raised" and result.error.is_a("TimeoutError"):
        raise Failure(f"{result.shown} waited for the 4 GiB it was announced", expected="ValueError at once",
                      actual=str(result.error), hint=shared.HUGE_HINT)
    lab.expect_raises(result, ValueError, hint=shared.HUGE_HINT)
    lab.expect_no_leaks(result, hint=shared.CLOSE_HINT)


@check(points=1, hint=shared.FRAME_HINT)
def test_fetch_frame_raises_eof_anywhere(lab):
    """fetch_frame() raises EOFError when the server closes after 2 bytes of header, or halfway through the payload"""
    # README: "fetch_frame" — EOF anywhere in the reply frame, header included, raises EOFError.
    for cut, what in ((2, "after 2 bytes of the header"), (4 + 5, "after 5 bytes of a 10-byte payload")):
        server, address = _frame_server(lab, Recv(8), Send(encode_frame(b"0123456789")[:cut]), Close())
        result = lab.call("fetch_frame", *address, b"ping", kwargs={"timeout": 3.0})
        if result.status == "returned":
            raise Failure(f"{result.shown} returned {result.value!r} when the server closed {what}",
                          expected="EOFError", hint=shared.FRAME_HINT)
        if not result.error.is_a(EOFError):
            raise Failure(f"{result.shown} raised the wrong exception when the server closed {what}",
                          expected="EOFError (asyncio.IncompleteReadError is one)", actual=str(result.error),
                          hint=shared.FRAME_HINT)
        lab.expect_no_leaks(result, hint=shared.CLOSE_HINT)


@check(points=1, hint=shared.TIMEOUT_HINT)
def test_fetch_frame_times_out(lab):
    """fetch_frame(timeout=0.5) raises the builtin TimeoutError when the server never answers"""
    # README: "fetch_frame" — timeout bounds the whole exchange as in request_lines.
    server, address = _frame_server(lab, Recv(8), Stall())
    result = lab.call("fetch_frame", *address, b"ping", kwargs={"timeout": 0.5}, deadline=8.0)
    error = lab.expect_raises(result, "TimeoutError", hint=shared.TIMEOUT_HINT)
    if "OSError" not in error.class_names:
        raise Failure(f"{result.shown} raised asyncio's TimeoutError, not the builtin one",
                      expected="TimeoutError (an OSError)", actual=error.type, hint=shared.TIMEOUT_HINT)
    lab.expect_no_leaks(result, hint=shared.CLOSE_HINT)


# -- serve_upper -------------------------------------------------------------------------------------
@check(points=1.5, hint=shared.SERVE_HINT)
def test_serve_upper_answers_clients_at_once(lab):
    """serve_upper(listener, 3) answers three clients connected at once, then returns and closes the listener"""
    # README: "serve_upper" — start_server(handler, sock=listener); accepts exactly `clients`
    # connections, all at once; each line answered upper-cased; returns once every handler has
    # finished; closes listener.
    server = rooms.Server(lab, "serve_upper", 3, faults=True, idle_timeout=30.0)
    clients = [server.member(f"client {i}") for i in (1, 2, 3)]
    for client in reversed(clients):
        client.say(f"hello from {client.name}")
    for client in clients:
        server.until(lambda c=client: c.lines or c.ended, f"{client.name} got its answer", hint=shared.SERVE_HINT)
    for client in clients:
        client.send(b"bye\nlast")
        client.leave("eof")
    for client in clients:
        server.until(lambda c=client: c.ended, f"{client.name} was answered and closed after its EOF",
                     hint=shared.SERVE_HINT, actual=lambda c=client: rooms.shown_lines(c))
    result = server.finish("after its clients", hint=shared.SERVE_HINT)
    for client in clients:
        want = [f"HELLO FROM {client.name.upper()}", "BYE", "LAST"]
        if client.texts() != want:
            raise Failure(f"{client.name} got the wrong answers", expected=repr(want),
                          actual=rooms.shown_lines(client), hint=shared.SERVE_HINT)
    shared.expect_ended(server, result)


@check(points=1.5, hint=shared.LAST_CLIENT_HINT)
def test_serve_upper_serves_the_last_client_to_its_end(lab):
    """serve_upper(listener, 2) serves its last client to the end, though it still talks after the first left"""
    # README: "serve_upper" — returns once the handlers of all `clients` connections have finished (do
    # not rely on Server.wait_closed()).
    server = rooms.Server(lab, "serve_upper", 2, idle_timeout=30.0)
    first = server.member("client 1")
    first.say("one")
    server.until(lambda: first.lines or first.ended, "client 1 got its answer", hint=shared.SERVE_HINT)
    first.leave("eof")
    last = server.member("client 2")
    # Why 0.5 s of silence first: a server that stops waiting once the last client has connected
    # returns meanwhile, and asyncio.run() cancels this client's handler in the middle of a read
    # (a read already complete when the cancellation comes would let the handler go on).
    server.pause(0.5, "client 2 was connected and about to talk", hint=shared.LAST_CLIENT_HINT)
    for n in range(1, 6):
        last.say(f"line {n}")
        server.until(lambda n=n: len(last.lines) >= n or last.ended, f"client 2 got its answer to line {n}",
                     hint=shared.LAST_CLIENT_HINT, actual=lambda: rooms.shown_lines(last))
        server.pause(0.15, "client 2 was still talking", hint=shared.LAST_CLIENT_HINT)
    last.leave("eof")
    server.until(lambda: last.ended, "client 2 was closed after its EOF", hint=shared.LAST_CLIENT_HINT)
    result = server.finish("after its clients", hint=shared.LAST_CLIENT_HINT)
    if last.texts() != [f"LINE {n}" for n in range(1, 6)]:
        raise Failure("the last client was not served to its end", expected="LINE 1 … LINE 5",
                      actual=rooms.shown_lines(last), hint=shared.LAST_CLIENT_HINT)
    shared.expect_ended(server, result)


@check(points=1, hint=shared.BLOCKING_HINT)
def test_serve_upper_never_blocks_the_loop(lab):
    """serve_upper(idle_timeout=5) answers client 2 at once while client 1 is connected and silent"""
    # README: "serve_upper" — all connections at once, on one event loop: never block it.
    server = rooms.Server(lab, "serve_upper", 2, idle_timeout=5.0)
    silent = server.member("client 1 (silent)")
    talker = server.member("client 2")
    asked = time.monotonic()
    talker.say("are you there?")
    server.until(lambda: talker.lines or talker.ended, "client 2 got an answer", hint=shared.BLOCKING_HINT,
                 timeout=rooms.WAIT + 5.0)
    # A loop blocked by client 1's handler answers client 2 only once it has dropped client 1, 5 s
    # on: the answer comes seconds late AND together with that drop. A correct server answers in
    # milliseconds and drops client 1 seconds later; load cannot make both true of it.
    answered = talker.lines[0][0] if talker.lines else time.monotonic()
    late = answered - asked
    if late > 2.0:  # late: was it the drop of client 1 that let the answer out?
        silent.wait_ended(1.0)
    if silent.ended_at is not None and abs(silent.ended_at - answered) < 1.0 and late > 2.0:
        raise Failure("client 2 was answered only when silent client 1 was dropped: the event loop was blocked",
                      expected="client 2 answered at once",
                      actual=f"answered {late:.1f} s after it asked, as client 1 was dropped", hint=shared.BLOCKING_HINT)
    talker.leave("eof")
    silent.leave("eof")
    server.until(lambda: silent.ended and talker.ended, "both clients were closed after their EOF",
                 hint=shared.SERVE_HINT)
    shared.expect_ended(server, server.finish("after its clients", hint=shared.SERVE_HINT))


@check(points=1, hint=shared.ACTIVE_HINT)
def test_serve_upper_keeps_an_active_client(lab):
    """serve_upper(idle_timeout=1.0) keeps a client that sends a line every 0.15 s for 2.5 s"""
    # README: "serve_upper" — stage 07 rules: idle_timeout bounds each read; an active client stays.
    server = rooms.Server(lab, "serve_upper", 1, idle_timeout=1.0)
    talker = server.member("talker")
    sent: list[float] = []
    pause = threading.Event()
    end = time.monotonic() + 2.5
    while time.monotonic() < end and talker.ended is None and not server.pending.done():
        sent.append(time.monotonic())
        talker.say(f"line {len(sent)}")
        pause.wait(0.15)
    # A drop is the server's mistake only if this client really kept talking: if the grader itself
    # was held up for a whole idle_timeout between two lines, the drop was deserved.
    gaps = [b - a for a, b in zip(sent, sent[1:], strict=False)]
    if talker.ended is not None and max(gaps, default=0) < 1.0 - 0.05:
        raise Failure("a client that sent a line every 0.15 s was dropped",
                      expected="kept: the idle timeout bounds each read, not the connection",
                      actual=f"dropped {talker.ended_at - sent[0]:.2f} s after its first line", hint=shared.ACTIVE_HINT)
    talker.leave("eof")
    server.until(lambda: talker.ended, "the talker was closed after its EOF", hint=shared.SERVE_HINT)
    server.finish("after its client", hint=shared.SERVE_HINT)


@check(points=1, hint=shared.IDLE_HINT)
def test_serve_upper_drops_an_idle_client(lab):
    """serve_upper(idle_timeout=0.5) closes a client that says nothing, not before 0.5 s"""
    # README: "serve_upper" — stage 07 rules: a client idle longer than idle_timeout is disconnected and
    # counted.
    server = rooms.Server(lab, "serve_upper", 1, idle_timeout=0.5)
    connected = time.monotonic()
    silent = server.member("silent")
    server.until(lambda: silent.ended, "the silent client was closed", hint=shared.IDLE_HINT)
    if silent.ended_at - connected < 0.5 - 0.05:
        raise Failure(f"the silent client was closed {silent.ended_at - connected:.2f} s after it connected",
                      expected="closed no earlier than idle_timeout (0.5 s)", hint=shared.IDLE_HINT)
    shared.expect_ended(server, server.finish("after its client", hint=shared.IDLE_HINT))


@check(points=1, hint=shared.LINE_LIMIT_HINT)
def test_serve_upper_limits_line_length(lab):
    """serve_upper(max_line=1000) answers a line of 1000 bytes and closes a client that sends 1001"""
    # README: "serve_upper" — stage 07 rules with max_line: a line longer than max_line bytes (before
    # "\n") disconnects the client; exactly max_line is a line.
    server = rooms.Server(lab, "serve_upper", 2, idle_timeout=30.0, max_line=1000)
    fits = server.member("client 1")
    fits.send(b"a" * 1000 + b"\n")
    server.until(lambda: fits.lines or fits.ended, "the 1000-byte line was answered", hint=shared.LINE_LIMIT_HINT,
                 actual=lambda: rooms.shown_lines(fits))
    if fits.texts()[:1] != ["A" * 1000]:
        raise Failure("a line of exactly max_line bytes was not answered", expected="'AAA…' (1000 bytes)",
                      actual=rooms.shown_lines(fits), hint=shared.LINE_LIMIT_HINT)
    over = server.member("client 2")
    over.send(b"b" * 1001 + b"\n")
    server.until(lambda: over.ended, "the client that sent 1001 bytes was closed", hint=shared.LINE_LIMIT_HINT,
                 actual=lambda: rooms.shown_lines(over))
    if over.lines:
        raise Failure("a line over max_line was answered", expected="the client closed, nothing answered",
                      actual=rooms.shown_lines(over), hint=shared.LINE_LIMIT_HINT)
    server.expect_idle("one client was connected and silent, after another was dropped")
    fits.leave("eof")
    server.until(lambda: fits.ended, "client 1 was closed after its EOF", hint=shared.SERVE_HINT)
    shared.expect_ended(server, server.finish("after its clients", hint=shared.SERVE_HINT))


@check(points=1, hint=shared.BAD_CLIENT_HINT)
def test_serve_upper_closes_bad_clients(lab):
    r"""serve_upper(listener, 3) closes a client that resets and one that sends b"\xff\n", and serves the third"""
    # README: "serve_upper" — stage 07 rules: a client that resets or sends invalid UTF-8 is disconnected
    # and counted; never raises because of a client.
    server = rooms.Server(lab, "serve_upper", 3, idle_timeout=30.0)
    good = server.member("good client")
    resetter = server.member("resetting client")
    resetter.say("first")
    server.until(lambda: resetter.lines or resetter.ended, "the resetting client got its answer",
                 hint=shared.SERVE_HINT)
    resetter.leave("reset")
    bad = server.member("client sending b'\\xff\\n'")
    bad.send(b"\xff\n")
    server.until(lambda: bad.ended, "the client that sent invalid UTF-8 was closed", hint=shared.BAD_CLIENT_HINT,
                 actual=lambda: rooms.shown_lines(bad))
    good.say("still there?")
    server.until(lambda: good.lines or good.ended, "the good client got its answer", hint=shared.BAD_CLIENT_HINT)
    good.leave("eof")
    server.until(lambda: good.ended, "the good client was closed after its EOF", hint=shared.SERVE_HINT)
    result = server.finish("after its clients", hint=shared.BAD_CLIENT_HINT)
    if good.texts() != ["STILL THERE?"]:
        raise Failure("the good client was not answered", expected="['STILL THERE?']",
                      actual=rooms.shown_lines(good), hint=shared.BAD_CLIENT_HINT)
    shared.expect_ended(server, result)


@check(points=1.5, hint=shared.DRAIN_HINT)
def test_serve_upper_drains_its_writes(lab):
    """serve_upper() stops reading from a client that floods it and never reads, and serves another meanwhile"""
    # README: "serve_upper" — every reply written, then await drain(): backpressure.
    server = rooms.Server(lab, "serve_upper", 2, idle_timeout=30.0, sndbuf=shared.SMALL_BUFFER)
    flood = shared.Flood(server.address, lab.transcript)
    try:
        server.until(flood.done.is_set, "the flood was held back or done", hint=shared.DRAIN_HINT,
                     timeout=rooms.WAIT + 20.0)
        if flood.sent > shared.FLOOD_LIMIT:
            raise Failure("the server read everything a client sent while none of its answers were read",
                          expected=f"the client held back after a few MB (at most {shared.FLOOD_LIMIT >> 20} MB)",
                          actual=f"it sent {flood.sent / 1e6:.0f} MB, and the answers pile up in the server's memory",
                          hint=shared.DRAIN_HINT)
        other = server.member("other client")
        other.say("hello")
        server.until(lambda: other.lines or other.ended, "another client was answered meanwhile",
                     hint=shared.BLOCKING_HINT)
        other.leave("eof")
        server.until(lambda: other.ended, "the other client was closed after its EOF", hint=shared.SERVE_HINT)
    finally:
        flood.close()
    server.finish("after its clients", hint=shared.SERVE_HINT)


@check(points=1, hint=rooms.BUSY_HINT)
def test_serve_upper_idle_server_uses_no_cpu(lab):
    """serve_upper(idle_timeout=3) sleeps while its three clients are connected and silent"""
    # README: "serve_upper" — the event loop waits for events; a handler that spins keeps a CPU busy.
    server = rooms.Server(lab, "serve_upper", 3, idle_timeout=3.0)
    clients = server.answered(["a", "b", "c"], hint=shared.SERVE_HINT)
    server.expect_idle("three clients were connected and silent")
    server.end_all()
    for client in clients:
        server.until(lambda c=client: c.ended, f"{client.name} was closed after its EOF", hint=shared.SERVE_HINT)
    shared.expect_ended(server, server.finish("after its clients", hint=shared.SERVE_HINT))
