"""Reference peers do what their scripts say, deterministically, and log it."""

from __future__ import annotations

import socket
import time

import pytest

from graders.api import AwaitRead, Close, Recv, RecvAll, Reset, Send, ShutWr, Stall, dribble
from graders.checking.lab import Lab
from graders.checking.peers import unread_at_other_end, unread_bytes


class NoSubject:
    def start(self, *a, **k):
        raise AssertionError("these tests call no student code")


@pytest.fixture
def lab():
    lab = Lab(NoSubject())
    yield lab
    lab.close()


def test_dribble_delivers_one_byte_per_recv(lab):
    _peer, sock = lab.connection([dribble(b"abcdef"), Close()])
    sock.settimeout(10)
    pieces = []
    while chunk := sock.recv(100):
        pieces.append(chunk)
    assert pieces == [b"a", b"b", b"c", b"d", b"e", b"f"]


def test_dribble_waits_for_a_slow_reader_on_a_connection_the_student_made(lab):
    """The grader has no handle on a socket the student code made: the barrier reads its
    receive queue from /proc/net/tcp instead, so a slow reader still gets one byte per recv."""
    server = lab.server([dribble(b"abcd"), Close()])
    with socket.create_connection(server.address, timeout=10) as sock:
        pieces = []
        while True:
            time.sleep(0.02)  # a slow reader: without the barrier, bytes pile up meanwhile
            chunk = sock.recv(100)
            if not chunk:
                break
            pieces.append(chunk)
    assert pieces == [b"a", b"b", b"c", b"d"]


def test_a_reset_after_await_read_meets_a_reader_that_has_the_bytes(lab):
    server = lab.server([Send(b"partial"), AwaitRead(), Reset()])
    with socket.create_connection(server.address, timeout=10) as sock:
        time.sleep(0.05)  # the reset waits for this read, however late it comes
        assert sock.recv(100) == b"partial"
        with pytest.raises(ConnectionResetError):
            sock.recv(100)


def test_unread_bytes_at_the_other_end_come_from_its_receive_queue():
    with socket.create_server(("127.0.0.1", 0)) as listener:
        with socket.create_connection(listener.getsockname(), timeout=10) as ours:
            theirs, _ = listener.accept()
            with theirs:
                ours.sendall(b"12345")
                deadline = time.monotonic() + 10
                while unread_at_other_end(ours) != 5 and time.monotonic() < deadline:
                    time.sleep(0.001)  # polling the queue until loopback has delivered
                assert unread_at_other_end(ours) == 5
                assert theirs.recv(100) == b"12345"
                assert unread_at_other_end(ours) == 0


def test_glued_messages_arrive_in_one_recv(lab):
    peer, sock = lab.connection([Send(b"one" + b"two"), Stall()])
    sock.settimeout(10)
    assert peer.wait(0) is False  # stalls until the check ends
    while unread_bytes(sock) < 6:
        sock.recv(0)  # nothing to read yet: keep polling the queue
    assert sock.recv(100) == b"onetwo"


def test_reset_gives_the_other_side_connection_reset(lab):
    peer, sock = lab.connection([Reset()])
    sock.settimeout(10)
    assert peer.wait(10)
    with pytest.raises(ConnectionResetError):
        sock.recv(10)


def test_half_close_then_read_until_eof(lab):
    peer, sock = lab.connection([Send(b"ping"), ShutWr(), RecvAll()])
    sock.settimeout(10)
    assert sock.recv(10) == b"ping" and sock.recv(10) == b""
    sock.sendall(b"pong")
    sock.shutdown(socket.SHUT_WR)
    assert peer.wait(10) and bytes(peer.received) == b"pong" and peer.saw_eof


def test_recv_records_what_the_peer_read(lab):
    peer, sock = lab.connection([Recv(3), Close()])
    sock.sendall(b"abc")
    assert peer.wait(10) and peer.received == b"abc"
    text = "\n".join(lab.transcript.lines())
    assert "received 3 bytes" in text and "b'abc'" in text


def test_a_server_that_never_listens_refuses(lab):
    server = lab.server(mode="never")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.address, timeout=10)


def test_a_late_server_refuses_then_accepts(lab):
    server = lab.server([Send(b"hi"), Close()], mode="late")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(server.address, timeout=10)
    server.listen()
    with socket.create_connection(server.address, timeout=10) as sock:
        assert sock.recv(10) == b"hi"


def test_a_full_backlog_makes_connect_time_out(lab):
    server = lab.server(mode="full")
    with pytest.raises(TimeoutError):
        socket.create_connection(server.address, timeout=0.3)


def test_a_reference_client_talks_to_a_server(lab):
    listener = lab.listener()
    client = lab.client(listener.getsockname(), [Send(b"hello"), ShutWr(), RecvAll()])
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(10)
        data = b""
        while chunk := conn.recv(100):
            data += chunk
        conn.sendall(data.upper())
    assert client.wait(10) and client.received == b"HELLO"
