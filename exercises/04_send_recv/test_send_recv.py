"""Public checks for stage 04: sending and receiving whole byte strings, an echo client and server.

How these checks make loopback behave like a real network:
- short sends: the call runs with faults on, so every send() passes the kernel only a few
  bytes and returns that count; code that calls send() once delivers a few bytes only;
- short reads: bytes are dribbled one at a time (each sent once the last was read) or
  every recv() is capped to a few bytes, so one recv() is never one message;
- glued messages: two messages sit in the socket's queue before recv_exactly runs; after
  it, the grader reads the rest from its own copy of the same socket: it must still be there;
- EOF: the echo servers here answer only after the client's EOF, and the clients wait for
  the server's EOF, as real echo peers do, so a missing shutdown or close shows as a wait;
- what arrived tells the mistake: a prefix (stopped early), bytes missing here and there (a
  send() count ignored), bytes repeated (the data sent again): see stage_helpers/send_recv.py.
"""

from graders.api import (
    DEADLINE,
    HANG_DEADLINE,
    CallTimedOut,
    Close,
    Failure,
    Recv,
    RecvAll,
    Send,
    ShutWr,
    Stall,
    check,
    dribble,
    explain_hang,
    half_close,
    serving,
    show_bytes,
    unread_bytes,
    wait_until,
)
from graders.api import send_recv as shared  # what these checks share with the hidden ones

# Why 3 s: a server that closes a finished client does it microseconds after the last echo;
# only a server that does not close it at all keeps the client waiting this long.
EOF_PATIENCE = 3.0
# Why 3 s: a correct server answers a piece microseconds after it arrives; only a server that
# waits for something else (the client's EOF) keeps the client waiting this long.
ANSWER_PATIENCE = 3.0
# Why 0.3 s: long enough to be told apart from "did not wait at all", short enough that a
# correct solution waiting it out keeps the stage fast.
SHORT_TIMEOUT = 0.3
# Why 2 s: a correct TimeoutError comes about SHORT_TIMEOUT after the call; only code that
# does not use its timeout takes seconds more.
TIMEOUT_SLACK = 2.0

SENDALL_HINT = ("This exercise is the loop that sendall() hides: write it over sock.send(). (sendall() is "
                "switched off on the grader's socket; use it freely in real code.)")
EXACT_HINT = ("recv(n) returns between 1 and n bytes: loop, asking each time only for what is still missing "
              "(recv(n - len(got))), until you have n bytes.")
OVER_READ_HINT = ("Ask recv() only for the bytes still missing: recv(n - len(got)), never recv(4096). Bytes "
                  "past the n-th belong to whoever reads next; once recv() returned them, they are gone from "
                  "the socket.")
EOF_HINT = ("recv() returning b'' means the peer closed: nothing more will come, and recv() keeps returning b'' "
            "at once. Check every chunk: `if not chunk: raise EOFError(...)`.")
ALL_HINT = ("Only b'' means end of file; a short chunk only means 'that is what has arrived so far'. Loop until "
            "recv() returns b'', collecting the chunks, then b''.join(chunks).")
EDGE_HINT = ("recv_exactly(sock, 0) is b'' at once (no recv at all); a negative n raises ValueError before "
             "anything is read; b'' from recv() before n bytes raises EOFError.")
NEGATIVE_HINT = ("Check n first: `if n < 0: raise ValueError(...)`. A negative n asks for nothing that can "
                 "exist; a loop `while len(got) < n` would return b'' for it instead of saying so.")
TIMEOUT_HINT = ("Pass `timeout` to create_connection (or settimeout before connect) and leave it on the socket: "
                "every recv() is then bounded, and a silent server gives TimeoutError instead of a hang.")
CLIENT_CLOSE_HINT = "Open the socket with `with ... as sock:`, so that it is closed when a timeout raises, too."
PIECE_HINT = ("Echo each piece as soon as it arrives: data = conn.recv(CHUNK_SIZE); send all of it back; repeat "
              "until b''. Don't collect the client's data until its EOF: a client may wait for each echo.")
OWN_HINT = "A function given a socket does not own it: don't close it (no `with sock:`), the caller does."
HALF_CLOSE_HINT = ("After sending, call sock.shutdown(socket.SHUT_WR): it sends your FIN, so the server's recv() "
                   "returns b'' and it knows you are done. Then read until YOUR recv() returns b''.")
CLIENT_HINT = ("echo_client: `with socket.create_connection((host, port), timeout) as sock:` then send_all, "
               "sock.shutdown(socket.SHUT_WR), and recv_all. The `with` closes the socket on every path.")
SERVER_HINT = ("For each client: conn, _ = listener.accept(); then loop: data = conn.recv(CHUNK_SIZE); if not data: "
               "break; send all of data back. Echo each piece as it comes: one recv() is not the whole message.")
LISTENER_HINT = ("The listener belongs to echo_server's caller, who may serve more clients on it: close each "
                 "client's connection, never the listener (no `with listener:`).")


# -- helpers -------------------------------------------------------------------------------------------
def _sent_by_send_all(lab, data: bytes, **options) -> tuple:
    """send_all(sock, data) on a live connection whose peer reads everything; (result, what the peer got)."""
    peer, sock = lab.connection([RecvAll(limit=len(data))])
    result = lab.call("send_all", sock, data, no_sendall=True, **options)
    if result.status == "raised" and result.error is not None and "sendall() is switched off" in result.error.message:
        raise Failure(f"{result.shown} called sock.sendall(), which is switched off in this exercise",
                      expected="a loop over sock.send()", actual=str(result.error), hint=SENDALL_HINT)
    lab.returned(result, hint=shared.SEND_HINT)
    # What was sent is on its way; our FIN behind it ends the peer's reading even if bytes are missing.
    half_close(sock)
    peer.wait(DEADLINE)
    return result, bytes(peer.received)


# -- send_all ---------------------------------------------------------------------------------------------
@check(points=1, hint=SENDALL_HINT)
def test_send_all_sends_with_send(lab):
    """send_all(sock, data) delivers data by calling send() (sendall() is switched off)"""
    data = b"hello over TCP, sent with a loop of my own\n"
    result, received = _sent_by_send_all(lab, data)
    shared.expect_bytes("the peer did not receive all the data", data, received,
                        hint=shared.sent_hint(data, received) or shared.SEND_HINT)
    lab.expect_args_open(result, hint=OWN_HINT)


@check(points=2, hint=shared.SEND_HINT)
def test_send_all_survives_short_sends(lab):
    """send_all(sock, 2000 bytes) delivers every byte when each send() takes only a few"""
    data = bytes(range(250)) * 8
    # faults=True: every send() in the student's code passes the kernel at most 7 bytes and
    # returns that count, as a busy network does.
    result, received = _sent_by_send_all(lab, data, faults=True)
    shared.expect_bytes("send_all returned, but the peer did not receive everything", data, received,
                        hint=shared.sent_hint(data, received) or shared.SEND_HINT)
    lab.expect_args_open(result, hint=OWN_HINT)


# -- recv_exactly -----------------------------------------------------------------------------------------
@check(points=1.5, hint=EXACT_HINT)
def test_recv_exactly_collects_dribbled_bytes(lab):
    """recv_exactly(sock, 10) collects 10 bytes that arrive one at a time"""
    _peer, sock = lab.connection([dribble(b"0123456789")])
    result = lab.call("recv_exactly", sock, 10)
    lab.expect_equal(result, b"0123456789", hint=EXACT_HINT)
    lab.expect_args_open(result, hint=OWN_HINT)


@check(points=1.5, hint=OVER_READ_HINT)
def test_recv_exactly_leaves_the_next_message(lab):
    """recv_exactly(sock, 4) takes 4 bytes and leaves the next message, glued behind them, in the socket"""
    head, rest = b"HEAD", b"the next message, already here"
    peer, sock = lab.connection([Send(head + rest)])
    peer.wait(DEADLINE)
    # Both messages sit in the student's receive queue before the call (one segment on loopback).
    wait_until(lambda: unread_bytes(sock) >= len(head + rest), 1.0)
    result = lab.call("recv_exactly", sock, 4)
    lab.expect_equal(result, head, hint=EXACT_HINT)
    lab.expect_args_open(result, hint=OWN_HINT)
    # Why 2 s: the bytes are either still queued (read at once) or gone for good.
    left = shared.read_from_our_copy(sock, len(rest), 2.0)
    lab.transcript.add("grader", f"read what recv_exactly left in the socket: {len(left)} bytes", left)
    if left != rest:
        raise Failure(f"recv_exactly(sock, 4) read past the 4 bytes it was asked for: {len(rest) - len(left)} "
                      "bytes of the next message are gone from the socket",
                      expected=f"{show_bytes(rest)} still waiting in the socket", actual=show_bytes(left),
                      hint=OVER_READ_HINT)


@check(points=1, hint=EOF_HINT)
def test_recv_exactly_raises_eof(lab):
    """recv_exactly(sock, 10) raises EOFError when the peer sends 3 bytes and closes"""
    # The 3 bytes come one at a time, each once the last was read: code that stops after one
    # recv() holds b"a", code that reads on to the EOF and returns what it has holds b"abc".
    _peer, sock = lab.connection([dribble(b"abc"), Close()])
    try:
        result = lab.call("recv_exactly", sock, 10, deadline=HANG_DEADLINE)
    except CallTimedOut as exc:
        raise explain_hang(exc, "the peer sent 3 bytes and closed, so every recv() after them returned b'' at "
                           "once, and your loop went round forever", EOF_HINT) from None
    if result.status == "returned":
        got = result.value
        read_on = isinstance(got, (bytes, bytearray)) and bytes(got) == b"abc"
        shown = show_bytes(bytes(got)) if isinstance(got, (bytes, bytearray)) else repr(got)
        raise Failure(f"{result.shown} returned instead of raising EOFError: the peer sent 3 bytes and closed",
                      expected="EOFError raised", actual=f"returned {shown}",
                      hint=shared.EOF_RETURNED_HINT if read_on else EXACT_HINT)
    lab.expect_raises(result, EOFError, hint=EOF_HINT)
    lab.expect_args_open(result, hint=OWN_HINT)


@check(points=0.5, hint=EDGE_HINT)
def test_recv_exactly_edge_cases(lab):
    """recv_exactly: n=0 gives b"" at once, n=-1 raises ValueError, EOF before any byte raises EOFError"""
    _peer, sock = lab.connection([])
    try:
        result = lab.call("recv_exactly", sock, 0, deadline=HANG_DEADLINE)
    except CallTimedOut as exc:
        raise explain_hang(exc, "0 bytes are already all there: return b'' without calling recv()",
                           EDGE_HINT) from None
    lab.expect_equal(result, b"", hint=EDGE_HINT)
    try:
        result = lab.call("recv_exactly", sock, -1, deadline=HANG_DEADLINE)
    except CallTimedOut as exc:
        raise explain_hang(exc, "recv_exactly(sock, -1) should have raised ValueError at once", NEGATIVE_HINT) from None
    lab.expect_raises(result, ValueError, hint=NEGATIVE_HINT)
    _peer, sock = lab.connection([Close()])
    try:
        result = lab.call("recv_exactly", sock, 8, deadline=HANG_DEADLINE)
    except CallTimedOut as exc:
        raise explain_hang(exc, "the peer closed without sending anything", EOF_HINT) from None
    if result.status == "returned" and result.value in (b"", bytearray()):
        raise Failure(f"{result.shown} returned b'' instead of raising EOFError: the peer closed without sending",
                      expected="EOFError raised", actual="returned b''", hint=shared.EOF_RETURNED_HINT)
    lab.expect_raises(result, EOFError, hint=EOF_HINT)
    lab.expect_args_open(result)


# -- recv_all -------------------------------------------------------------------------------------------------
@check(points=1.5, hint=ALL_HINT)
def test_recv_all_reads_until_eof(lab):
    """recv_all(sock) returns everything the peer sent, in short pieces, up to its EOF"""
    data = b"".join(b"line %03d of what the peer sends\n" % i for i in range(60))
    _peer, sock = lab.connection([Send(data[:100], piece=10, pause=0.001), Send(data[100:]), ShutWr()])
    # faults=True: every recv() returns at most 7 bytes, so a short read cannot be mistaken for the end.
    result = lab.call("recv_all", sock, faults=True, deadline=HANG_DEADLINE)
    got = lab.returned(result, hint=ALL_HINT)
    if not isinstance(got, (bytes, bytearray)):
        raise Failure(f"{result.shown} did not return bytes", actual=repr(got), hint=ALL_HINT)
    shared.expect_bytes(f"{result.shown} returned only part of the data", data, bytes(got), hint=ALL_HINT)
    lab.expect_args_open(result, hint=OWN_HINT)


# -- echo_client --------------------------------------------------------------------------------------------
@check(points=2, hint=HALF_CLOSE_HINT)
def test_echo_client_half_closes_and_reads_the_echo(lab):
    """echo_client() sends the payload, half-closes, and returns the echo the server sends after its EOF"""
    payload = bytes(range(256)) * 12
    # The reference server answers after the client's EOF, as an echo server that reads
    # everything first would: without shutdown(SHUT_WR) both sides wait for each other.
    server = serving(lab, [RecvAll(), Send(payload), Close()])
    try:
        result = lab.call("echo_client", *server.address, payload, 1.0, faults=True, deadline=HANG_DEADLINE)
    except CallTimedOut as exc:
        raise explain_hang(exc, "the server was waiting for your EOF, and you for its", HALF_CLOSE_HINT) from None
    if result.status == "raised" and result.error is not None and result.error.is_a(TimeoutError):
        raise Failure(f"{result.shown} raised {result.error} after {result.elapsed:.1f} s: this server echoes only "
                      "once it has your EOF, and it never got it before you gave up, so each side waited for the "
                      "other", expected="shutdown(SHUT_WR) after sending, then the echo up to the server's EOF",
                      actual=str(result.error), hint=HALF_CLOSE_HINT)
    peer = server.peers[0] if server.peers else None
    got = lab.returned(result, hint=CLIENT_HINT)
    if peer is not None:
        peer.wait(DEADLINE)
        shared.expect_bytes("the server did not receive the whole payload", payload, bytes(peer.received),
                            hint=shared.sent_hint(payload, bytes(peer.received)) or shared.SEND_HINT)
    if not isinstance(got, (bytes, bytearray)):
        raise Failure(f"{result.shown} did not return bytes", actual=repr(got), hint=CLIENT_HINT)
    shared.expect_bytes(f"{result.shown} did not return the whole echo", payload, bytes(got), hint=ALL_HINT)
    lab.expect_no_leaks(result, hint=CLIENT_HINT)


@check(points=0.5, hint=TIMEOUT_HINT)
def test_echo_client_times_out_on_a_silent_server(lab):
    """echo_client(..., timeout=0.3) raises TimeoutError, and closes its socket, when the server never answers"""
    server = serving(lab, [RecvAll(), Stall()])
    try:
        result = lab.call("echo_client", *server.address, b"anyone there?", SHORT_TIMEOUT, deadline=HANG_DEADLINE)
    except CallTimedOut as exc:
        raise explain_hang(exc, "the server read the payload and went silent, and echo_client kept waiting; it "
                           f"should have raised TimeoutError after about {SHORT_TIMEOUT} s", TIMEOUT_HINT) from None
    lab.expect_raises(result, TimeoutError, hint=TIMEOUT_HINT)
    if result.elapsed > SHORT_TIMEOUT + TIMEOUT_SLACK:
        raise Failure(f"{result.shown} raised TimeoutError only after {result.elapsed:.1f} s",
                      expected=f"TimeoutError after about {SHORT_TIMEOUT} s", actual=f"{result.elapsed:.1f} s",
                      hint=TIMEOUT_HINT)
    lab.expect_no_leaks(result, hint=CLIENT_CLOSE_HINT)


# -- echo_server ----------------------------------------------------------------------------------------------
@check(points=2.5, hint=SERVER_HINT)
def test_echo_server_serves_clients_in_turn(lab):
    """echo_server(listener, 2) echoes each client's bytes, read in short pieces, and closes each connection"""
    listener = lab.listener()
    address = listener.getsockname()[:2]
    # faults=True: every recv() in the server returns at most 7 bytes, every send() sends at most 7.
    pending = lab.start("echo_server", listener, 2, faults=True)
    first_data = b"first client, in pieces: " + bytes(range(48, 122))
    first = lab.client(address, [Send(first_data, piece=20, pause=0.001), ShutWr(), RecvAll()], name="client 1")
    # Client 2 comes only once client 1 has its EOF: a server that keeps client 1's connection
    # open while it waits in accept() for client 2 never gives it.
    wait_until(lambda: first.finished.is_set() or pending.done(), EOF_PATIENCE)
    if pending.done():  # before client 2 even came: a stub, a crash, or a server that ignores `clients`
        with shared.exit_told(shared.SERVER_EXIT_HINT):
            lab.returned(pending.wait(), hint=SERVER_HINT)
        raise Failure("echo_server(listener, 2) returned after its first client", expected="2 clients served, "
                      "one after another, then return", actual="returned after 1", hint=SERVER_HINT)
    closed = first.finished.is_set() and first.saw_eof
    second_data = b"second client: " + bytes(range(200, 256)) * 4
    second = lab.client(address, [Send(second_data), ShutWr(), RecvAll()], name="client 2")
    try:
        with shared.exit_told(shared.SERVER_EXIT_HINT):
            result = pending.wait()
    except CallTimedOut as exc:
        raise explain_hang(exc, "echo_server did not return after serving its 2 clients", SERVER_HINT) from None
    lab.returned(result, hint=SERVER_HINT)
    # The server has returned: both clients have their EOF by now, or are about to.
    first.wait(DEADLINE)
    second.wait(DEADLINE)
    reset = " (and the server reset its connection: it closed with bytes still unread)" if first.saw_reset else ""
    shared.expect_bytes("client 1 did not get its bytes back" + reset, first_data, bytes(first.received),
                        hint=shared.sent_hint(first_data, bytes(first.received), server=True) or SERVER_HINT)
    if not closed:
        raise Failure("client 1 got its echo but no EOF: the server kept its connection open while waiting in "
                      "accept() for the next client", expected="client 1 sees EOF after its echo",
                      actual=f"no EOF within {EOF_PATIENCE:g} s", hint=shared.SERVER_CLOSE_HINT)
    shared.expect_bytes("client 2 did not get its bytes back", second_data, bytes(second.received),
                        hint=shared.sent_hint(second_data, bytes(second.received), server=True) or SERVER_HINT)
    if not second.saw_eof:
        raise Failure("client 2 was not closed after its echo", expected="EOF after the echo",
                      hint=shared.SERVER_CLOSE_HINT)
    lab.expect_no_leaks(result, hint=shared.SERVER_CLOSE_HINT)


@check(points=1, hint=LISTENER_HINT)
def test_echo_server_leaves_the_listener_open(lab):
    """echo_server(listener, 1) returns after its client and leaves the listener open"""
    listener = lab.listener()
    pending = lab.start("echo_server", listener, 1)
    lab.client(listener.getsockname()[:2], [Send(b"bye"), ShutWr(), RecvAll()], name="client")
    with shared.exit_told(shared.SERVER_EXIT_HINT):
        result = pending.wait()
    lab.returned(result, hint=SERVER_HINT)
    lab.expect_args_open(result, hint=LISTENER_HINT)


@check(points=1, hint=PIECE_HINT)
def test_echo_server_echoes_each_piece_as_it_comes(lab):
    """echo_server() echoes a client's first piece before the client sends its second"""
    listener = lab.listener()
    pending = lab.start("echo_server", listener, 1)
    client = lab.client(listener.getsockname()[:2],
                        [Send(b"ping? "), Recv(6), Send(b"pong!"), Recv(5), ShutWr(), RecvAll()], name="client")
    # Either the client's script runs to its end, or the server's call ends (a stub, a crash).
    wait_until(lambda: client.finished.is_set() or pending.done(), ANSWER_PATIENCE)
    stuck = not (client.finished.is_set() or pending.done())
    if stuck:
        client.shutdown()  # unblocks the server, so that its call can be collected
    try:
        with shared.exit_told(shared.SERVER_EXIT_HINT):
            result = pending.wait()
    except CallTimedOut as exc:
        raise explain_hang(exc, "echo_server did not return after its client", PIECE_HINT) from None
    if stuck:
        raise Failure("the client sent b'ping? ' and waited for its echo, which never came: the server was "
                      "waiting for more (or for the client's EOF) before echoing",
                      expected="b'ping? ' echoed before the client sends more",
                      actual=f"{show_bytes(bytes(client.received))} after {ANSWER_PATIENCE:g} s", hint=PIECE_HINT)
    lab.returned(result, hint=PIECE_HINT)
    client.wait(DEADLINE)  # the server has returned: its close ends the client's script
    shared.expect_bytes("the client did not get its bytes back", b"ping? pong!", client.received, hint=PIECE_HINT)
