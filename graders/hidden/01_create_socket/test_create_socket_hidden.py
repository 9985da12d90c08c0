"""Hidden checks for stage 01: the same two functions on more kinds of socket.

Variations on the public checks: plain-number and made-up families, listening, IPv6
connected and UDP sockets, and a describe_socket that must only look, never close.
"""

import socket

from graders.api import Failure, check, socket_kind
from graders.api import create_socket as shared  # what the public checks of this stage use too


@check(points=1, hint="Compare `family` with socket.AF_INET and socket.AF_INET6: the enums are ints, so the "
       "plain number of a family compares equal to its enum. Anything else raises ValueError before "
       "any socket exists.")
def test_accepts_plain_numbers_rejects_made_up_families(lab):
    """create_tcp_socket() takes a family as a plain number, and raises ValueError for a made-up one"""
    sock = lab.returned(lab.call("create_tcp_socket", int(socket.AF_INET6)))
    if not isinstance(sock, socket.socket):
        raise Failure(f"create_tcp_socket({int(socket.AF_INET6)}) did not return a socket", actual=repr(sock))
    with sock:
        if socket_kind(sock) != ("AF_INET6", "SOCK_STREAM"):
            raise Failure(f"create_tcp_socket({int(socket.AF_INET6)}) (the number of AF_INET6) made the wrong socket",
                          expected="AF_INET6, SOCK_STREAM", actual=", ".join(socket_kind(sock)))
    result = lab.call("create_tcp_socket", 12345)
    if result.status == "returned" and isinstance(result.value, socket.socket):
        result.value.close()
    lab.expect_raises(result, ValueError)
    lab.expect_no_leaks(result, hint="You created a socket and then raised: nobody can close it now. "
                        "Check `family` first, and create the socket only once it is known to be good.")


@check(points=1, hint="A listening socket is bound but has no peer: getpeername() raises OSError (ENOTCONN) "
       "on it — catch it and report None.")
def test_describes_a_listening_socket(lab):
    """describe_socket() of a listening socket reports its address and no peer"""
    listener = lab.listener()
    shared.expect_description(lab, listener, shared.true_description(listener))


@check(points=1, hint=shared.PAIR_HINT)
def test_describes_a_connected_ipv6_socket(lab):
    """describe_socket() of a connected IPv6 socket gives both addresses as (host, port) pairs"""
    _peer, sock = lab.connection(family=socket.AF_INET6)
    shared.expect_description(lab, sock, shared.true_description(sock), hint=shared.PAIR_HINT)


@check(points=1, hint="sock.type is an enum: its .name is 'SOCK_DGRAM' for UDP. A UDP socket has a peer once "
       "connect() has fixed its destination; before that, report None.")
def test_describes_udp_sockets(lab):
    """describe_socket() of UDP sockets: type SOCK_DGRAM, unbound, then connected"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as target, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        shared.expect_description(lab, sock, shared.true_description(sock))
        target.bind(("127.0.0.1", 0))
        sock.connect(target.getsockname())  # UDP connect sends nothing: it fixes the destination
        lab.transcript.add("grader", f"connected the UDP socket to {target.getsockname()!r} (no packet is sent)")
        shared.expect_description(lab, sock, shared.true_description(sock))


@check(points=1, hint="describe_socket only looks: the caller owns the socket. Don't write `with sock:` "
       "or call sock.close() in it.")
def test_describe_socket_leaves_the_socket_open(lab):
    """describe_socket() leaves the socket it describes open"""
    _peer, sock = lab.connection()
    result = lab.call("describe_socket", sock)
    lab.returned(result)
    lab.expect_args_open(result, hint="describe_socket only looks: the caller owns the socket and goes on "
                         "using it. Don't write `with sock:` or call sock.close() in it.")
