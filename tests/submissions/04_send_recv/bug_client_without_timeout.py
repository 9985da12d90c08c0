"""Bug: echo_client() calls socket.create_connection((host, port)) without its `timeout`, so the socket blocks forever: a server that reads the payload and never answers keeps echo_client waiting for good.

Should fail: echo_client(host, port, payload, timeout=0.3) against a silent server does not raise TimeoutError after about 0.3 s; the call hangs until the grader's deadline.
Caught by: echo_client_times_out_on_a_silent_server
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
    with socket.create_connection((host, port)) as sock:
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
