"""Hidden checks for stage 04: the public checks' ideas with other sizes, families and peers.

- A slow reader: the student's socket has a small send buffer and a timeout (as every
  socket in this course has), and the peer waits before reading, so one send() returns
  a short count by itself, without injected faults (see DESIGN.md, Platforms).
- Consecutive calls on one stream, sizes from 0 bytes to 1 MiB, IPv6, a client that sends
  nothing, and an echo client whose server answers each piece before the next one comes.
Echo payloads stay at or below 1 MiB: echo_client sends everything before it reads, so a
payload larger than the buffers between the two ends would block both (by design).
"""

import socket

from graders.api import (
    DEADLINE,
    HANG_DEADLINE,
    CallTimedOut,
    Close,
    Failure,
    Pause,
    Recv,
    RecvAll,
    Reset,
    Send,
    ShutWr,
    Stall,
    check,
    explain_hang,
    half_close,
    serving,
    show_bytes,
    wait_until,
)
from graders.api import send_recv as shared  # what the public checks of this stage use too

# Why 3 s: a correct server answers a piece microseconds after it arrives; only a server that
# waits for something else (the client's EOF) keeps the client waiting this long.
ANSWER_PATIENCE = 3.0
# Why 0.3 s: long enough to be told apart from "did not wait at all", short enough that a
# correct solution waiting it out keeps the stage fast.
SHORT_TIMEOUT = 0.3
# Why 2 s: a correct TimeoutError comes about SHORT_TIMEOUT after the call; only code that
# does not use its timeout takes seconds more.
TIMEOUT_SLACK = 2.0
MIB = 1024 * 1024

EXACT_HINT = ("Loop until you have n bytes, asking recv() only for what is still missing (recv(n - len(got))): "
              "then consecutive calls on one stream each get exactly their own bytes.")
EDGE_HINT = ("recv_exactly(sock, 0) is b'' at once (no recv at all); a negative n raises ValueError; b'' from "
             "recv() before n bytes raise EOFError.")
ALL_HINT = ("Loop until recv() returns b'', collecting the chunks, then b''.join(chunks): a peer that closes "
            "without sending gives b''.")
CLIENT_HINT = ("echo_client: `with socket.create_connection((host, port), timeout) as sock:` then send_all, "
               "sock.shutdown(socket.SHUT_WR), and recv_all. create_connection handles IPv6 and names too.")
TIMEOUT_HINT = ("Pass `timeout` to create_connection (or settimeout before connect) and leave it on the socket: "
                "every recv() is then bounded, and a silent server gives TimeoutError instead of a hang.")
CLOSE_HINT = "Open the socket with `with ... as sock:`, so that it is closed when a reset raises, too."
SERVER_HINT = ("Echo each piece as soon as it arrives: data = conn.recv(CHUNK_SIZE); send all of it back; repeat "
               "until b''. Don't collect the client's data until its EOF: a client may wait for each echo.")


# -- send_all -----------------------------------------------------------------------------------------------
@check(points=1, hint=shared.SEND_HINT)
def test_send_all_to_a_slow_reader(lab):
    """send_all(sock, 256 KiB) delivers every byte to a peer that reads late (send() returns short counts)"""
    data = bytes(range(256)) * 1024
    # Deliberate pacing: the peer is busy for 50 ms before it reads — a slow reader.
    peer, sock = lab.connection([Pause(0.05), RecvAll(limit=len(data))], peer_rcvbuf=65536)
    # A small send buffer and a timeout: Python then makes ONE send() system call per send(),
    # and the kernel takes only what fits (about 32 KiB), as on any busy connection.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    sock.settimeout(DEADLINE)
    lab.transcript.add("grader", "the student's socket: SO_SNDBUF 16 KiB, timeout 10 s (send() may return short)")
    result = lab.call("send_all", sock, data, no_sendall=True)
    lab.returned(result, hint=shared.SEND_HINT)
    half_close(sock)
    peer.wait(DEADLINE)
    shared.expect_bytes("send_all returned, but the slow reader did not receive everything", data, peer.received,
                        hint=shared.SEND_HINT)


@check(points=0.5, hint=shared.SEND_HINT)
def test_send_all_of_nothing(lab):
    """send_all(sock, b"") returns at once and sends nothing"""
    peer, sock = lab.connection([RecvAll()])
    result = lab.call("send_all", sock, b"", no_sendall=True, deadline=HANG_DEADLINE)
    lab.returned(result, hint=shared.SEND_HINT)
    half_close(sock)
    peer.wait(DEADLINE)
    shared.expect_bytes("send_all(sock, b'') sent something", b"", peer.received, hint=shared.SEND_HINT)
    lab.expect_args_open(result)


# -- recv_exactly -------------------------------------------------------------------------------------------
@check(points=0.5, hint=EXACT_HINT)
def test_recv_exactly_reads_consecutive_messages(lab):
    """recv_exactly(sock, 4) then recv_exactly(sock, 10) split a stream sent in 3-byte pieces, leaving the rest"""
    stream = b"HEAD" + b"0123456789" + b"tail!"
    _peer, sock = lab.connection([Send(stream, piece=3, pause=0.001)])
    for n, expected in ((4, b"HEAD"), (10, b"0123456789")):
        result = lab.call("recv_exactly", sock, n, faults=True, deadline=HANG_DEADLINE)
        lab.expect_equal(result, expected, hint=EXACT_HINT)
    left = shared.read_from_our_copy(sock, 5, 2.0)
    lab.transcript.add("grader", f"read what recv_exactly left in the socket: {len(left)} bytes", left)
    if left != b"tail!":
        raise Failure("recv_exactly read past what it was asked for: the rest of the stream is not in the socket",
                      expected="b'tail!' still waiting", actual=repr(left), hint=EXACT_HINT)


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
    result = lab.call("recv_exactly", sock, -1, deadline=HANG_DEADLINE)
    lab.expect_raises(result, ValueError, hint=EDGE_HINT)
    _peer, sock = lab.connection([Close()])
    try:
        result = lab.call("recv_exactly", sock, 8, deadline=HANG_DEADLINE)
    except CallTimedOut as exc:
        raise explain_hang(exc, "the peer closed without sending anything", EDGE_HINT) from None
    lab.expect_raises(result, EOFError, hint=EDGE_HINT)
    lab.expect_args_open(result)


@check(points=0.5, hint=EXACT_HINT)
def test_recv_exactly_a_large_block(lab):
    """recv_exactly(sock, 1 MiB) returns the whole block and leaves the 4 bytes glued behind it"""
    block = bytes(range(251)) * (MIB // 251) + bytes(MIB % 251)
    _peer, sock = lab.connection([Send(block + b"NEXT")])
    result = lab.call("recv_exactly", sock, MIB)
    got = lab.returned(result, hint=EXACT_HINT)
    shared.expect_bytes(f"{result.shown} returned the wrong bytes", block, got, hint=EXACT_HINT)
    left = shared.read_from_our_copy(sock, 4, 2.0)
    if left != b"NEXT":
        raise Failure("recv_exactly read past the 1 MiB it was asked for", expected="b'NEXT' still waiting",
                      actual=repr(left), hint=EXACT_HINT)


# -- recv_all -------------------------------------------------------------------------------------------------
@check(points=0.5, hint=ALL_HINT)
def test_recv_all_of_nothing_and_of_a_lot(lab):
    """recv_all returns b"" when the peer closes at once, and 1 MiB sent over IPv6 in 64 KiB pieces"""
    _peer, sock = lab.connection([ShutWr()])
    result = lab.call("recv_all", sock, deadline=HANG_DEADLINE)
    lab.expect_equal(result, b"", hint=ALL_HINT)
    data = bytes(range(256)) * 4096
    _peer, sock = lab.connection([Send(data, piece=65536), ShutWr()], family=socket.AF_INET6)
    result = lab.call("recv_all", sock, deadline=DEADLINE)
    shared.expect_bytes(f"{result.shown} returned the wrong bytes", data, lab.returned(result, hint=ALL_HINT),
                        hint=ALL_HINT)
    lab.expect_args_open(result)


# -- echo_client ------------------------------------------------------------------------------------------------
@check(points=0.5, hint=CLIENT_HINT)
def test_echo_client_large_and_empty_payloads(lab):
    """echo_client() returns a 1 MiB echo whole, and b"" for an empty payload"""
    payload = bytes(range(256)) * 4096
    server = serving(lab, [RecvAll(), Send(payload), Close()])
    result = lab.call("echo_client", *server.address, payload, 2.0)
    shared.expect_bytes(f"{result.shown} did not return the whole echo", payload, lab.returned(result, hint=CLIENT_HINT),
                        hint=CLIENT_HINT)
    server = serving(lab, [RecvAll(), Close()])
    try:
        result = lab.call("echo_client", *server.address, b"", 2.0, deadline=HANG_DEADLINE)
    except CallTimedOut as exc:
        raise explain_hang(exc, "with nothing to send, shut down the sending side at once and read the EOF",
                           CLIENT_HINT) from None
    lab.expect_equal(result, b"", hint=CLIENT_HINT)
    lab.expect_no_leaks(result, hint=CLOSE_HINT)


@check(points=0.5, hint=CLIENT_HINT)
def test_echo_client_over_ipv6(lab):
    """echo_client("::1", port, payload) talks to an echo server listening on ::1"""
    payload = b"echo over IPv6, please"
    server = serving(lab, [RecvAll(), Send(payload), Close()], family=socket.AF_INET6)
    result = lab.call("echo_client", *server.address, payload, 2.0)
    lab.expect_equal(result, payload, hint=CLIENT_HINT)


@check(points=0.5, hint=TIMEOUT_HINT)
def test_echo_client_times_out_on_a_silent_server(lab):
    """echo_client(..., timeout=0.3) raises TimeoutError when the server reads everything and never answers"""
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
    lab.expect_no_leaks(result, hint=CLOSE_HINT)


@check(points=0.5, hint=CLOSE_HINT)
def test_echo_client_closes_its_socket_on_a_reset(lab):
    """echo_client() raises a ConnectionError and leaves no socket open when the server resets"""
    server = serving(lab, [RecvAll(), Reset()])
    result = lab.call("echo_client", *server.address, b"reset me", 2.0, deadline=HANG_DEADLINE)
    lab.expect_raises(result, ConnectionError, hint="Let ConnectionResetError propagate: it is a ConnectionError.")
    lab.expect_no_leaks(result, hint=CLOSE_HINT)


# -- echo_server ------------------------------------------------------------------------------------------------
@check(points=1, hint=SERVER_HINT)
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
        result = pending.wait()
    except CallTimedOut as exc:
        raise explain_hang(exc, "echo_server did not return after its client", SERVER_HINT) from None
    if stuck:
        raise Failure("the client sent b'ping? ' and waited for its echo, which never came: the server was "
                      "waiting for more (or for the client's EOF) before echoing",
                      expected="b'ping? ' echoed before the client sends more",
                      actual=f"{show_bytes(bytes(client.received))} after {ANSWER_PATIENCE:g} s", hint=SERVER_HINT)
    lab.returned(result, hint=SERVER_HINT)
    client.wait(DEADLINE)  # the server has returned: its close ends the client's script
    shared.expect_bytes("the client did not get its bytes back", b"ping? pong!", client.received, hint=SERVER_HINT)


@check(points=0.5, hint=SERVER_HINT)
def test_echo_server_serves_three_clients_over_ipv6(lab):
    """echo_server(listener, 3) on an IPv6 listener serves 3 clients in turn, one of which sends nothing"""
    listener = lab.listener(socket.AF_INET6)
    address = listener.getsockname()[:2]
    pending = lab.start("echo_server", listener, 3, faults=True)
    payloads = [b"first: " + bytes(range(100)), b"", b"third, a little longer: " + bytes(range(256)) * 2]
    clients = []
    for i, payload in enumerate(payloads, 1):
        script = ([Send(payload, piece=40, pause=0.001)] if payload else []) + [ShutWr(), RecvAll()]
        client = lab.client(address, script, name=f"client {i}")
        clients.append(client)
        # The next client comes once this one has its EOF (a correct server gives it in
        # milliseconds), or once the server's call has ended (a stub, a crash).
        wait_until(lambda c=client: c.finished.is_set() or pending.done(), ANSWER_PATIENCE)
        if pending.done():
            break
    try:
        result = pending.wait()
    except CallTimedOut as exc:
        raise explain_hang(exc, "echo_server did not return after serving its 3 clients", SERVER_HINT) from None
    lab.returned(result, hint=SERVER_HINT)
    if len(clients) < len(payloads):
        raise Failure(f"echo_server(listener, 3) returned after {len(clients)} client(s)",
                      expected="3 clients served, one after another", hint=SERVER_HINT)
    for i, (client, payload) in enumerate(zip(clients, payloads, strict=True), 1):
        client.wait(DEADLINE)  # the server has returned: every client has its EOF, or is about to
        shared.expect_bytes(f"client {i} did not get its bytes back", payload, client.received, hint=SERVER_HINT)
        if not client.saw_eof:
            raise Failure(f"client {i} got no EOF after its echo", hint=shared.SERVER_CLOSE_HINT)
    lab.expect_args_open(result)
    lab.expect_no_leaks(result, hint=shared.SERVER_CLOSE_HINT)
