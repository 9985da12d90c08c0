"""Public checks for stage 01: creating TCP sockets and describing them."""

import socket

from graders.api import Failure, check, socket_kind
from graders.api import create_socket as shared  # what these checks share with the hidden ones

FAMILY_HINT = "Pass `family` on to socket.socket(family, socket.SOCK_STREAM): AF_INET is IPv4, AF_INET6 is IPv6."
DESCRIBE_HINT = "Read the socket's state with getsockname(), getpeername(), getblocking() and gettimeout()."
LEAK_HINT = ("You created a socket and then raised: nobody holds it now, so nobody can close it. "
             "Check `family` first, and create the socket only once it is known to be good.")
MODE_HINT = ("Ask the socket itself: sock.gettimeout() is its timeout (socket.getdefaulttimeout() is only "
             "the default for NEW sockets), and sock.getblocking() is False only in non-blocking mode "
             "(timeout 0.0) — a socket with a timeout of 2.5 s still waits, so it is blocking.")


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
    """create_tcp_socket(AF_INET6) returns an IPv6 TCP socket"""
    with _returned_socket(lab, lab.call("create_tcp_socket", socket.AF_INET6)) as sock:
        if socket_kind(sock) != ("AF_INET6", "SOCK_STREAM"):
            raise Failure("create_tcp_socket(AF_INET6) ignored the family it was given",
                          expected="AF_INET6, SOCK_STREAM", actual=", ".join(socket_kind(sock)))


@check(points=1, hint="Check `family` first and `raise ValueError(...)` before creating any socket.")
def test_rejects_other_families(lab):
    """create_tcp_socket(AF_UNIX) raises ValueError and leaves no socket open"""
    result = lab.call("create_tcp_socket", socket.AF_UNIX)
    if result.status == "returned" and isinstance(result.value, socket.socket):
        result.value.close()
    lab.expect_raises(result, ValueError)
    lab.expect_no_leaks(result, hint=LEAK_HINT)


@check(points=2, hint="An unbound socket reports ('0.0.0.0', 0): port 0 means no address yet — "
       "report None. getpeername() raises OSError when there is no peer: catch it.")
def test_describes_a_fresh_socket(lab):
    """describe_socket() of a fresh socket: no local address, no peer, blocking, no timeout"""
    with socket.socket() as sock:
        lab.expect_equal(lab.call("describe_socket", sock), {
            "family": "AF_INET", "type": "SOCK_STREAM", "local": None, "peer": None,
            "blocking": True, "timeout": None,
        })


@check(points=2, hint=DESCRIBE_HINT + " Both addresses of a connected socket are real: report them as (host, port).")
def test_describes_a_connected_socket(lab):
    """describe_socket() of a connected IPv4 socket reports its local and peer addresses"""
    _peer, sock = lab.connection()
    shared.expect_description(lab, sock, shared.true_description(sock))


@check(points=2, hint=MODE_HINT)
def test_describes_timeout_and_non_blocking_modes(lab):
    """describe_socket() reports timeout mode (settimeout(2.5)) and non-blocking mode (setblocking(False))"""
    with socket.socket() as sock:
        sock.settimeout(2.5)
        lab.transcript.add("grader", "sock.settimeout(2.5): timeout mode (waits up to 2.5 s)")
        shared.expect_description(lab, sock, shared.true_description(sock), hint=MODE_HINT)
        sock.setblocking(False)
        lab.transcript.add("grader", "sock.setblocking(False): non-blocking mode (never waits)")
        shared.expect_description(lab, sock, shared.true_description(sock), hint=MODE_HINT)


@check(points=2, hint=shared.PAIR_HINT)
def test_describes_ipv6_addresses_as_pairs(lab):
    """describe_socket() of a bound IPv6 socket gives its address as a (host, port) pair"""
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
        sock.bind(("::1", 0))
        lab.transcript.add("grader", f"bound an IPv6 socket: getsockname() is {sock.getsockname()!r}")
        shared.expect_description(lab, sock, shared.true_description(sock), hint=shared.PAIR_HINT)
