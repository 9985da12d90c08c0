"""Public checks for stage 01: creating TCP sockets and describing them."""

import socket

from graders.api import Failure, check

FAMILY_HINT = "Pass `family` on to socket.socket(family, socket.SOCK_STREAM): AF_INET is IPv4, AF_INET6 is IPv6."
DESCRIBE_HINT = "Read the socket's state with getsockname(), getpeername(), getblocking() and gettimeout()."


def _kind(sock: socket.socket) -> tuple[str, str]:
    return socket.AddressFamily(sock.family).name, socket.SocketKind(sock.type).name


@check(points=1, hint=FAMILY_HINT)
def test_creates_ipv4_tcp_socket(lab):
    """create_tcp_socket() returns a new IPv4 TCP socket"""
    sock = lab.returned(lab.call("create_tcp_socket"))
    if not isinstance(sock, socket.socket):
        raise Failure("create_tcp_socket() did not return a socket", actual=repr(sock))
    with sock:
        if _kind(sock) != ("AF_INET", "SOCK_STREAM"):
            raise Failure("the socket has the wrong family or type",
                          expected="AF_INET, SOCK_STREAM", actual=", ".join(_kind(sock)))
        if sock.getsockname()[1] != 0:
            raise Failure("the new socket is already bound", expected="an unbound socket",
                          actual=f"bound to {sock.getsockname()}")


@check(points=1, hint=FAMILY_HINT, depends="creates_ipv4_tcp_socket")
def test_creates_ipv6_tcp_socket(lab):
    """create_tcp_socket(AF_INET6) returns an IPv6 TCP socket"""
    sock = lab.returned(lab.call("create_tcp_socket", socket.AF_INET6))
    with sock:
        if _kind(sock) != ("AF_INET6", "SOCK_STREAM"):
            raise Failure("create_tcp_socket(AF_INET6) ignored the family it was given",
                          expected="AF_INET6, SOCK_STREAM", actual=", ".join(_kind(sock)))


@check(points=1, hint="Check `family` first and `raise ValueError(...)` before creating any socket.")
def test_rejects_other_families(lab):
    """create_tcp_socket(AF_UNIX) raises ValueError and leaves no socket open"""
    result = lab.call("create_tcp_socket", socket.AF_UNIX)
    if result.status == "returned" and isinstance(result.value, socket.socket):
        result.value.close()
    lab.expect_raises(result, ValueError)
    lab.expect_no_leaks(result)


@check(points=2, hint="An unbound socket reports ('0.0.0.0', 0): port 0 means no address yet — "
       "report None. getpeername() raises OSError when there is no peer: catch it.")
def test_describes_a_fresh_socket(lab):
    """describe_socket() of a fresh socket: no local address, no peer, blocking, no timeout"""
    with socket.socket() as sock:
        lab.expect_equal(lab.call("describe_socket", sock), {
            "family": "AF_INET", "type": "SOCK_STREAM", "local": None, "peer": None,
            "blocking": True, "timeout": None,
        })
