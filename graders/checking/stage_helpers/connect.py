"""What stage 03's checks share (exercises/03_connect and graders/hidden/03_connect): the
made-up name with two addresses, of which the first refuses, the listeners behind it, and
how a line fetch_line returned is judged (its hint chosen from what came back instead).
`exit_told` (stage 01's) is re-exported here for this stage's checks.

dual.tcplab.test is a made-up name that the worker resolves, for one call only, to two
loopback addresses in a set order (the `hosts` option of a call). The grader keeps the port
bound but not listening on the first address, so that it refuses, and listens on the second.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

from graders.checking.declare import Failure
from graders.checking.helpers import serving
from graders.checking.lab import Lab
from graders.checking.peers import Action
from graders.checking.stage_helpers.create_socket import exit_told as exit_told
from graders.checking.transcript import SHOWN_BYTES, show_bytes
from graders.engine.calls import CallResult

# A made-up name (.test is reserved for testing, RFC 6761) that the worker resolves from a table.
DUAL = "dual.tcplab.test"
OTHER = {socket.AF_INET: socket.AF_INET6, socket.AF_INET6: socket.AF_INET}
LOOPBACK = {socket.AF_INET: "127.0.0.1", socket.AF_INET6: "::1"}

CONNECT_HINT = ("Loop over socket.getaddrinfo(host, port, type=socket.SOCK_STREAM): for each (family, type, "
                "proto, _, address) make socket.socket(family, type, proto), settimeout(timeout), connect(address) "
                "and return it. (socket.create_connection((host, port), timeout) does exactly this.)")

LINE_HINT = ("TCP is a byte stream: one recv() returns whatever has arrived, maybe a few bytes. Append each "
             "chunk to a buffer and keep reading until the buffer holds b'\\n'; the line is what comes before it.")
NEWLINE_KEPT_HINT = "Return the line without its b'\\n': buffer.split(b'\\n', 1)[0], or line[:-1] for a readline()."
FIRST_LINE_HINT = ("The line ends at the FIRST b'\\n': return what comes before it, buffer.split(b'\\n', 1)[0]. "
                   "What follows belongs to later lines (here, drop it).")
CR_HINT = ("Only the b'\\n' is removed: .strip(), .rstrip() and splitlines() take b'\\r' (and spaces) too. Use "
           "buffer.split(b'\\n', 1)[0], or line[:-1] after a readline().")
EMPTY_LINE_HINT = ("b'\\n' alone is a whole line, the empty one: return b''. Only a server that closes BEFORE "
                   "the b'\\n' gives EOFError.")
BYTES_HINT = "fetch_line returns bytes, the line as it came (don't decode it), without its b'\\n'."
EXIT_HINT = ("sys.exit() ends the caller's whole program: a function reports what went wrong by raising. Let the "
             "error propagate (ConnectionRefusedError, TimeoutError), and raise EOFError when the server closes "
             "before a whole line; the caller decides what to do about it.")


def expect_line(lab: Lab, result: CallResult, line: bytes, sent: bytes, *, hint: str) -> None:
    """fetch_line must have returned `line` (the server sent `sent`); when it did not, the hint
    says what the value it returned instead shows (the newline kept, the b'\\r' stripped, ...)."""
    error = result.error
    if result.status == "raised" and error is not None and error.is_a(EOFError) and line == b"":
        raise Failure(f"{result.shown} raised {error} for the line b'\\n'", expected="b''", actual=str(error),
                      hint=EMPTY_LINE_HINT)
    got = lab.returned(result, hint=hint)
    if got == line:
        return
    if not isinstance(got, (bytes, bytearray)):
        raise Failure(f"{result.shown} did not return bytes", expected=show_bytes(line), actual=repr(got),
                      hint=BYTES_HINT)
    got = bytes(got)
    if got == line + b"\n":
        why = NEWLINE_KEPT_HINT
    elif b"\n" in got:
        why = FIRST_LINE_HINT
    elif line.endswith(b"\r") and got == line.rstrip():
        why = CR_HINT
    else:
        why = hint
    offset = next((i for i, (a, b) in enumerate(zip(line, got, strict=False)) if a != b), min(len(line), len(got)))
    where = f" (they differ from byte {offset} on)" if max(len(line), len(got)) > SHOWN_BYTES else ""
    raise Failure(f"{result.shown} returned the wrong line for what the server sent, {show_bytes(sent)}{where}",
                  expected=show_bytes(line), actual=show_bytes(got), hint=why)


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
