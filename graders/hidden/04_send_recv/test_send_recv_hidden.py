"""Hidden checks for stage 04: the public checks' ideas with other sizes, families and peers.

Variations on the public checks, never new rules; each check names the README sentence it
relies on (exercises/04_send_recv/README.md, "The task").
- A slow reader: the student's socket has a small send buffer and a timeout (as every
  socket in this course has), and the peer waits before reading, so one send() returns
  a short count by itself, without injected faults (see DESIGN.md, Platforms).
- Consecutive calls on one stream, sizes from 0 bytes to 1 MiB, IPv6, a client that sends
  nothing, and a server that resets.
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
    RecvAll,
    Reset,
    Send,
    ShutWr,
    check,
    explain_hang,
    half_close,
    serving,
    wait_until,
)
from graders.api import send_recv as shared  # what the public checks of this stage use too

# Why 3 s: a correct server gives a client its EOF microseconds after the last echo; only a
# server that waits for something else keeps the client waiting this long.
ANSWER_PATIENCE = 3.0
MIB = 1024 * 1024

EXACT_HINT = ("Loop until you have n bytes, asking recv() only for what is still missing (recv(n - len(got))): "
              "then consecutive calls on one stream each get exactly their own bytes.")
ALL_HINT = ("Loop until recv() returns b'', collecting the chunks, then b''.join(chunks): a peer that closes "
            "without sending gives b''.")
CLIENT_HINT = ("echo_client: `with socket.create_connection((host, port), timeout) as sock:` then send_all, "
               "sock.shutdown(socket.SHUT_WR), and recv_all. create_connection handles IPv6 and names too.")
CLOSE_HINT = "Open the socket with `with ... as sock:`, so that it is closed when a reset raises, too."
SERVER_HINT = ("For each client: conn, _ = listener.accept(); then loop: data = conn.recv(CHUNK_SIZE); if not data: "
               "break; send all of data back; then close conn. A client that sends nothing just half-closes.")


# -- send_all -----------------------------------------------------------------------------------------------
# README: "send_all" — "send every byte of data by looping over sock.send(), which may take only part each time".
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
                        hint=shared.sent_hint(data, bytes(peer.received)) or shared.SEND_HINT)


# README: "send_all" — "data may be empty: then nothing is sent".
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
# README: "recv_exactly" — "return exactly n bytes; ask recv() only for what is still missing, so no byte
# past the nth is read from the socket."
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


# README: "recv_exactly" — "return exactly n bytes … no byte past the nth is read from the socket."
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
# README: "recv_all" — "return everything until the peer's EOF …; b"" if the peer closes without sending."
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
# README: "echo_client" — "An empty payload is allowed (you get b"" back)"; "closes its socket on every path".
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


# README: "echo_client" — "host may be a name, an IPv4 or an IPv6 address".
@check(points=0.5, hint=CLIENT_HINT)
def test_echo_client_over_ipv6(lab):
    """echo_client("::1", port, payload) talks to an echo server listening on ::1"""
    payload = b"echo over IPv6, please"
    server = serving(lab, [RecvAll(), Send(payload), Close()], family=socket.AF_INET6)
    result = lab.call("echo_client", *server.address, payload, 2.0)
    lab.expect_equal(result, payload, hint=CLIENT_HINT)


# README: "echo_client" — "A reset by the server raises a ConnectionError"; "it closes its socket on every path".
@check(points=0.5, hint=CLOSE_HINT)
def test_echo_client_closes_its_socket_on_a_reset(lab):
    """echo_client() raises a ConnectionError and leaves no socket open when the server resets"""
    server = serving(lab, [RecvAll(), Reset()])
    result = lab.call("echo_client", *server.address, b"reset me", 2.0, deadline=HANG_DEADLINE)
    lab.expect_raises(result, ConnectionError, hint="Let ConnectionResetError propagate: it is a ConnectionError.")
    lab.expect_no_leaks(result, hint=CLOSE_HINT)


# -- echo_server ------------------------------------------------------------------------------------------------
# README: "echo_server" — "serve clients connections one after another: echo everything each client sends
# until its EOF, then close that connection", on an IPv6 listener.
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
        with shared.exit_told(shared.SERVER_EXIT_HINT):
            result = pending.wait()
    except CallTimedOut as exc:
        raise explain_hang(exc, "echo_server did not return after serving its 3 clients", SERVER_HINT) from None
    lab.returned(result, hint=SERVER_HINT)
    if len(clients) < len(payloads):
        raise Failure(f"echo_server(listener, 3) returned after {len(clients)} client(s)",
                      expected="3 clients served, one after another", hint=SERVER_HINT)
    for i, (client, payload) in enumerate(zip(clients, payloads, strict=True), 1):
        client.wait(DEADLINE)  # the server has returned: every client has its EOF, or is about to
        shared.expect_bytes(f"client {i} did not get its bytes back", payload, client.received,
                            hint=shared.sent_hint(payload, bytes(client.received), server=True) or SERVER_HINT)
        if not client.saw_eof:
            raise Failure(f"client {i} got no EOF after its echo", hint=shared.SERVER_CLOSE_HINT)
    lab.expect_args_open(result)
    lab.expect_no_leaks(result, hint=shared.SERVER_CLOSE_HINT)
