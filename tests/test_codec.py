"""The tagged-JSON codec and the fd-carrying wire: round trips, and nothing but data decoded."""

from __future__ import annotations

import json
import pathlib
import socket

import pytest

from graders.engine import codec, wire


@pytest.mark.parametrize("value", [
    None, True, 0, -7, 2.5, "héllo", b"", b"\x00\n\xff" * 100, (1, (2, b"x")), [1, [2, (3,)]],
    {"a": b"\x00", "b": (1, 2)}, {1: "one", (2, 3): "pair"}, {"$bytes": "not a tag"},
    pathlib.Path("/tmp/x y"), [None, {"k": [b"v"]}],
])
def test_values_round_trip_through_json(value):
    socks: list[socket.socket] = []
    data = json.loads(json.dumps(codec.encode(value, socks)))
    assert codec.decode(data, socks) == value
    assert socks == []


def test_exceptions_arrive_as_data_with_their_class_names():
    try:
        raise ConnectionResetError(104, "Connection reset by peer")
    except ConnectionResetError as exc:
        data = json.loads(json.dumps(codec.encode(exc)))
    error = codec.decode(data)
    assert isinstance(error, codec.RemoteError)
    assert error.is_a(ConnectionError) and error.is_a(OSError) and not error.is_a(TimeoutError)
    assert error.errno == 104 and "reset" in error.message


def test_unknown_objects_become_opaque_reprs_never_objects():
    class Weird:
        def __repr__(self):
            return "<weird>"

    decoded = codec.decode(json.loads(json.dumps(codec.encode(Weird()))))
    assert decoded == codec.Opaque(type="Weird", repr="<weird>")


def test_a_repr_that_raises_is_still_encoded():
    class Hostile:
        def __repr__(self):
            raise RuntimeError("no")

    assert "unprintable" in codec.encode(Hostile())["$repr"]


def test_sockets_cross_the_wire_as_fds_with_their_timeout():
    a, b = socket.socketpair()
    left, right = socket.socket(), socket.socket()
    left.settimeout(2.5)
    try:
        socks: list[socket.socket] = []
        data = codec.encode({"s": left}, socks)
        wire.send_message(a, data, [s.fileno() for s in socks])
        got, fds = wire.recv_message(b)
        received = [socket.socket(fileno=fd) for fd in fds]
        value = codec.decode(got, received)
        assert value["s"].gettimeout() == 2.5
        assert value["s"].family == left.family
        value["s"].close()
    finally:
        for s in (a, b, left, right):
            s.close()


def test_a_body_larger_than_the_bound_is_refused():
    a, b = socket.socketpair()
    with a, b:
        a.sendall(wire.HEADER.pack(wire.MAX_BODY + 1, 0))
        with pytest.raises(ValueError):
            wire.recv_message(b)


def test_a_closed_channel_is_reported_as_such():
    a, b = socket.socketpair()
    a.close()
    with b, pytest.raises(wire.WireClosed):
        wire.recv_message(b)
