"""What stage 03's checks share (exercises/03_connect and graders/hidden/03_connect): the
made-up name with two addresses, of which the first refuses, and the listeners behind it.

dual.tcplab.test is a made-up name that the worker resolves, for one call only, to two
loopback addresses in a set order (the `hosts` option of a call). The grader keeps the port
bound but not listening on the first address, so that it refuses, and listens on the second.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

from graders.checking.helpers import serving
from graders.checking.lab import Lab
from graders.checking.peers import Action

# A made-up name (.test is reserved for testing, RFC 6761) that the worker resolves from a table.
DUAL = "dual.tcplab.test"
OTHER = {socket.AF_INET: socket.AF_INET6, socket.AF_INET6: socket.AF_INET}
LOOPBACK = {socket.AF_INET: "127.0.0.1", socket.AF_INET6: "::1"}

CONNECT_HINT = ("Loop over socket.getaddrinfo(host, port, type=socket.SOCK_STREAM): for each (family, type, "
                "proto, _, address) make socket.socket(family, type, proto), settimeout(timeout), connect(address) "
                "and return it. (socket.create_connection((host, port), timeout) does exactly this.)")


def refusing(family: socket.AddressFamily, port: int) -> socket.socket | None:
    """A socket bound to (loopback, port) of `family`, not listening: connects there are refused."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((LOOPBACK[family], port))
    except OSError:
        sock.close()
        return None
    return sock


def listening(lab: Lab, family: socket.AddressFamily = socket.AF_INET) -> tuple:
    """The address of a grader-made listener that never accepts: for connect(), the kernel's
    handshake is all there is to it (a connection waits in the accept queue until the check ends)."""
    address = lab.listener(family).getsockname()[:2]
    lab.transcript.add("grader", "(a listener that nobody accepts on: connect() needs only the kernel's handshake)")
    return address


def dual(lab: Lab, listen: socket.AddressFamily,
         script: Sequence[Action] | None = None) -> tuple[tuple, socket.socket, dict[str, list[str]]]:
    """A listener (or, given a script, a reference server) on one loopback; the same port refuses
    on the other. Returns (address, blocker, hosts); the caller closes the blocker (`with`)."""
    for _ in range(5):  # the other family's port may be taken by someone else: take another
        address = serving(lab, script, family=listen).address if script is not None else listening(lab, listen)
        blocker = refusing(OTHER[listen], address[1])
        if blocker is not None:
            first, second = LOOPBACK[OTHER[listen]], LOOPBACK[listen]
            lab.transcript.add("grader", f"{DUAL} resolves to {first} then {second} (in that order); port "
                               f"{address[1]} is bound but not listening on {first}: connecting there is refused")
            return address, blocker, {DUAL: [first, second]}
    raise RuntimeError("no port was free on both ::1 and 127.0.0.1")
