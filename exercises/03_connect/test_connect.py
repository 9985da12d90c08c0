"""Public checks for stage 03: connecting by name, and reading one line from a server.

How these checks make loopback behave like a real network:
- "try every address": the call runs with a made-up name, dual.tcplab.test, which inside the
  worker (for that call only) resolves to ::1 first, then 127.0.0.1. The grader keeps the
  port bound but not listening on ::1, so that address refuses, and its server listens on
  127.0.0.1: the "localhost is ::1 first, the server is on IPv4" situation, made certain;
- "one recv is not one line": the reference server sends its line in small pieces AND the
  call runs with short reads on (every recv returns at most 7 bytes), so code that takes
  one recv for the line fails every time, whatever the timing;
- "bound the line": the server sends too much and then keeps the connection open (Stall),
  so only a reader that counts what it holds can stop; one that waits for more meets its
  own `timeout` instead.
Checks that have to wait for a timeout (a connect to a full backlog, a silent server) are
hidden ones: the public checks of a correct solution never wait.
"""

import socket

from graders.api import (
    DEADLINE,
    HANG_DEADLINE,
    CallTimedOut,
    Close,
    Failure,
    RecvAll,
    Send,
    Stall,
    check,
    close_sockets,
    explain_hang,
    peer_of,
    serving,
)
from graders.api import connect as shared  # what these checks share with the hidden ones

IPV6_HINT = ("Take the family from getaddrinfo, never hard-code AF_INET: socket.getaddrinfo('::1', port, "
             "type=socket.SOCK_STREAM) gives an AF_INET6 entry whose address is ('::1', port, 0, 0).")
EVERY_HINT = ("A name can have several addresses, and the first may refuse while the next one works: when "
              "connect() raises, close that socket and try the next address; raise the last error only when "
              "none of them connected.")
TIMEOUT_KEPT_HINT = ("settimeout(timeout) BEFORE connect() and leave it there: the returned socket must still "
                     "have it, so that every later recv() is bounded too. Don't reset it to None.")
REFUSED_HINT = ("Let the OSError of the last attempt propagate: nothing listening is ConnectionRefusedError. "
                "Don't catch it and return None.")
CLOSE_ATTEMPT_HINT = ("Each failed attempt's socket is a file descriptor: sock.close() in the except block "
                      "before you try the next address (or re-raise).")
LINE_HINT = ("TCP is a byte stream: one recv() returns whatever has arrived, maybe a few bytes. Append each "
             "chunk to a buffer and keep reading until the buffer holds b'\\n'; the line is what comes before it.")
EOF_HINT = ("recv() returning b'' means the server closed: no more bytes will come, and recv() keeps returning "
            "b'' at once. Check for it on every read and raise EOFError.")
MAX_LINE_HINT = ("Check the size as the buffer grows: as soon as it holds more than max_line bytes and no "
                 "b'\\n', raise ValueError. Don't wait for a newline that may never come.")
CLOSE_HINT = ("Open the socket with `with connect(host, port, timeout) as sock:` so it is closed however "
              "fetch_line ends: by returning, or by raising EOFError, ValueError, TimeoutError...")


# -- helpers -------------------------------------------------------------------------------------------
def _connected_socket(lab, result, *, hint: str = shared.CONNECT_HINT) -> socket.socket:
    """The socket connect() returned; the check closes it (`with`)."""
    value = lab.returned(result, hint=hint)
    if not isinstance(value, socket.socket):
        raise Failure(f"{result.shown} did not return a socket", expected="a connected socket",
                      actual=repr(value), hint=hint)
    return value


def _expect_connected_to(sock: socket.socket, shown: str, family: socket.AddressFamily, address: tuple,
                         *, hint: str = shared.CONNECT_HINT) -> None:
    if sock.family != family or sock.type != socket.SOCK_STREAM:
        raise Failure(f"{shown} returned a socket of the wrong family or type",
                      expected=f"{family.name}, SOCK_STREAM",
                      actual=f"{socket.AddressFamily(sock.family).name}, {socket.SocketKind(sock.type).name}",
                      hint=hint)
    peer = peer_of(sock)
    if peer != tuple(address):
        raise Failure(f"{shown} returned a socket that is not connected to the server",
                      expected=f"connected to {tuple(address)}", actual=f"peer {peer}", hint=hint)


def _refused_everywhere(lab):
    """A port bound but not listening on both loopbacks. (port, blocker, hosts); the caller closes the blocker."""
    for _ in range(5):
        _, port = lab.unused_port(socket.AF_INET)
        blocker = shared.refusing(socket.AF_INET6, port)
        if blocker is not None:
            lab.transcript.add("grader", f"{shared.DUAL} resolves to ::1 then 127.0.0.1; port {port} is bound but "
                               "not listening on either: both connects are refused")
            return port, blocker, {shared.DUAL: ["::1", "127.0.0.1"]}
    raise RuntimeError("no port was free on both ::1 and 127.0.0.1")


# -- connect ----------------------------------------------------------------------------------------------
@check(points=1, hint=shared.CONNECT_HINT)
def test_connects_to_a_server(lab):
    """connect("127.0.0.1", port) returns a TCP socket connected to the server"""
    address = shared.listening(lab)
    result = lab.call("connect", *address, 2.5)
    with _connected_socket(lab, result) as sock:
        _expect_connected_to(sock, result.shown, socket.AF_INET, address)


@check(points=1, hint=TIMEOUT_KEPT_HINT, depends="connects_to_a_server")
def test_keeps_the_timeout_on_the_socket(lab):
    """the socket connect(host, port, timeout=2.5) returns still has its 2.5 s timeout"""
    address = shared.listening(lab)
    result = lab.call("connect", *address, 2.5)
    with _connected_socket(lab, result) as sock:
        if sock.gettimeout() != 2.5:
            raise Failure("the returned socket does not keep the timeout", expected="sock.gettimeout() == 2.5",
                          actual=f"sock.gettimeout() == {sock.gettimeout()!r}"
                          + (" (blocking forever: a silent server would hang every recv)"
                             if sock.gettimeout() is None else ""), hint=TIMEOUT_KEPT_HINT)


@check(points=1, hint=IPV6_HINT)
def test_connects_to_an_ipv6_address(lab):
    """connect("::1", port) returns an IPv6 socket connected to a server listening on ::1"""
    address = shared.listening(lab, socket.AF_INET6)
    result = lab.call("connect", *address, 2.5)
    if result.status == "raised" and result.error is not None and result.error.is_a("gaierror"):
        raise Failure(f"{result.shown} raised {result.error}: an IPv4 (AF_INET) socket cannot connect to an "
                      "IPv6 address", expected="an AF_INET6 socket connected to ::1", hint=IPV6_HINT)
    with _connected_socket(lab, result, hint=IPV6_HINT) as sock:
        _expect_connected_to(sock, result.shown, socket.AF_INET6, address, hint=IPV6_HINT)


@check(points=2, hint=EVERY_HINT)
def test_tries_every_address(lab):
    """connect() to a name whose first address (::1) refuses connects to its second (127.0.0.1)"""
    address, blocker, hosts = shared.dual(lab, socket.AF_INET)
    with blocker:
        result = lab.call("connect", shared.DUAL, address[1], 2.5, hosts=hosts)
    if result.status == "raised" and result.error is not None and result.error.is_a("gaierror"):
        raise Failure(f"{result.shown} raised {result.error}: in this check {shared.DUAL} is known to "
                      "socket.getaddrinfo only (it stands for a name with an IPv6 and an IPv4 address, like "
                      "localhost on many machines)", expected=f"a socket connected to {address}",
                      actual=str(result.error), hint=EVERY_HINT)
    if result.status == "raised":
        raise Failure(f"{result.shown} raised {result.error}: {shared.DUAL} resolves to ::1 then 127.0.0.1; ::1 "
                      "refused, and the server was listening on 127.0.0.1, the next address",
                      expected=f"a socket connected to {address}", actual=str(result.error), hint=EVERY_HINT)
    with _connected_socket(lab, result, hint=EVERY_HINT) as sock:
        _expect_connected_to(sock, result.shown, socket.AF_INET, address, hint=EVERY_HINT)
    lab.expect_no_leaks(result, hint=CLOSE_ATTEMPT_HINT)


@check(points=1, hint=REFUSED_HINT)
def test_nothing_listening_raises_connection_refused(lab):
    """connect() to a port where nothing listens raises ConnectionRefusedError"""
    _, port = lab.unused_port()
    result = lab.call("connect", "127.0.0.1", port, 2.5)
    close_sockets(result.value)
    lab.expect_raises(result, ConnectionRefusedError, hint=REFUSED_HINT)


@check(points=1, hint=CLOSE_ATTEMPT_HINT)
def test_closes_the_sockets_of_failed_attempts(lab):
    """connect() to a name whose two addresses both refuse raises ConnectionRefusedError, leaving no socket open"""
    port, blocker, hosts = _refused_everywhere(lab)
    with blocker:
        result = lab.call("connect", shared.DUAL, port, 2.5, hosts=hosts)
    close_sockets(result.value)
    lab.expect_raises(result, ConnectionRefusedError, hint=REFUSED_HINT)
    lab.expect_no_leaks(result, hint=CLOSE_ATTEMPT_HINT)


# -- fetch_line -----------------------------------------------------------------------------------------
@check(points=2, hint=LINE_HINT)
def test_fetch_line_reads_a_line_sent_in_pieces(lab):
    """fetch_line() returns the whole line when the server sends it in small pieces"""
    line = b"Welcome to tcplab: this line comes in pieces"
    # The deliberate pacing (3 bytes every millisecond) is a slow sender; faults=True makes each
    # recv return at most 7 bytes, so one recv can never hold the whole line.
    server = serving(lab, [Send(line + b"\n", piece=3, pause=0.001), RecvAll()])
    result = lab.call("fetch_line", *server.address, faults=True)
    lab.expect_equal(result, line, hint=LINE_HINT)


@check(points=1.5, hint=EOF_HINT)
def test_fetch_line_raises_eof_when_the_server_closes_early(lab):
    """fetch_line() raises EOFError when the server closes before a newline (after b"abc", and after nothing)"""
    for script, what in (([Send(b"abc"), Close()], 'sent b"abc" and closed'), ([Close()], "closed at once")):
        server = serving(lab, script)
        try:
            result = lab.call("fetch_line", *server.address, 2.0, deadline=HANG_DEADLINE)
        except CallTimedOut as exc:
            raise explain_hang(exc, f"the server {what}, so every recv() returned b'' at once, and your loop "
                               "went round forever", EOF_HINT) from None
        lab.expect_raises(result, EOFError, hint=EOF_HINT)


@check(points=1.5, hint=MAX_LINE_HINT)
def test_fetch_line_rejects_an_over_long_line(lab):
    """fetch_line(max_line=100) raises ValueError at once when the server sends 1000 bytes without a newline"""
    server = serving(lab, [Send(b"x" * 1000), Stall()])
    # Why timeout=1.0: a reader that does not count waits for more and raises TimeoutError
    # after 1 s; a correct one raises ValueError as soon as it holds 101 bytes.
    try:
        result = lab.call("fetch_line", *server.address, kwargs={"timeout": 1.0, "max_line": 100},
                          deadline=HANG_DEADLINE)
    except CallTimedOut as exc:
        raise explain_hang(exc, "the server sent 1000 bytes without a newline and went silent; fetch_line "
                           "kept waiting for the newline", MAX_LINE_HINT) from None
    if result.status == "raised" and result.error is not None and result.error.is_a(TimeoutError):
        raise Failure(f"{result.shown} raised {result.error} after {result.elapsed:.1f} s: it held 1000 bytes "
                      "without a newline and waited for more", expected="ValueError as soon as it held 101 bytes",
                      actual=str(result.error), hint=MAX_LINE_HINT)
    lab.expect_raises(result, ValueError, hint=MAX_LINE_HINT)


@check(points=1, hint=CLOSE_HINT)
def test_fetch_line_closes_its_socket(lab):
    """fetch_line() closes its socket when it returns, and when it raises EOFError or ValueError"""
    server = serving(lab, [Send(b"ok\n"), RecvAll()])
    result = lab.call("fetch_line", *server.address)
    lab.returned(result, hint=LINE_HINT)
    lab.expect_no_leaks(result, hint=CLOSE_HINT)
    peer = server.peers[0] if server.peers else None
    if peer is None or not peer.wait(DEADLINE) or not peer.saw_eof:
        raise Failure("the server never saw the connection close after fetch_line returned",
                      expected="the client's FIN", actual="an open connection", hint=CLOSE_HINT)
    cases = (([Send(b"abc"), Close()], {}, 'sent b"abc" and closed'),
             ([Send(b"x" * 1000), Stall()], {"timeout": 1.0, "max_line": 100}, "sent 1000 bytes, no newline"))
    for script, kwargs, when in cases:
        server = serving(lab, script)
        result = lab.call("fetch_line", *server.address, kwargs=kwargs, deadline=HANG_DEADLINE)
        lab.expect_seen(result)
        if result.leaked:
            ended = f"raised {result.error}" if result.status == "raised" else "returned"
            raise Failure(f"{result.shown} {ended} and left its socket open: " + "; ".join(result.leaked),
                          expected=f"the socket closed (the server {when})", actual="a socket left open",
                          hint=CLOSE_HINT)
