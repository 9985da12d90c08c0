"""Bug: recv_exactly() has no check of n: its loop `while len(got) < n` simply never runs for a negative n, so recv_exactly(sock, -1) returns b"" instead of raising ValueError.

Should fail: recv_exactly(sock, -1) returns b"" instead of raising ValueError; every n >= 0 works.
Caught by: recv_exactly_edge_cases
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
    got = bytearray()
    while len(got) < n:
        chunk = sock.recv(n - len(got))
        if not chunk:
            raise EOFError(f"peer closed after {len(got)} of {n} bytes")
        got += chunk
    return bytes(got)


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
        conn, _address = listener.accept()
        with conn:
            while True:
                data = conn.recv(CHUNK_SIZE)
                if not data:
                    break
                send_all(conn, data)
