"""Hidden checks for stage 01: the same two functions on more kinds of socket.

Variations on the public checks: plain-number and made-up families, listening, IPv6
connected and UDP sockets, and a describe_socket that must only look, never close.
"""

import socket

from graders.api import Failure, check

DESCRIBE_HINT = "Read the socket's state with getsockname(), getpeername(), getblocking() and gettimeout()."
PAIR_HINT = ("IPv6 addresses come back from the kernel as 4-tuples (host, port, flowinfo, scope_id): "
             "keep the (host, port) pair with address[:2], for both families.")


def _kind(sock: socket.socket) -> tuple[str, str]:
    return socket.AddressFamily(sock.family).name, socket.SocketKind(sock.type).name


def _truth(sock: socket.socket) -> dict:
    """What describe_socket(sock) must say, read from the grader's own copy of the socket."""
    local = sock.getsockname()
    try:
        peer = sock.getpeername()[:2]
    except OSError:
        peer = None
    family, kind = _kind(sock)
    return {"family": family, "type": kind, "local": local[:2] if local[1] != 0 else None,
            "peer": peer, "blocking": sock.getblocking(), "timeout": sock.gettimeout()}


def _expect_description(lab, sock: socket.socket, expected: dict, *, hint: str | None = None) -> None:
    """describe_socket(sock) must equal `expected`; a failure names the keys that are wrong."""
    result = lab.call("describe_socket", sock)
    got = lab.returned(result, hint=hint)
    if got == expected:
        return
    if not isinstance(got, dict):
        raise Failure(f"{result.shown} did not return a dict", expected=repr(expected), actual=repr(got), hint=hint)
    wrong = [k for k in expected if got.get(k, object()) != expected[k]]
    extra = [k for k in got if k not in expected]
    problems = [f"{k!r} is {got[k]!r}, not {expected[k]!r}" if k in got else f"{k!r} is missing" for k in wrong]
    problems += [f"{k!r} is not one of the six keys" for k in extra]
    raise Failure(f"{result.shown} got it wrong: " + "; ".join(problems),
                  expected=repr(expected), actual=repr(got), hint=hint)


@check(points=1, hint="Compare `family` with socket.AF_INET and socket.AF_INET6: the enums are ints, so the "
       "plain number of a family compares equal to its enum. Anything else raises ValueError before "
       "any socket exists.")
def test_accepts_plain_numbers_rejects_made_up_families(lab):
    """create_tcp_socket() takes a family as a plain number, and raises ValueError for a made-up one"""
    sock = lab.returned(lab.call("create_tcp_socket", int(socket.AF_INET6)))
    if not isinstance(sock, socket.socket):
        raise Failure(f"create_tcp_socket({int(socket.AF_INET6)}) did not return a socket", actual=repr(sock))
    with sock:
        if _kind(sock) != ("AF_INET6", "SOCK_STREAM"):
            raise Failure(f"create_tcp_socket({int(socket.AF_INET6)}) (the number of AF_INET6) made the wrong socket",
                          expected="AF_INET6, SOCK_STREAM", actual=", ".join(_kind(sock)))
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
    _expect_description(lab, listener, _truth(listener))


@check(points=1, hint=PAIR_HINT)
def test_describes_a_connected_ipv6_socket(lab):
    """describe_socket() of a connected IPv6 socket gives both addresses as (host, port) pairs"""
    _peer, sock = lab.connection(family=socket.AF_INET6)
    _expect_description(lab, sock, _truth(sock), hint=PAIR_HINT)


@check(points=1, hint="sock.type is an enum: its .name is 'SOCK_DGRAM' for UDP. A UDP socket has a peer once "
       "connect() has fixed its destination; before that, report None.")
def test_describes_udp_sockets(lab):
    """describe_socket() of UDP sockets: type SOCK_DGRAM, unbound, then connected"""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as target, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        _expect_description(lab, sock, _truth(sock))
        target.bind(("127.0.0.1", 0))
        sock.connect(target.getsockname())  # UDP connect sends nothing: it fixes the destination
        lab.transcript.add("grader", f"connected the UDP socket to {target.getsockname()!r} (no packet is sent)")
        _expect_description(lab, sock, _truth(sock))


@check(points=1, hint="describe_socket only looks: the caller owns the socket. Don't write `with sock:` "
       "or call sock.close() in it.")
def test_describe_socket_leaves_the_socket_open(lab):
    """describe_socket() leaves the socket it describes open"""
    _peer, sock = lab.connection()
    result = lab.call("describe_socket", sock)
    lab.returned(result)
    lab.expect_args_open(result, hint="describe_socket only looks: the caller owns the socket and goes on "
                         "using it. Don't write `with sock:` or call sock.close() in it.")
