"""Public checks for stage 01: creating TCP sockets and describing them."""

import socket

from graders.api import Failure, check, socket_kind
from graders.api import create_socket as shared  # what these checks share with the hidden ones

FAMILY_HINT = "Pass `family` on to socket.socket(family, socket.SOCK_STREAM): AF_INET is IPv4, AF_INET6 is IPv6."
DESCRIBE_HINT = "Read the socket's state with getsockname(), getpeername(), getblocking() and gettimeout()."
PLAIN_NUMBER_HINT = ("The enums are ints: compare `family` with socket.AF_INET and socket.AF_INET6 "
                     "(`family in (socket.AF_INET, socket.AF_INET6)`), so that a plain number works too. Don't "
                     "test isinstance(family, socket.AddressFamily) or use family.name.")
LEAK_HINT = ("You created a socket and then raised: nobody holds it now, so nobody can close it. "
             "Check `family` first, and create the socket only once it is known to be good.")
REJECT_HINT = "Check `family` first and `raise ValueError(...)` before creating any socket."
EXIT_HINT = ("sys.exit() ends the caller's whole program: a function reports a bad argument by raising. "
             "`raise ValueError(...)` for a family other than AF_INET and AF_INET6.")
OWN_HINT = ("describe_socket only looks: the caller owns the socket and goes on using it. Don't write "
            "`with sock:`, don't call sock.close(), settimeout() or setblocking() in it.")


def _returned_socket(lab, result) -> socket.socket:
    """The socket a call returned; a Failure (closing whatever came back) if it is not one."""
    value = lab.returned(result)
    if not isinstance(value, socket.socket):
        for item in value if isinstance(value, (tuple, list)) else ():
            if isinstance(item, socket.socket):
                item.close()
        raise Failure(f"{result.shown} did not return a socket", expected="a socket", actual=repr(value))
    return value


@check(points=1, hint=FAMILY_HINT)
def test_creates_ipv4_tcp_socket(lab):
    """create_tcp_socket() returns a new IPv4 TCP socket"""
    with _returned_socket(lab, lab.call("create_tcp_socket")) as sock:
        if socket_kind(sock) != ("AF_INET", "SOCK_STREAM"):
            raise Failure("the socket has the wrong family or type",
                          expected="AF_INET, SOCK_STREAM", actual=", ".join(socket_kind(sock)))
        if sock.getsockname()[1] != 0:
            raise Failure("the new socket is already bound", expected="an unbound socket",
                          actual=f"bound to {sock.getsockname()}")


@check(points=1, hint=FAMILY_HINT, depends="creates_ipv4_tcp_socket")
def test_creates_ipv6_tcp_socket(lab):
    """create_tcp_socket(AF_INET6) returns an IPv6 TCP socket, whether AF_INET6 comes as the enum or as a plain int"""
    # (Between processes a family travels as its number: in the worker both calls pass an int.)
    for family, shown in ((socket.AF_INET6, "AF_INET6"), (int(socket.AF_INET6), f"{int(socket.AF_INET6)}")):
        result = lab.call("create_tcp_socket", family)
        if result.status == "raised" and result.error is not None and result.error.is_a(ValueError):
            raise Failure(f"create_tcp_socket({shown}) raised {result.error}: AF_INET6 (the number "
                          f"{int(socket.AF_INET6)} here) is one of the two families it must accept",
                          expected="an AF_INET6 socket", actual=str(result.error), hint=PLAIN_NUMBER_HINT)
        with _returned_socket(lab, result) as sock:
            if socket_kind(sock) != ("AF_INET6", "SOCK_STREAM"):
                raise Failure(f"create_tcp_socket({shown}) ignored the family it was given",
                              expected="AF_INET6, SOCK_STREAM", actual=", ".join(socket_kind(sock)))


@check(points=1, hint=REJECT_HINT)
def test_rejects_other_families(lab):
    """create_tcp_socket(AF_UNIX) raises ValueError and leaves no socket open"""
    with shared.exit_told(EXIT_HINT):
        result = lab.call("create_tcp_socket", socket.AF_UNIX)
    if result.status == "returned" and isinstance(result.value, socket.socket):
        result.value.close()
    lab.expect_raises(result, ValueError)
    lab.expect_no_leaks(result, hint=LEAK_HINT)


@check(points=2, hint="An unbound socket reports ('0.0.0.0', 0): port 0 means no address yet — "
       "report None. getpeername() raises OSError when there is no peer: catch it.")
def test_describes_a_fresh_socket(lab):
    """describe_socket() of a fresh TCP socket, then of a fresh UDP one: no local address, no peer, blocking, no timeout"""
    for kind in ("SOCK_STREAM", "SOCK_DGRAM"):
        with socket.socket(socket.AF_INET, getattr(socket, kind)) as sock:
            lab.transcript.add("grader", f"a fresh socket.socket(AF_INET, {kind})")
            shared.expect_description(lab, sock, {
                "family": "AF_INET", "type": kind, "local": None, "peer": None, "blocking": True, "timeout": None,
            })


@check(points=2, hint=DESCRIBE_HINT + " Both addresses of a connected socket are real: report them as (host, port).")
def test_describes_a_connected_socket(lab):
    """describe_socket() of a connected IPv4 socket reports its local and peer addresses"""
    _peer, sock = lab.connection()
    shared.expect_description(lab, sock, shared.true_description(sock))


@check(points=2, hint=shared.MODE_HINT)
def test_describes_timeout_and_non_blocking_modes(lab):
    """describe_socket() reports timeout mode (settimeout(2.5)) and non-blocking mode (setblocking(False))"""
    with socket.socket() as sock:
        sock.settimeout(2.5)
        lab.transcript.add("grader", "sock.settimeout(2.5): timeout mode (waits up to 2.5 s)")
        shared.expect_description(lab, sock, shared.true_description(sock), hint=shared.MODE_HINT)
        sock.setblocking(False)
        lab.transcript.add("grader", "sock.setblocking(False): non-blocking mode (never waits)")
        shared.expect_description(lab, sock, shared.true_description(sock), hint=shared.MODE_HINT)


@check(points=2, hint=shared.PAIR_HINT)
def test_describes_ipv6_addresses_as_pairs(lab):
    """describe_socket() of a bound IPv6 socket gives its address as a (host, port) pair"""
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        sock.bind(("::1", 0))
        lab.transcript.add("grader", f"bound an IPv6 socket: getsockname() is {sock.getsockname()!r}")
        shared.expect_description(lab, sock, shared.true_description(sock), hint=shared.PAIR_HINT)


@check(points=1, hint=OWN_HINT)
def test_describe_socket_leaves_the_socket_open(lab):
    """describe_socket() leaves the socket it describes open, and in the mode it was in (a 2.5 s timeout)"""
    _peer, sock = lab.connection()
    sock.settimeout(2.5)
    lab.transcript.add("grader", "sock.settimeout(2.5), then describe_socket(sock)")
    result = lab.call("describe_socket", sock)
    shared.described(lab, result)
    lab.expect_args_open(result, hint=OWN_HINT)
    after = result.arg_timeouts[0] if result.arg_timeouts else 2.5
    if after != 2.5:
        raise Failure(f"{result.shown} changed the mode of the socket it describes",
                      expected="sock.gettimeout() == 2.5, as before", actual=f"sock.gettimeout() == {after!r}",
                      hint=OWN_HINT)
