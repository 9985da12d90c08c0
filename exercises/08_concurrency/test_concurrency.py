"""Public checks for stage 08: many clients at once, and a chat room.

The grader hands your server a listener it made, then connects clients that read all the
time (graders/checking/members.py) and talks through them. How these checks stay honest on a
loaded machine is told in graders/checking/stage_helpers/concurrency.py: what a correct server
does at once is waited for (load makes it come late, never not at all); an idle server is
measured by how long its threads were runnable, which load cannot make larger.

Every rule of exercises/08_concurrency/README.md ("The task") has a check here that catches
its most common violation; each check names the README rule it relies on. The hidden checks
add depth (IPv6, many clients, churn, short reads everywhere), never a rule.
"""

import threading

from graders.api import Failure, check
from graders.api import concurrency as shared  # what these checks share with the hidden ones

THREAD_HINT = ("Serve every connection at once: start a thread per accepted connection "
               "(threading.Thread(target=handle, args=(conn,))), or register every connection with a selector. "
               "A loop that serves one client to its end before accepting the next makes everyone else wait.")
ANSWER_HINT = ("Per connection: loop over recv(), keep that connection's own buffer, answer every complete line "
               "upper-cased + '\\n', answer a last line without '\\n' at EOF, then close that connection.")
BUFFER_HINT = ("Keep one input buffer PER connection (a dict keyed by socket, or a local variable in each "
               "thread): bytes from two clients must never meet in one buffer.")
IDLE_HINT = ("conn.settimeout(idle_timeout) on each accepted connection (threads), or a deadline per connection "
             "that select()'s timeout is computed from (selectors): a silent client is dropped, the others go on.")
SURVIVE_HINT = ("One client's reset, invalid UTF-8 or over-long line ends that client only: catch OSError and "
                "ValueError around its conversation, close its socket (in a finally, or `with conn:`), go on.")
WELCOME_HINT = ("On a valid nickname, send '* welcome <nick>\\n' to the newcomer FIRST, then '* <nick> joined\\n' "
                "to every other member — never to the newcomer itself.")
RELAY_HINT = ("Send each line `text` of member N to every OTHER member as '<N>: <text>\\n'. Loop over the members "
              "and skip the sender; never send a line back to where it came from.")
NICK_STREAM_HINT = ("The nickname is the first LINE, not the first recv(): keep a buffer per connection, split it "
                    "on b'\\n', take the first line as the nickname and treat what follows it as messages.")
NICK_RULES_HINT = ("Check the nickname before anyone hears of it: decode it as UTF-8, 1 to 32 characters, none of "
                   "them whitespace (any(c.isspace() for c in nick) refuses 'alice\\r'), not taken. If it is bad: "
                   "send 'ERR <reason>\\n', close, and announce nothing.")
TAKEN_HINT = ("A nickname held by a member now in the room is refused with 'ERR ...'; test `nick in members` "
              "before you add the newcomer — assigning members[nick] = conn would silently replace the first alice.")
LEFT_HINT = ("Have ONE place that removes a member (guarded: it does nothing if the member is already gone) and "
             "sends '* <nick> left\\n' to the others, and call it from every way of leaving: EOF, a reset, "
             "invalid UTF-8, an over-long line, a dropped slow member.")
PARTIAL_HINT = ("Relay only complete lines: append each recv() to that member's buffer, split off every line "
                "that ends in b'\\n', keep the rest for later. What is left at EOF is not a line: drop it.")
SLOW_HINT = ("Never wait on one member: give each member its own output queue (a bytearray with a selector's "
             "EVENT_WRITE, or a queue and writer thread), send what the kernel takes, and if more than "
             "max_pending bytes are still waiting for a member, drop that member (close it, announce it left).")
CHAT_RETURN_HINT = ("serve_chat returns once it has accepted `clients` connections (refused ones count) and every "
                    "one of them has ended — not when the room first becomes empty, and not before the last "
                    "member has left.")


# -- serve_concurrently ------------------------------------------------------------------------------
@check(points=1.5, hint=THREAD_HINT)
def test_concurrently_serves_two_clients_at_once(lab):
    """serve_concurrently(listener, 2) answers client B while client A is still connected and silent"""
    # README: "serve_concurrently" — every connection is served at once: one client's silence
    # delays no other.
    # idle_timeout=30: client A stays connected for the whole check, never dropped as idle.
    server = shared.Server(lab, "serve_concurrently", 2, idle_timeout=30.0)
    a = server.member("client A")
    a.say("first")
    server.until(lambda: a.lines or a.ended, "client A got its answer", hint=ANSWER_HINT)
    b = server.member("client B")
    b.say("hello")
    server.until(lambda: "HELLO" in b.texts() or b.ended, "client B got b'HELLO\\n' while client A was still "
                 "connected", hint=THREAD_HINT, expected="b'HELLO\\n' for client B within 5 s",
                 actual=lambda: f"client B got {shared.shown_lines(b)}")
    server.end_all()
    server.finish("after both clients left", hint=ANSWER_HINT)


@check(points=1.5, hint=ANSWER_HINT)
def test_concurrently_answers_every_client_and_returns(lab):
    """serve_concurrently(listener, 3) answers three clients at once in short reads, returns None and keeps the listener"""
    # README: "serve_concurrently" — stage 07's serve_lines rules (each line upper-cased, a last line
    # without "\n" answered at EOF, the connection then closed); returns once all have ended; does
    # not close listener; no socket left open.
    server = shared.Server(lab, "serve_concurrently", 3, faults=True)
    clients = [server.member(f"client {i}") for i in (1, 2, 3)]
    sent = {0: b"hello\ncaf\xc3\xa9 au lait\nlast", 1: b"one\ntwo\n", 2: b"\xc3\xa9t\xc3\xa9\n"}
    want = {0: ["HELLO", "CAFÉ AU LAIT", "LAST"], 1: ["ONE", "TWO"], 2: ["ÉTÉ"]}
    for i, client in enumerate(clients):
        client.send(sent[i])
    for client in clients:
        client.leave("eof")
    for client in clients:
        server.until(lambda c=client: c.ended, f"{client.name} was answered and closed after its EOF",
                     hint=ANSWER_HINT, actual=lambda c=client: f"{c.name} got {shared.shown_lines(c)}")
    result = server.finish("after its three clients", hint=ANSWER_HINT)
    for i, client in enumerate(clients):
        if client.texts() != want[i]:
            raise Failure(f"{client.name} got the wrong answers to {sent[i]!r}", expected=repr(want[i]),
                          actual=shared.shown_lines(client), hint=ANSWER_HINT)
    server.expect_clean(result)


@check(points=1, hint=BUFFER_HINT)
def test_concurrently_keeps_a_buffer_per_client(lab):
    """serve_concurrently() answers two clients whose lines b"aaaa\\n" and b"bbbb\\n" arrive byte by byte, interleaved"""
    # README: "serve_concurrently" — every connection is served at once, each line answered on its
    # own connection.
    server = shared.Server(lab, "serve_concurrently", 2)
    a, b = server.member("client A"), server.member("client B")
    pause = threading.Event()
    for x, y in zip(b"aaaa\n", b"bbbb\n", strict=True):
        a.send(bytes([x]))
        pause.wait(0.002)  # each byte in a segment of its own: the server reads them one at a time
        b.send(bytes([y]))
        pause.wait(0.002)
    server.until(lambda: (a.lines or a.ended) and (b.lines or b.ended), "both clients got an answer",
                 hint=BUFFER_HINT)
    server.end_all()
    server.finish("after both clients left", hint=ANSWER_HINT)
    for client, want in ((a, ["AAAA"]), (b, ["BBBB"])):
        if client.texts() != want:
            raise Failure(f"{client.name} got answers mixed with the other client's bytes", expected=repr(want),
                          actual=shared.shown_lines(client), hint=BUFFER_HINT)


@check(points=1, hint=IDLE_HINT)
def test_concurrently_drops_an_idle_client(lab):
    """serve_concurrently(listener, 2, idle_timeout=0.3) drops a silent client and still serves the other"""
    # README: "serve_concurrently" — a client idle longer than idle_timeout is disconnected; the
    # others are served.
    server = shared.Server(lab, "serve_concurrently", 2, idle_timeout=0.3)
    silent = server.member("silent")
    talker = server.member("talker")
    talker.say("hello")
    server.until(lambda: talker.lines or talker.ended, "the talker got its answer", hint=THREAD_HINT)
    # Why 3 s: a correct server drops the silent client 0.3 s after it connected; one without an
    # idle timeout never does.
    server.until(lambda: silent.ended, "the silent client was disconnected", timeout=3.0, hint=IDLE_HINT,
                 expected="EOF (or a reset) about 0.3 s after it connected", actual=lambda: "still connected")
    talker.leave("eof")
    server.finish("after dropping the idle client", hint=IDLE_HINT)
    if talker.texts() != ["HELLO"]:
        raise Failure("the talker got the wrong answer", expected="['HELLO']", actual=shared.shown_lines(talker),
                      hint=ANSWER_HINT)


@check(points=1.5, hint=SURVIVE_HINT)
def test_concurrently_survives_bad_clients(lab):
    r"""serve_concurrently(listener, 4, max_line=64) drops clients that reset, send b"\xff\n" or 100 bytes without a newline, and serves the fourth"""
    # README: "serve_concurrently" — a client that resets, sends invalid UTF-8 or an over-long line
    # is disconnected; the server goes on and never raises because of a client.
    server = shared.Server(lab, "serve_concurrently", 4, max_line=64)
    good = server.member("good")
    resetter, garbler, endless = (server.member(n) for n in ("resetter", "garbler", "endless"))
    resetter.say("ok")
    server.until(lambda: resetter.lines or resetter.ended, "the resetter got its answer", hint=THREAD_HINT)
    resetter.leave("reset")
    garbler.send(b"\xff\xfe\n")
    endless.send(b"x" * 100)
    for client, how in ((garbler, "invalid UTF-8"), (endless, "100 bytes without a newline")):
        server.until(lambda c=client: c.ended, f"the client that sent {how} was disconnected", hint=SURVIVE_HINT,
                     actual=lambda c=client: f"it got {shared.shown_lines(c)} and was still connected")
    good.say("still here")
    server.until(lambda: good.lines or good.ended, "the good client got its answer after the bad ones",
                 hint=SURVIVE_HINT)
    good.leave("eof")
    result = server.finish("because of a bad client", hint=SURVIVE_HINT)
    if good.texts() != ["STILL HERE"]:
        raise Failure("the good client got the wrong answer", expected="['STILL HERE']",
                      actual=shared.shown_lines(good), hint=SURVIVE_HINT)
    lab.expect_no_leaks(result, hint=SURVIVE_HINT)


@check(points=1, hint=shared.RETURNED_EARLY_HINT)
def test_concurrently_returns_only_after_every_client_ended(lab):
    """serve_concurrently(listener, 3) is still serving while its third client is connected, and returns once it leaves"""
    # README: "serve_concurrently" — accepts exactly `clients` connections and returns once all
    # have ended.
    server = shared.Server(lab, "serve_concurrently", 3)
    clients = server.answered(["hi", "hi", "hi"], hint=THREAD_HINT)
    for client in clients[:2]:
        client.leave("eof")
        server.until(lambda c=client: c.ended, f"{client.name} was closed after its EOF", hint=ANSWER_HINT)
    server.still_running("after two of its three clients had left")
    clients[2].leave("eof")
    server.finish("after its last client left", hint=shared.RETURNED_EARLY_HINT)


@check(points=1, hint=shared.THREADS_LEFT_HINT)
def test_concurrently_leaves_no_threads_behind(lab):
    """serve_concurrently(listener, 2) returns with no thread it started still alive and no socket open"""
    # README: "serve_concurrently" — by the time it returns, no thread it started is alive and no
    # socket it opened is open.
    server = shared.Server(lab, "serve_concurrently", 2)
    server.answered(["one", "two"], hint=THREAD_HINT)
    server.end_all()
    server.expect_clean(server.finish("after both clients left", hint=ANSWER_HINT))


@check(points=1, hint=shared.BUSY_HINT)
def test_concurrently_idle_server_uses_no_cpu(lab):
    """serve_concurrently() with three silent clients connected sleeps: no busy loop, no polling"""
    # README: "serve_concurrently" — while all its clients are idle, the server uses no CPU (no
    # busy loop, no wake-ups more often than every 50 ms).
    server = shared.Server(lab, "serve_concurrently", 3)
    server.answered(["hi", "hi", "hi"], hint=THREAD_HINT)
    server.expect_idle("its three clients were connected and silent")
    server.end_all()
    server.finish("after its clients left", hint=ANSWER_HINT)


# -- serve_chat ---------------------------------------------------------------------------------------
@check(points=1, hint=WELCOME_HINT)
def test_chat_welcomes_and_announces_joins(lab):
    """serve_chat(listener, 2): alice and bob are welcomed first, and alice hears "* bob joined\""""
    # README: "serve_chat", rule 1 — accepted: the newcomer gets "* welcome <nick>\n", every other
    # member "* <nick> joined\n".
    server = shared.Server(lab, "serve_chat", 2)
    alice = shared.joined(server, "alice", hint=WELCOME_HINT)
    bob = shared.joined(server, "bob", hint=WELCOME_HINT)
    server.until(lambda: "* bob joined" in alice.texts() or alice.ended, "alice heard that bob joined",
                 hint=WELCOME_HINT, actual=lambda: f"alice got {shared.shown_lines(alice)}")
    alice.leave("eof")
    server.until(lambda: "* alice left" in bob.texts() or bob.ended, "bob heard that alice left", hint=LEFT_HINT)
    bob.leave("eof")
    server.finish("after both members left", hint=CHAT_RETURN_HINT)
    for member, want in ((alice, ["* welcome alice", "* bob joined"]), (bob, ["* welcome bob", "* alice left"])):
        if member.texts() != want:
            raise Failure(f"{member.name} got lines it should not have", expected=repr(want),
                          actual=shared.shown_lines(member), hint=WELCOME_HINT)


@check(points=1.5, hint=RELAY_HINT)
def test_chat_relays_to_every_other_member(lab):
    """serve_chat(listener, 4): each of four members' lines reaches the three others once, and never its sender"""
    # README: "serve_chat", rule 2 — every later line `text` from member N goes to every other
    # member as "<N>: <text>\n"; nothing goes back to N.
    server = shared.Server(lab, "serve_chat", 4)
    nicks = ["ann", "ben", "cy", "dee"]
    members = [shared.joined(server, nick, hint=WELCOME_HINT) for nick in nicks]
    for i, member in enumerate(members):  # everyone has heard every later join: the room is complete
        later = [f"* {n} joined" for n in nicks[i + 1:]]
        server.until(lambda m=member, w=later: all(x in m.texts() for x in w) or m.ended,
                     f"{member.name} heard every later member join", hint=WELCOME_HINT)
    for member in members:
        member.say(f"hello from {member.name}")
    for member in members:
        server.until(lambda m=member: len(shared.messages(m)) >= 3 or m.ended,
                     f"{member.name} got the three other members' lines", hint=RELAY_HINT,
                     actual=lambda m=member: f"{m.name} got {shared.shown_lines(m)}")
    server.end_all()
    for member in members:  # what the server sent has all arrived once it has closed each of them
        server.until(lambda m=member: m.ended, f"{member.name} was closed after its EOF", hint=LEFT_HINT)
    server.finish("after every member left", hint=CHAT_RETURN_HINT)
    for member in members:
        want = sorted(f"{n}: hello from {n}" for n in nicks if n != member.name)
        if sorted(shared.messages(member)) != want:
            raise Failure(f"{member.name} did not get exactly the other members' lines", expected=repr(want),
                          actual=repr(shared.messages(member)), hint=RELAY_HINT)


@check(points=1, hint=NICK_STREAM_HINT)
def test_chat_reads_nicknames_from_the_stream(lab):
    r"""serve_chat(): a nickname glued to the first message (b"amy\nhi there\n") and one that arrives byte by byte"""
    # README: "serve_chat", rule 1 — the nickname is the first line; rule 2 — every later line is a
    # message.
    server = shared.Server(lab, "serve_chat", 3)
    bob = shared.joined(server, "bob", hint=WELCOME_HINT)
    amy = server.member("amy")
    amy.send(b"amy\nhi there\n")  # one segment: one recv() may return both lines
    server.until(lambda: "amy: hi there" in bob.texts() or bob.ended,
                 "bob got amy's first message, sent in the same segment as her nickname", hint=NICK_STREAM_HINT,
                 actual=lambda: f"bob got {shared.shown_lines(bob)}, amy got {shared.shown_lines(amy)}")
    cat = server.member("cat")
    cat.dribble(b"cat\n")
    server.until(lambda: cat.lines or cat.ended, "cat, whose nickname came one byte at a time, got an answer",
                 hint=NICK_STREAM_HINT)
    if cat.texts()[:1] != ["* welcome cat"]:
        raise Failure("cat's nickname, sent one byte at a time, was not read as one line",
                      expected="'* welcome cat'", actual=shared.shown_lines(cat), hint=NICK_STREAM_HINT)
    if amy.texts()[:1] != ["* welcome amy"]:
        raise Failure("amy was not welcomed by her nickname", expected="'* welcome amy'",
                      actual=shared.shown_lines(amy), hint=NICK_STREAM_HINT)
    server.end_all()
    server.finish("after every member left", hint=CHAT_RETURN_HINT)


@check(points=1.5, hint=NICK_RULES_HINT)
def test_chat_refuses_bad_nicknames(lab):
    r"""serve_chat() answers "ERR ..." and closes for nicknames b"", b"two words", 33 characters, b"alice\r" and b"\xff", and tells nobody"""
    # README: "serve_chat", rule 1 — 1..32 characters, no whitespace (str.isspace), valid UTF-8;
    # refused: "ERR <reason>\n", then close; nobody else hears of it. Refused ones count as
    # connections.
    bad = [b"\n", b"two words\n", b"x" * 33 + b"\n", b"alice\r\n", b"\xff\xfe\n"]
    server = shared.Server(lab, "serve_chat", len(bad) + 2)
    host = shared.joined(server, "host", hint=WELCOME_HINT)
    for data in bad:
        member = server.member(f"nick {data!r}")
        member.send(data)
        server.until(lambda m=member: m.ended, f"the client that sent nickname {data!r} was refused and closed",
                     hint=NICK_RULES_HINT, actual=lambda m=member: f"it got {shared.shown_lines(m)}")
        if not member.texts() or not member.texts()[0].startswith("ERR "):
            raise Failure(f"nickname {data!r} was not refused with an ERR line", expected="'ERR <reason>', then close",
                          actual=shared.shown_lines(member), hint=NICK_RULES_HINT)
    longest = shared.joined(server, "y" * 32, hint=NICK_RULES_HINT)  # 32 characters: the longest allowed
    server.until(lambda: f"* {'y' * 32} joined" in host.texts() or host.ended, "host heard the 32-character "
                 "nickname join", hint=NICK_RULES_HINT)
    longest.leave("eof")
    server.until(lambda: f"* {'y' * 32} left" in host.texts() or host.ended, "host heard the 32-character "
                 "nickname leave", hint=LEFT_HINT)
    host.leave("eof")
    server.until(lambda: host.ended, "host was closed after its EOF", hint=LEFT_HINT)
    server.finish("after every client left", hint=CHAT_RETURN_HINT)
    want = ["* welcome host", f"* {'y' * 32} joined", f"* {'y' * 32} left"]
    if host.texts() != want:
        raise Failure("the room heard of clients whose nicknames were refused", expected=repr(want),
                      actual=shared.shown_lines(host), hint=NICK_RULES_HINT)


@check(points=1, hint=TAKEN_HINT)
def test_chat_refuses_a_taken_nickname(lab):
    """serve_chat(): a second "alice" is refused while the first is in the room, and the first still gets messages"""
    # README: "serve_chat", rule 1 — a nickname held by a member now in the room is refused.
    server = shared.Server(lab, "serve_chat", 3)
    alice = shared.joined(server, "alice", hint=WELCOME_HINT)
    bob = shared.joined(server, "bob", hint=WELCOME_HINT)
    second = server.member("second alice")
    second.say("alice")
    server.until(lambda: second.ended, "the second alice was refused and closed", hint=TAKEN_HINT,
                 actual=lambda: f"it got {shared.shown_lines(second)}")
    if not second.texts() or not second.texts()[0].startswith("ERR "):
        raise Failure("a nickname already in the room was not refused", expected="'ERR <reason>', then close",
                      actual=shared.shown_lines(second), hint=TAKEN_HINT)
    bob.say("are you still there, alice?")
    server.until(lambda: "bob: are you still there, alice?" in alice.texts() or alice.ended,
                 "the first alice still got bob's message", hint=TAKEN_HINT,
                 actual=lambda: f"alice got {shared.shown_lines(alice)}")
    alice.leave("eof")
    server.until(lambda: "* alice left" in bob.texts() or bob.ended, "bob heard that alice left", hint=LEFT_HINT)
    bob.leave("eof")
    server.until(lambda: bob.ended, "bob was closed after its EOF", hint=LEFT_HINT)
    server.finish("after every client left", hint=CHAT_RETURN_HINT)
    if bob.texts().count("* alice left") != 1 or "* alice joined" in bob.texts():
        raise Failure("bob heard of the second alice", expected="['* welcome bob', '* alice left']: bob joined "
                      "after the first alice, and the second was refused", actual=shared.shown_lines(bob),
                      hint=TAKEN_HINT)


@check(points=1.5, hint=LEFT_HINT)
def test_chat_announces_each_leaving_once(lab):
    r"""serve_chat(max_line=64): members leaving by EOF, reset, b"\xff\n" and 100 bytes without a newline are each announced once"""
    # README: "serve_chat", rule 3 — leaving on EOF, reset, invalid UTF-8 or a line over max_line
    # bytes: the connection is closed and each remaining member gets "* <N> left\n", exactly once.
    server = shared.Server(lab, "serve_chat", 5, max_line=64)
    host = shared.joined(server, "host", hint=WELCOME_HINT)
    ways = {"eve": "eof", "rex": "reset", "uma": b"\xff\xfe\n", "lou": b"x" * 100}
    members = {nick: shared.joined(server, nick, hint=WELCOME_HINT) for nick in ways}
    server.until(lambda: all(f"* {n} joined" in host.texts() for n in ways) or host.ended,
                 "host heard every member join", hint=WELCOME_HINT)
    for nick, way in ways.items():
        if isinstance(way, bytes):
            members[nick].send(way)
        else:
            members[nick].leave(way)
    server.until(lambda: all(f"* {n} left" in host.texts() for n in ways) or host.ended,
                 "host heard every member leave", hint=LEFT_HINT,
                 actual=lambda: f"host got {shared.shown_lines(host)}")
    host.leave("eof")
    server.until(lambda: host.ended, "host was closed after its EOF", hint=LEFT_HINT)
    server.finish("after every member left", hint=CHAT_RETURN_HINT)
    for nick in ways:
        if host.texts().count(f"* {nick} left") != 1:
            raise Failure(f"{nick}'s leaving was announced {host.texts().count(f'* {nick} left')} times",
                          expected=f"'* {nick} left' exactly once", actual=shared.shown_lines(host, 20),
                          hint=LEFT_HINT)


@check(points=1, hint=PARTIAL_HINT)
def test_chat_never_relays_partial_lines(lab):
    """serve_chat() in short reads relays lines sent byte by byte whole, and never the bytes after a member's last newline"""
    # README: "serve_chat", rule 4 — the server never sends a partial line; bytes after a member's
    # last "\n" when it leaves are not a line and are never relayed.
    server = shared.Server(lab, "serve_chat", 2, faults=True)
    bob = shared.joined(server, "bob", hint=WELCOME_HINT)
    amy = shared.joined(server, "amy", hint=WELCOME_HINT)
    amy.dribble("one line\nand a café\n".encode())
    server.until(lambda: len(shared.messages(bob)) >= 2 or bob.ended, "bob got amy's two lines", hint=PARTIAL_HINT,
                 actual=lambda: f"bob got {shared.shown_lines(bob)}")
    amy.send(b"half a line")
    amy.leave("eof")
    server.until(lambda: "* amy left" in bob.texts() or bob.ended, "bob heard that amy left", hint=LEFT_HINT)
    bob.leave("eof")
    server.until(lambda: bob.ended, "bob was closed after its EOF", hint=LEFT_HINT)
    server.finish("after both members left", hint=CHAT_RETURN_HINT)
    want = ["amy: one line", "amy: and a café"]
    if shared.messages(bob) != want:
        raise Failure("bob got pieces of lines", expected=repr(want), actual=repr(shared.messages(bob)),
                      hint=PARTIAL_HINT)


@check(points=2, hint=SLOW_HINT)
def test_chat_slow_member_stalls_no_one(lab):
    """serve_chat(max_pending=32768): a member that never reads is dropped, and the others get all 120 lines of 1 KB"""
    # README: "serve_chat" — a member with more than max_pending bytes queued for it (counted after
    # the server offered them to the kernel) is dropped as too slow: no member ever waits on another;
    # rule 3 — its leaving is announced once.
    # Why these sizes: the grader's listener gives every connection a 4 KiB send buffer and the slow
    # member reads through a 4 KiB receive buffer, so about 12 KB reach it; with 32 KiB more queued
    # it must be dropped after about 45 of the 120 lines. The readers take all 120 KB even if the
    # grader were to stop reading for a while (their receive buffers are large), so a correct server
    # never has a reason to drop them.
    server = shared.Server(lab, "serve_chat", 3, sndbuf=4096, max_pending=32768)
    ann = shared.joined(server, "ann", hint=WELCOME_HINT, rcvbuf=1 << 20)
    bob = shared.joined(server, "bob", hint=WELCOME_HINT, rcvbuf=1 << 20, log_lines=False)
    slow = server.member("slow", rcvbuf=4096, reads=False)
    slow.say("slow")
    server.until(lambda: "* slow joined" in bob.texts() or bob.ended, "bob heard that slow joined",
                 hint=WELCOME_HINT)
    lines = [f"{i:03d} " + "x" * 1019 for i in range(120)]

    def flood() -> None:
        # Eight lines at a time, the next eight once bob has them: bob is never behind by more than
        # 8 KB, so a correct server has no reason to drop bob, while slow (who reads nothing) falls
        # behind by all of it. A room that waits on slow stops relaying, and the flood stops with it.
        for start in range(0, len(lines), 8):
            ann.send("".join(f"{line}\n" for line in lines[start:start + 8]).encode())
            if not bob.wait_for(lambda m, n=start + 8: len(shared.messages(m)) >= n or m.ended, shared.WAIT):
                return

    threading.Thread(target=flood, daemon=True).start()
    server.until(lambda: len(shared.messages(bob)) >= 120 or bob.ended, "bob got all 120 of ann's lines while "
                 "slow never read", hint=shared.STALLED_HINT,
                 actual=lambda: f"bob had got {len(shared.messages(bob))} of them: the room waited on slow")
    if slow.drain(shared.WAIT) is None:
        raise Failure("the member that never reads was not dropped", expected="slow dropped once more than "
                      "32768 bytes were queued for it", actual="still connected after 120 KB were relayed to it",
                      hint=shared.UNBOUNDED_HINT)
    for member in (ann, bob):
        server.until(lambda m=member: "* slow left" in m.texts() or m.ended, f"{member.name} heard that slow left",
                     hint=LEFT_HINT)
    server.end_all()
    for member in (ann, bob):
        server.until(lambda m=member: m.ended, f"{member.name} was closed after its EOF", hint=LEFT_HINT)
    server.finish("after every member left", hint=CHAT_RETURN_HINT)
    if shared.messages(bob) != [f"ann: {line}" for line in lines]:
        raise Failure("bob did not get ann's 120 lines whole and in order", expected="ann's lines, in order",
                      actual=f"{len(shared.messages(bob))} lines", hint=SLOW_HINT)
    for member in (ann, bob):
        if member.texts().count("* slow left") != 1:
            raise Failure(f"slow's leaving was announced {member.texts().count('* slow left')} times to "
                          f"{member.name}", expected="once", hint=LEFT_HINT)


@check(points=1, hint=shared.BUSY_HINT)
def test_chat_idle_room_uses_no_cpu(lab):
    """serve_chat() with three silent members sleeps: no busy loop, no polling"""
    # README: "serve_chat" — an idle server uses no CPU (no busy loop).
    server = shared.Server(lab, "serve_chat", 3)
    for nick in ("ann", "ben", "cy"):
        shared.joined(server, nick, hint=WELCOME_HINT)
    server.expect_idle("its three members were silent")
    server.end_all()
    server.finish("after every member left", hint=CHAT_RETURN_HINT)


@check(points=1, hint=CHAT_RETURN_HINT)
def test_chat_returns_after_everyone_left(lab):
    """serve_chat(listener, 3) goes on when the room empties, returns after its last member leaves, and leaves nothing behind"""
    # README: "serve_chat" — return and clean-up as serve_concurrently: returns once all `clients`
    # connections have ended; no thread it started alive and no socket open by then.
    server = shared.Server(lab, "serve_chat", 3)
    first = shared.joined(server, "first", hint=WELCOME_HINT)
    first.leave("eof")
    server.until(lambda: first.ended, "first was closed after its EOF", hint=LEFT_HINT)
    server.still_running("when the room became empty after its first of three members")
    second = shared.joined(server, "second", hint=CHAT_RETURN_HINT)
    third = shared.joined(server, "third", hint=CHAT_RETURN_HINT)
    second.leave("eof")
    server.until(lambda: "* second left" in third.texts() or third.ended, "third heard that second left",
                 hint=LEFT_HINT)
    server.still_running("after two of its three members had left")
    third.leave("eof")
    server.expect_clean(server.finish("after its last member left", hint=CHAT_RETURN_HINT))
