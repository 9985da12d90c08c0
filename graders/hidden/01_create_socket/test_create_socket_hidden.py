"""Hidden checks for stage 01: the same two functions on more kinds of socket.

Variations on the public checks, never new rules: the other family as a plain number and
a made-up family, listening, connected IPv6 sockets, and UDP sockets once bound and
connected. Each check names the README sentence it relies on
(exercises/01_create_socket/README.md, "The task").
"""

import socket

from graders.api import Failure, check, socket_kind
from graders.api import create_socket as shared  # what the public checks of this stage use too

EXIT_HINT = ("sys.exit() ends the caller's whole program: a function reports a bad argument by raising. "
             "`raise ValueError(...)` for a family other than AF_INET and AF_INET6.")
LEAK_HINT = ("You created a socket and then raised: nobody can close it now. Check `family` first, and create "
             "the socket only once it is known to be good.")


# README: "create_tcp_socket" — "The plain numbers work too (the enums are ints)"; "Any other family
# (AF_UNIX, a made-up number, …) raises ValueError — and no socket is created."
@check(points=1, hint="Compare `family` with socket.AF_INET and socket.AF_INET6: the enums are ints, so the "
       "plain number of a family compares equal to its enum. Anything else raises ValueError before "
       "any socket exists.")
def test_accepts_plain_numbers_rejects_made_up_families(lab):
    """create_tcp_socket() takes AF_INET as a plain int too, and raises ValueError for a made-up family"""
    number = int(socket.AF_INET)
    sock = lab.returned(lab.call("create_tcp_socket", number))
    if not isinstance(sock, socket.socket):
        raise Failure(f"create_tcp_socket({number}) did not return a socket", expected="an AF_INET socket",
                      actual=repr(sock))
    with sock:
        if socket_kind(sock) != ("AF_INET", "SOCK_STREAM"):
            raise Failure(f"create_tcp_socket({number}) (the number of AF_INET) made the wrong socket",
                          expected="AF_INET, SOCK_STREAM", actual=", ".join(socket_kind(sock)))
    with shared.exit_told(EXIT_HINT):
        result = lab.call("create_tcp_socket", 12345)
    if result.status == "returned" and isinstance(result.value, socket.socket):
        result.value.close()
    lab.expect_raises(result, ValueError)
    lab.expect_no_leaks(result, hint=LEAK_HINT)


# README: "describe_socket" — "must work on any TCP or UDP socket — fresh, bound, listening, connected";
# "`peer` … None when it is not connected".
@check(points=1, hint="A listening socket is bound but has no peer: getpeername() raises OSError (ENOTCONN) "
       "on it — catch it and report None.")
def test_describes_a_listening_socket(lab):
    """describe_socket() of a listening socket reports its address and no peer"""
    listener = lab.listener()
    shared.expect_description(lab, listener, shared.true_description(listener))


# README: "describe_socket" — "Addresses are always 2-tuples, also for IPv6"; connected sockets.
@check(points=1, hint=shared.PAIR_HINT)
def test_describes_a_connected_ipv6_socket(lab):
    """describe_socket() of a connected IPv6 socket gives both addresses as (host, port) pairs"""
    _peer, sock = lab.connection(family=socket.AF_INET6)
    shared.expect_description(lab, sock, shared.true_description(sock), hint=shared.PAIR_HINT)


# README: "describe_socket" — `type` is "SOCK_STREAM" or "SOCK_DGRAM"; "must work on any TCP or UDP socket".
@check(points=1, hint="sock.type is an enum: its .name is 'SOCK_DGRAM' for UDP. A UDP socket has a peer once "
       "connect() has fixed its destination; before that, report None.")
def test_describes_udp_sockets(lab):
    """describe_socket() of a UDP socket once bound, then once connected: SOCK_DGRAM, and its addresses"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as target, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        lab.transcript.add("grader", f"bound a UDP socket to {sock.getsockname()!r}")
        shared.expect_description(lab, sock, shared.true_description(sock))
        target.bind(("127.0.0.1", 0))
        sock.connect(target.getsockname())  # UDP connect sends nothing: it fixes the destination
        lab.transcript.add("grader", f"connected the UDP socket to {target.getsockname()!r} (no packet is sent)")
        shared.expect_description(lab, sock, shared.true_description(sock))
