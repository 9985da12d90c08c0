"""Hidden checks for stage 02: the public checks' ideas on IPv6 and on other listener modes.

Variations on the public checks, never new rules; each check names the README sentence it
relies on (exercises/02_bind_listen/README.md, "The task").

As in the public checks, the listener's timeout is judged by its trace in the kernel: the
fd's O_NONBLOCK flag is clear exactly when the timeout is None (see
graders/checking/stage_helpers/bind_listen.py).
"""

import socket
import threading
import time

from graders.api import DEADLINE, Failure, check, close_sockets
from graders.api import bind_listen as shared  # what the public checks of this stage use too

BUSY_HINT = ("Let bind()'s OSError (EADDRINUSE) propagate: the caller asked for THAT port. Don't retry, "
             "don't pick another port, don't return None; close the socket you made before it leaves.")
TIMEOUT_HINT = ("accept_one's own `timeout` decides how long it waits, whatever the listener's mode: "
                "listener.settimeout(timeout) before accept() (or select.select([listener], [], [], timeout)).")
RESTORE_HINT = ("The listener is the caller's: save listener.gettimeout() first, set yours, and put the "
                "saved value back (in a `finally:`) — not None, the value it had, which may be 0.0 or 3.0.")


def _expect_connection(lab, result, client) -> None:
    """accept_one's result is (conn, address) for `client`'s connection; closes what came back."""
    value = lab.returned(result, hint=TIMEOUT_HINT)
    try:
        shared.expect_conn_and_address(result, value)
        if client.sock is None:
            raise Failure(f"after {result.shown}, the grader's client could not connect: {client.problem}")
        shared.expect_the_clients_connection(result, value[0], client.sock.getsockname()[:2])
    finally:
        close_sockets(value)


# -- open_listener --------------------------------------------------------------------------------------
# README: "open_listener" — "A port already in use raises OSError (errno EADDRINUSE) immediately … and the
# socket made for the attempt is closed"; "host may be … an IPv6 literal such as "::1"".
@check(points=1, hint=BUSY_HINT + " " + shared.IPV6_HINT)
def test_busy_ipv6_port_raises_eaddrinuse(lab):
    """open_listener("::1", port) on a port already in use raises OSError (EADDRINUSE) and leaves no socket open"""
    result = shared.expect_busy_port_refused(lab, socket.AF_INET6, hint=BUSY_HINT,
                                             wrong_error_hint=shared.IPV6_HINT)
    lab.expect_no_leaks(result, hint=BUSY_HINT)


# README: "open_listener" — "SO_REUSEADDR is set (before bind, so it works)", on "::1" too.
@check(points=1, hint=shared.REUSE_HINT)
def test_reopens_ipv6_port_after_server_closed_first(lab):
    """open_listener("::1", port) re-opens a port right after a connection the server closed first"""
    shared.restart_after_active_close(lab, "::1", shared.IPV6_HINT, wrong_port_hint=BUSY_HINT)


# -- accept_one ------------------------------------------------------------------------------------------
# README: "accept_one" — "The listener's own timeout (listener.gettimeout()) is the same after the call as
# before it — after a success and after a timeout alike."
@check(points=1, hint=RESTORE_HINT)
def test_accept_one_keeps_other_listener_modes(lab):
    """accept_one leaves a non-blocking listener non-blocking, and a 3.0 s timeout in place, on every path"""
    for before, nobody_comes in ((0.0, False), (0.0, True), (3.0, True)):
        listener = shared.listener_with_timeout(lab, before)
        if nobody_comes:
            # Why 0.05 s: only the restoring is checked here, not the waiting.
            result = lab.call("accept_one", listener, 0.05, deadline=5.0)
            close_sockets(result.value)
            lab.expect_raises(result, TimeoutError, hint=TIMEOUT_HINT)
            shared.expect_timeout_kept(lab, listener, before, "accept_one raised TimeoutError", result,
                                       hint=RESTORE_HINT)
        else:
            client = lab.client(listener.getsockname()[:2], [], name="client", timeout=DEADLINE)
            client.wait(DEADLINE)
            result = lab.call("accept_one", listener, 5.0)
            _expect_connection(lab, result, client)
            shared.expect_timeout_kept(lab, listener, before, "accept_one returned a connection", result,
                                       hint=RESTORE_HINT)


# README: "accept_one" — "It waits up to `timeout` whatever the listener's own mode".
@check(points=1, hint=TIMEOUT_HINT)
def test_accept_one_waits_on_a_non_blocking_listener(lab):
    """accept_one(listener, 5.0) on a non-blocking listener waits until a client connects"""
    listener = shared.listener_with_timeout(lab, 0.0)
    pending = lab.start("accept_one", listener, 5.0, deadline=DEADLINE)
    # Deliberate pacing, not a readiness wait: give accept_one 0.15 s in which nobody connects.
    # A correct one is still waiting then; one that relies on the listener's mode has already
    # raised BlockingIOError. (On a slow machine the client may come first: then a wrong
    # solution can pass, a correct one never fails.)
    quiet_until = time.monotonic() + 0.15
    pause = threading.Event()
    while time.monotonic() < quiet_until and not pending.done():
        pause.wait(0.005)
    client = lab.client(listener.getsockname()[:2], [], name="client", timeout=DEADLINE)
    client.wait(DEADLINE)
    result = pending.wait()
    if result.status == "raised":
        raise Failure(f"{result.shown} raised {result.error} before any client came: with timeout 5.0 it "
                      "must wait up to 5 s, whatever the listener's own mode", hint=TIMEOUT_HINT)
    _expect_connection(lab, result, client)


# README: "accept_one" — "It waits up to `timeout` whatever the listener's own mode".
@check(points=1, hint=TIMEOUT_HINT)
def test_accept_one_uses_its_own_timeout(lab):
    """accept_one(listener, 0.2) on a listener whose own timeout is 6 s gives up after about 0.2 s"""
    listener = shared.listener_with_timeout(lab, 6.0)
    result = lab.call("accept_one", listener, shared.SHORT_TIMEOUT, deadline=DEADLINE)
    close_sockets(result.value)
    lab.expect_raises(result, TimeoutError)
    # Why 4 s: halfway between the student's 0.2 s and the listener's 6 s, so that load
    # stretching a correct 0.2 s wait cannot reach it, and a wait of 6 s always does.
    if result.elapsed > 4.0:
        raise Failure(f"{result.shown} waited {result.elapsed:.1f} s: it used the listener's timeout (6 s), "
                      f"not its own ({shared.SHORT_TIMEOUT} s)", hint=TIMEOUT_HINT)
