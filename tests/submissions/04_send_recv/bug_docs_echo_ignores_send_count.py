"""Bug: echo_server() is the CPython socket docs' echo server with conn.send(data) where the docs have conn.sendall(data): send() returns how many bytes it took, and the rest of each piece is silently dropped whenever that count is short.

Should fail: with short send counts injected, each client gets its echo back with bytes missing here and there (a subsequence of what it sent, not a prefix); the grader's hint is about send()'s count, not about looping over recv(), since the recv loop is right.
Caught by: echo_server_serves_clients_in_turn, echo_server_serves_three_clients_over_ipv6
"""

import socket

CHUNK_SIZE = 64 * 1024


def send_all(sock: socket.socket, data: bytes) -> None:
    """Send every byte of `data` on `sock`, looping over sock.send()."""
    view = memoryview(data).cast("B")
    while view:
        sent = sock.send(view)
        view = view[sent:]


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Return exactly `n` bytes from `sock`; EOFError if the peer closes first."""
    if n < 0:
        raise ValueError(f"n must be >= 0, not {n}")
    chunks = []
    remaining = n
    while remaining:
        chunk = sock.recv(min(remaining, CHUNK_SIZE))
        if not chunk:
            raise EOFError(f"peer closed after {n - remaining} of {n} bytes")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def recv_all(sock: socket.socket) -> bytes:
    """Return everything the peer sends on `sock` until its EOF."""
    chunks = []
    while chunk := sock.recv(CHUNK_SIZE):
        chunks.append(chunk)
    return b"".join(chunks)


def echo_client(host: str, port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    """Connect, send `payload`, half-close, read until EOF, close, return what came back."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        send_all(sock, payload)
        sock.shutdown(socket.SHUT_WR)
        return recv_all(sock)


def echo_server(listener: socket.socket, clients: int) -> None:
    """Serve `clients` connections one after another, echoing each until its EOF."""
    for _ in range(clients):
        conn, addr = listener.accept()
        with conn:
            print("Connected by", addr)
            while True:
                data = conn.recv(1024)
                if not data:
                    break
                conn.send(data)
