"""Hidden checks for stage 08: the public checks' ideas with more clients, IPv6, short reads, churn.

As in the public checks (graders/checking/stage_helpers/concurrency.py tells how), what a
correct server does at once is waited for, so load can only make it come late.

Each check tests a sentence of exercises/08_concurrency/README.md, named in its comment, and a
public check already catches that rule's most common violation: these add depth, never a rule.
"""

import random
import socket
import threading

from graders.api import Failure, check
from graders.api import concurrency as shared  # what the public checks of this stage use too

CONCURRENT_HINT = ("Serve every connection at once, each with its own buffer; answer every complete line "
                   "upper-cased, a last line without '\\n' at EOF, then close that connection. Resolve nothing: "
                   "the listener you are given may be IPv6.")
ROOM_HINT = ("One place adds a member (after its welcome), one place removes it (once, announcing '* <nick> left'); "
             "iterate over a copy of the members when you broadcast, so a member joining or leaving meanwhile "
             "cannot break the loop.")
ORDER_HINT = ("Send the newcomer its '* welcome <nick>' before it is a member that hears anything, and tell the "
              "others '* <nick> joined' before relaying its first line.")


@check(points=1, hint=CONCURRENT_HINT)
def test_concurrently_serves_many_clients_over_ipv6(lab):
    """serve_concurrently() on an IPv6 listener answers eight clients whose lines arrive interleaved, in short reads"""
    # README: "serve_concurrently" — every connection is served at once (stage 07's rules for each).
    server = shared.Server(lab, "serve_concurrently", 8, faults=True, family=socket.AF_INET6)
    clients = [server.member(f"client {i}") for i in range(8)]
    texts = [f"line {i} ünïcode\nsecond {i}" for i in range(8)]
    data = [t.encode() for t in texts]
    pause = threading.Event()
    for i in range(max(map(len, data))):  # byte i of every client in turn
        for client, payload in zip(clients, data, strict=True):
            if i < len(payload):
                client.send(payload[i:i + 1])
        pause.wait(0.001)
    for client in clients:
        client.leave("eof")
    for client in clients:
        server.until(lambda c=client: c.ended, f"{client.name} was answered and closed", hint=CONCURRENT_HINT)
    server.expect_clean(server.finish("after its eight clients", hint=CONCURRENT_HINT))
    for client, text in zip(clients, texts, strict=True):
        want = text.upper().split("\n")
        if client.texts() != want:
            raise Failure(f"{client.name} got the wrong answers", expected=repr(want),
                          actual=shared.shown_lines(client), hint=CONCURRENT_HINT)


@check(points=1, hint=ROOM_HINT)
def test_chat_survives_churn(lab):
    """serve_chat(): twenty members join, talk and leave around two steady talkers, each join and leave heard once"""
    # README: "serve_chat", rules 1–4 — every join and leave is announced exactly once to every
    # member in the room; lines from one sender keep their order.
    rng = random.Random(lab.seed)
    server = shared.Server(lab, "serve_chat", 22)
    steady = [shared.joined(server, nick, hint=ROOM_HINT, log_lines=False) for nick in ("sam", "tia")]
    server.until(lambda: "* tia joined" in steady[0].texts() or steady[0].ended, "sam heard that tia joined",
                 hint=ROOM_HINT)
    said = {"sam": [], "tia": []}
    live = []
    for i in range(20):
        nick = f"m{i:02d}"
        live.append(shared.joined(server, nick, hint=ROOM_HINT, log_lines=False))
        talker = steady[i % 2]
        line = f"line {i} from {talker.name}"
        talker.say(line)
        said[talker.name].append(line)
        if rng.random() < 0.5:
            live[-1].say(f"{nick} was here")
        while len(live) > rng.randint(0, 3):  # a few short-lived members at a time
            live.pop(rng.randrange(len(live))).leave(rng.choice(["eof", "reset", "close"]))
    for member in live:
        member.leave("eof")
    nicks = [f"m{i:02d}" for i in range(20)]
    for member in steady:
        server.until(lambda m=member: all(f"* {n} left" in m.texts() for n in nicks) or m.ended,
                     f"{member.name} heard all twenty members leave", hint=ROOM_HINT,
                     actual=lambda m=member: f"{m.name} got {shared.shown_lines(m, 30)}")
    for member in steady:
        member.leave("eof")
    server.finish("after every member left", hint=ROOM_HINT)
    for member, other in ((steady[0], "tia"), (steady[1], "sam")):
        texts = member.texts()
        for nick in nicks:
            for event in ("joined", "left"):
                if texts.count(f"* {nick} {event}") != 1:
                    raise Failure(f"{member.name} heard '* {nick} {event}' {texts.count(f'* {nick} {event}')} "
                                  "times", expected="exactly once", actual=shared.shown_lines(member, 30),
                                  hint=ROOM_HINT)
        got = [t.split(": ", 1)[1] for t in texts if t.startswith(f"{other}: ")]
        if got != said[other]:
            raise Failure(f"{member.name} did not get {other}'s lines once each, in order", expected=repr(said[other]),
                          actual=repr(got), hint=ROOM_HINT)


@check(points=1, hint=ROOM_HINT)
def test_chat_over_ipv6_with_short_reads(lab):
    """serve_chat() on an IPv6 listener, in short reads and writes, relays UTF-8 lines whole and announces leaving"""
    # README: "serve_chat", rules 2–4 — lines relayed whole to every other member; leaving announced.
    server = shared.Server(lab, "serve_chat", 3, faults=True, family=socket.AF_INET6)
    members = [shared.joined(server, nick, hint=ROOM_HINT) for nick in ("zoë", "łukasz", "李")]
    for i, member in enumerate(members):
        later = [f"* {m.name} joined" for m in members[i + 1:]]
        server.until(lambda m=member, w=later: all(x in m.texts() for x in w) or m.ended,
                     f"{member.name} heard every later member join", hint=ROOM_HINT)
    for member in members:
        member.say(f"grüße von {member.name} — ✓")
    for member in members:
        server.until(lambda m=member: len(shared.messages(m)) >= 2 or m.ended,
                     f"{member.name} got the two other members' lines", hint=ROOM_HINT)
    members[0].leave("eof")
    for member in members[1:]:
        server.until(lambda m=member: "* zoë left" in m.texts() or m.ended, f"{member.name} heard that zoë left",
                     hint=ROOM_HINT)
    for member in members[1:]:
        member.leave("eof")
    server.finish("after every member left", hint=ROOM_HINT)
    for member in members:
        want = sorted(f"{m.name}: grüße von {m.name} — ✓" for m in members if m is not member)
        if sorted(shared.messages(member)) != want:
            raise Failure(f"{member.name} did not get the other lines whole", expected=repr(want),
                          actual=repr(shared.messages(member)), hint=ROOM_HINT)


@check(points=1, hint=ORDER_HINT)
def test_chat_newcomer_hears_its_welcome_first_amid_traffic(lab):
    """serve_chat(): a newcomer joining while two members talk gets its welcome first, and they hear it join before its first line"""
    # README: "serve_chat", rule 1 — the newcomer gets "* welcome <nick>\n", every other member
    # "* <nick> joined\n"; rule 4 — a member receives exactly the lines relayed after its welcome.
    server = shared.Server(lab, "serve_chat", 3)
    ann = shared.joined(server, "ann", hint=ORDER_HINT, log_lines=False)
    bob = shared.joined(server, "bob", hint=ORDER_HINT, log_lines=False)
    chatter = threading.Thread(target=lambda: [m.say(f"{m.name} says {i}") for i in range(200) for m in (ann, bob)],
                               daemon=True)
    chatter.start()
    new = server.member("newbie")
    new.send(b"newbie\nhello, room\n")
    server.until(lambda: new.lines or new.ended, "the newcomer got a line", hint=ORDER_HINT)
    if new.texts()[0] != "* welcome newbie":
        raise Failure("the newcomer heard something before its welcome", expected="'* welcome newbie' first",
                      actual=shared.shown_lines(new), hint=ORDER_HINT)
    chatter.join(shared.WAIT)
    for member in (ann, bob):
        server.until(lambda m=member: "newbie: hello, room" in m.texts() or m.ended,
                     f"{member.name} got the newcomer's first line", hint=ORDER_HINT)
        texts = member.texts()
        if "* newbie joined" not in texts or texts.index("* newbie joined") > texts.index("newbie: hello, room"):
            raise Failure(f"{member.name} got the newcomer's first line before hearing that it joined",
                          expected="'* newbie joined' before 'newbie: hello, room'", hint=ORDER_HINT)
    server.end_all()
    server.finish("after every member left", hint=ORDER_HINT)
