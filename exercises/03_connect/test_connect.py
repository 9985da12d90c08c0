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
- "timeouts": a listener whose accept queue is full never answers the handshake, and a server
  that accepts and says nothing never sends; a correct solution waits out its 0.3 s timeout.
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
    dribble,
    explain_hang,
    peer_of,
    serving,
    show_bytes,
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
# Why 0.3 s: long enough to be told apart from "did not wait at all", short enough that a
# correct solution waiting it out keeps the stage fast.
SHORT_TIMEOUT = 0.3
# Why 2 s: a correct TimeoutError comes about SHORT_TIMEOUT after the call; only code that
# does not use its timeout takes seconds more.
TIMEOUT_SLACK = 2.0

LINE_HINT = shared.LINE_HINT
CONNECT_TIMEOUT_HINT = ("Set the timeout BEFORE connect(): sock.settimeout(timeout); sock.connect(address). A "
                        "timeout set after connect() cannot bound the connect, which then waits for the kernel "
                        "to give up (about two minutes).")
SILENT_HINT = ("Pass fetch_line's `timeout` on to connect() and keep it on the socket: recv() then raises "
               "TimeoutError when the server stays silent. (Not connect(host, port): that is 5 s, not yours.)")
EOF_HINT = ("recv() returning b'' means the server closed: no more bytes will come, and recv() keeps returning "
            "b'' at once. Check for it on every read and raise EOFError.")
EOF_RETURNED_HINT = ("The server closed before its b'\\n': what you hold is not a line. When recv() returns b'' "
                     "(or readline() returns bytes that do not end in b'\\n'), raise EOFError instead of returning "
                     "what you have.")
MAX_LINE_HINT = ("Check the size as the buffer grows: as soon as it holds more than max_line bytes and no "
                 "b'\\n', raise ValueError. Don't wait for a newline that may never come.")
EXACT_MAX_HINT = ("The limit is on the line without its b'\\n': a line of exactly max_line bytes is fine. Raise "
                  "ValueError only when you hold MORE than max_line bytes and none of them is b'\\n'.")
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
    with shared.exit_told(shared.EXIT_HINT):
        result = lab.call("connect", "127.0.0.1", port, 2.5)
    close_sockets(result.value)
    lab.expect_raises(result, ConnectionRefusedError, hint=REFUSED_HINT)


@check(points=1, hint=CLOSE_ATTEMPT_HINT)
def test_closes_the_sockets_of_failed_attempts(lab):
    """connect() to a name whose two addresses both refuse raises ConnectionRefusedError, leaving no socket open"""
    port, blocker, hosts = _refused_everywhere(lab)
    with blocker, shared.exit_told(shared.EXIT_HINT):
        result = lab.call("connect", shared.DUAL, port, 2.5, hosts=hosts)
    close_sockets(result.value)
    lab.expect_raises(result, ConnectionRefusedError, hint=REFUSED_HINT)
    lab.expect_no_leaks(result, hint=CLOSE_ATTEMPT_HINT)


@check(points=1, hint=CONNECT_TIMEOUT_HINT)
def test_connect_times_out(lab):
    """connect(host, port, timeout=0.3) to a server that never answers the handshake raises TimeoutError"""
    server = lab.server(mode="full")
    try:
        with shared.exit_told(shared.EXIT_HINT):
            result = lab.call("connect", *server.address, SHORT_TIMEOUT, deadline=HANG_DEADLINE)
    except CallTimedOut as exc:
        raise explain_hang(exc, "the server's accept queue was full, so the handshake was never answered; "
                           f"connect should have given up after {SHORT_TIMEOUT} s", CONNECT_TIMEOUT_HINT) from None
    close_sockets(result.value)
    lab.expect_raises(result, TimeoutError, hint=CONNECT_TIMEOUT_HINT)
    if result.elapsed > SHORT_TIMEOUT + TIMEOUT_SLACK:
        raise Failure(f"{result.shown} raised TimeoutError only after {result.elapsed:.1f} s",
                      expected=f"TimeoutError after about {SHORT_TIMEOUT} s", actual=f"{result.elapsed:.1f} s",
                      hint="Use the `timeout` argument for the connect, not a number of your own.")
    lab.expect_no_leaks(result)


# -- fetch_line -----------------------------------------------------------------------------------------
@check(points=2, hint=LINE_HINT)
def test_fetch_line_reads_a_line_sent_in_pieces(lab):
    """fetch_line() returns the whole line when the server sends it in small pieces"""
    line = b"Welcome to tcplab: this line comes in pieces"
    # The deliberate pacing (3 bytes every millisecond) is a slow sender; faults=True makes each
    # recv return at most 7 bytes, so one recv can never hold the whole line.
    server = serving(lab, [Send(line + b"\n", piece=3, pause=0.001), RecvAll()])
    result = lab.call("fetch_line", *server.address, faults=True)
    shared.expect_line(lab, result, line, line + b"\n", hint=LINE_HINT)


@check(points=1, hint=LINE_HINT)
def test_fetch_line_returns_only_the_first_line(lab):
    r"""fetch_line() returns b"first" for b"first\nsecond\n", b"" for b"\n", and b"hi\r" for b"hi\r\n" """
    for sent, expected in ((b"first\nsecond\n", b"first"), (b"\n", b""), (b"hi\r\n", b"hi\r")):
        server = serving(lab, [Send(sent), RecvAll()])
        result = lab.call("fetch_line", *server.address, faults=True)
        shared.expect_line(lab, result, expected, sent, hint=LINE_HINT)


@check(points=1.5, hint=EOF_HINT)
def test_fetch_line_raises_eof_when_the_server_closes_early(lab):
    """fetch_line() raises EOFError when the server closes before a newline (after b"abc", and after nothing)"""
    # b"abc" comes one byte at a time, each once the last was read: code that stops after one
    # recv() holds b"a", code that reads on to the EOF and returns what it has holds b"abc".
    for script, what in (([dribble(b"abc"), Close()], 'sent b"abc" and closed'), ([Close()], "closed at once")):
        server = serving(lab, script)
        try:
            with shared.exit_told(shared.EXIT_HINT):
                result = lab.call("fetch_line", *server.address, 2.0, deadline=HANG_DEADLINE)
        except CallTimedOut as exc:
            raise explain_hang(exc, f"the server {what}, so every recv() returned b'' at once, and your loop "
                               "went round forever", EOF_HINT) from None
        if result.status == "returned":
            got = result.value
            shown = show_bytes(bytes(got)) if isinstance(got, (bytes, bytearray)) else repr(got)
            # Fewer than the 3 bytes sent: it never read on to the EOF (one recv); all 3: it did, and
            # returned them instead of raising.
            stopped_early = isinstance(got, (bytes, bytearray)) and len(got) < 3 and what.startswith("sent")
            raise Failure(f"{result.shown} returned instead of raising EOFError: the server {what}, before any "
                          "b'\\n'", expected="EOFError raised", actual=f"returned {shown}",
                          hint=LINE_HINT if stopped_early else EOF_RETURNED_HINT)
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


@check(points=1, hint=EXACT_MAX_HINT)
def test_fetch_line_accepts_a_line_of_exactly_max_line(lab):
    """fetch_line(max_line=40) returns a line of exactly 40 bytes, sent in pieces"""
    line = bytes(range(65, 105))  # 40 bytes
    server = serving(lab, [Send(line + b"\n", piece=5, pause=0.001), RecvAll()])
    result = lab.call("fetch_line", *server.address, kwargs={"max_line": 40}, faults=True)
    if result.status == "raised" and result.error is not None and result.error.is_a(ValueError):
        raise Failure(f"{result.shown} raised {result.error} for a line of exactly max_line=40 bytes",
                      expected=show_bytes(line), actual=str(result.error), hint=EXACT_MAX_HINT)
    shared.expect_line(lab, result, line, line + b"\n", hint=LINE_HINT)


@check(points=1, hint=SILENT_HINT)
def test_fetch_line_times_out_on_a_silent_server(lab):
    """fetch_line(timeout=0.3) raises TimeoutError when the server accepts and says nothing"""
    server = serving(lab, [Stall()])
    try:
        with shared.exit_told(shared.EXIT_HINT):
            result = lab.call("fetch_line", *server.address, SHORT_TIMEOUT, deadline=HANG_DEADLINE)
    except CallTimedOut as exc:
        raise explain_hang(exc, "the server accepted and went silent, and fetch_line kept waiting; it should "
                           f"have raised TimeoutError after about {SHORT_TIMEOUT} s", SILENT_HINT) from None
    lab.expect_raises(result, TimeoutError, hint=SILENT_HINT)
    if result.elapsed > SHORT_TIMEOUT + TIMEOUT_SLACK:
        raise Failure(f"{result.shown} raised TimeoutError only after {result.elapsed:.1f} s",
                      expected=f"TimeoutError after about {SHORT_TIMEOUT} s", actual=f"{result.elapsed:.1f} s",
                      hint=SILENT_HINT)
    lab.expect_no_leaks(result, hint=CLOSE_HINT)


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
