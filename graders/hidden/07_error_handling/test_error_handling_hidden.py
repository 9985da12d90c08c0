"""Hidden checks for stage 07: the public checks' ideas on IPv6, other timings and harder clients.

As in the public checks, timing is judged so that load cannot fail a correct solution:
lower bounds where a wait is required, and upper bounds only where a correct solution
needs milliseconds and the mistake costs seconds.

Each check tests a sentence of exercises/07_error_handling/README.md, named in its comment,
and a public check already catches that rule's most common violation: these add depth
(IPv6, byte-by-byte replies, more kinds of bad clients), never a rule of their own.
"""

import socket
import threading

from graders.api import (
    CallTimedOut,
    Close,
    Pause,
    RecvAll,
    RecvLine,
    Reset,
    Send,
    ShutWr,
    Stall,
    check,
)
from graders.api import error_handling as shared  # what the public checks of this stage use too

REQUEST_HINT = ("Loop over recv() until the buffer holds b'\\n'; return only the first line, decoded as a whole "
                "(a multi-byte character may be split across two reads). Resolve the host with "
                "socket.create_connection so that '::1' works too.")
EOF_HINT = ("recv() returning b'' means the server closed. Before a whole line arrived that is a failure: raise "
            "EOFError. Close the socket on every path (`with socket.create_connection(...) as sock:`).")
SURVIVE_HINT = ("Put a try/except around ONE client's conversation, inside the accept loop: catch OSError (resets, "
                "timeouts) and ValueError (invalid UTF-8, over-long lines), close that client, serve the next. "
                "Decode whole lines, not chunks: a character may be split across reads.")
LISTENER_TIMEOUT_HINT = ("Put the idle timeout on each accepted connection (conn.settimeout(idle_timeout)), not "
                         "on the listener: accept() must wait as long as it takes for the next client.")


def _connected(peer) -> bool:
    return peer.sock is not None or peer.finished.is_set()


# -- connect_with_retry ----------------------------------------------------------------------------------
@check(points=0.5, hint="Resolve the host with getaddrinfo (or socket.create_connection) inside connect_with_retry, so "
       "that '::1' gives an AF_INET6 socket; retry refused connects with backoff.")
def test_reaches_a_late_ipv6_server(lab):
    """connect_with_retry("::1", ...) reaches an IPv6 server that starts listening 0.15 s later"""
    # README: "connect_with_retry" — host may be an IPv6 address; retry refused connects with backoff.
    server = lab.server([RecvAll()], family=socket.AF_INET6, mode="late")
    host, port = server.address
    pending = lab.start("connect_with_retry", host, port, kwargs={"attempts": 7, "base_delay": 0.06})
    server.listen_after(0.15)  # the deliberate delay: a server that is still starting up
    result = pending.wait()
    with shared.returned_socket(lab, result) as sock:
        shared.expect_connected_to(result, sock, (host, port))


# -- request -----------------------------------------------------------------------------------------------
@check(points=0.5, hint=REQUEST_HINT)
def test_request_over_ipv6_with_a_glued_multibyte_reply(lab):
    """request("::1", ...) returns only the first reply line, sent byte by byte with more glued after it"""
    # README: "request" — host may be an IPv6 address; read one reply line (it may arrive in pieces or
    # glued to more data), return it decoded.
    reply = "ÇA VA, JOSÉ? ☕".encode()
    # The reply comes one byte at a time (so multi-byte characters are split across reads),
    # with a second line glued right behind it that request() must not return.
    server = lab.server([RecvLine(), Send(reply + b"\nNOT THIS ONE\n", piece=1, pause=0.001), RecvAll()],
                        family=socket.AF_INET6)
    host, port = server.address
    result = lab.call("request", host, port, "ça va, josé? ☕", faults=True)
    lab.expect_equal(result, "ÇA VA, JOSÉ? ☕", hint=shared.reply_hint(result, "ÇA VA, JOSÉ? ☕") or REQUEST_HINT)
    lab.expect_no_leaks(result)


@check(points=0.5, hint=EOF_HINT)
def test_request_eof_before_any_byte_and_refused(lab):
    """request() raises EOFError when the server closes without a byte, ConnectionError when refused"""
    # README: "request" — closed before a whole line arrived: EOFError; nothing listening: a
    # ConnectionError (ConnectionRefusedError); the socket is closed on every path.
    server = lab.server([RecvLine(), Close()])
    result = lab.call("request", *server.address, "hello")
    lab.expect_raises(result, EOFError, hint=EOF_HINT)
    lab.expect_no_leaks(result, hint=EOF_HINT)
    _, port = lab.unused_port()
    result = lab.call("request", "127.0.0.1", port, "hello")
    lab.expect_raises(result, ConnectionError, hint="A refused connect raises ConnectionRefusedError: let it "
                      "propagate (it is a ConnectionError).")
    lab.expect_no_leaks(result, hint=EOF_HINT)


# -- serve_lines -------------------------------------------------------------------------------------------
@check(points=1, hint=SURVIVE_HINT)
def test_serve_lines_survives_a_parade_of_bad_clients(lab):
    """serve_lines() on IPv6 outlives a reset, invalid UTF-8, an over-long line and an idle client, in short reads"""
    # README: "serve_lines" — reset, invalid UTF-8, a line longer than max_line bytes (one of exactly
    # max_line is not longer), idle: disconnected and counted; never raise; concept: decode whole lines.
    listener = lab.listener(socket.AF_INET6)
    address = listener.getsockname()[:2]
    scripts = [
        # "é" split between two sends (a deliberate pause): decoding chunk by chunk breaks it.
        ("client 1 (é split across reads)",
         [Send(b"caf\xc3"), Pause(0.05), Send(b"\xa9 cr\xc3\xa8me\n"), RecvLine(), ShutWr(), RecvAll()]),
        ("client 2 (resets)", [Send(b"one\n"), RecvLine(), Reset()]),
        ("client 3 (invalid UTF-8)", [Send(b"\xc3\x28\n"), RecvAll()]),
        ("client 4 (101-byte line)", [Send(b"x" * 101 + b"\n"), RecvAll()]),
        ("client 5 (silent)", [Stall()]),
        ("client 6 (exactly max_line)", [Send(b"y" * 100 + b"\n"), ShutWr(), RecvAll()]),
        ("client 7", [Send(b"last one\n"), ShutWr(), RecvAll()]),
    ]
    # Why a 5 s deadline: the call takes about 0.3 s (the silent client's idle timeout).
    pending = lab.start("serve_lines", listener, len(scripts), kwargs={"idle_timeout": shared.SHORT_TIMEOUT,
                        "max_line": 100}, faults=True, deadline=5.0)
    peers = []
    for name, script in scripts:
        peer = lab.client(address, script, name=name)
        shared.await_progress(pending, lambda peer=peer: _connected(peer))  # one after another, in this order
        peers.append(peer)
    try:
        result = shared.expect_served(pending, "while serving a series of misbehaving clients", hint=SURVIVE_HINT)
    except CallTimedOut as exc:
        raise CallTimedOut(f"{exc.message}: it did not get through the 7 clients (client 5 goes silent and must be "
                           f"dropped after {shared.SHORT_TIMEOUT} s)", hint=SURVIVE_HINT) from None
    shared.expect_answered(peers[0], "CAFÉ CRÈME\n".encode(), "client 1 (whose 'é' was split across two reads)",
                           hint=SURVIVE_HINT)
    shared.expect_answered(peers[1], b"ONE\n", "client 2", hint=SURVIVE_HINT)
    shared.expect_answered(peers[3], b"", "client 4 (a 101-byte line, max_line=100)",
                           hint="Drop a client whose line is longer than max_line bytes.")
    shared.expect_answered(peers[5], b"Y" * 100 + b"\n", "client 6 (a line of exactly max_line bytes)",
                           hint="A line of exactly max_line bytes is allowed: only a LONGER one is dropped.")
    shared.expect_answered(peers[6], b"LAST ONE\n", "client 7", hint=SURVIVE_HINT)
    lab.expect_args_open(result)
    lab.expect_no_leaks(result)


@check(points=0.5, hint=LISTENER_TIMEOUT_HINT)
def test_serve_lines_waits_for_a_slow_next_client(lab):
    """serve_lines(listener, 2, idle_timeout=0.2) still serves a client that arrives 0.5 s after the first"""
    # README: "serve_lines" — idle means a connected client that sends nothing; concept: set the timeout
    # on the accepted connection, not the listener.
    listener = lab.listener()
    pending = lab.start("serve_lines", listener, 2, kwargs={"idle_timeout": 0.2})
    first = lab.client(listener.getsockname()[:2], [Send(b"early\n"), ShutWr(), RecvAll()], name="client 1")
    shared.await_progress(pending, first.finished.is_set)
    # Deliberate pacing, not waiting for readiness: the next client comes later than idle_timeout.
    threading.Event().wait(0.5)
    second = lab.client(listener.getsockname()[:2], [Send(b"late\n"), ShutWr(), RecvAll()], name="client 2")
    shared.expect_served(pending, "while waiting for a client that came 0.5 s after the previous one",
                         hint=LISTENER_TIMEOUT_HINT, blame="a server must wait for its next client as long as it takes; "
                         "only a connected client that goes silent is timed out")
    shared.expect_answered(first, b"EARLY\n", "client 1", hint=LISTENER_TIMEOUT_HINT)
    shared.expect_answered(second, b"LATE\n", "client 2 (which came after a pause)", hint=LISTENER_TIMEOUT_HINT)
