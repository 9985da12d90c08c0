"""Bug: echo_client() closes its socket with a plain sock.close() after reading the echo, not in a `with` or `finally`, so an error on the way (a timeout, a reset) leaves the socket open.

Should fail: when the server stays silent (TimeoutError) or resets (ConnectionResetError), the socket echo_client opened is still open while the error is held; echoes that succeed close it.
Caught by: echo_client_times_out_on_a_silent_server, echo_client_closes_its_socket_on_a_reset
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
    sock = socket.create_connection((host, port), timeout=timeout)
    send_all(sock, payload)
    sock.shutdown(socket.SHUT_WR)
    echo = recv_all(sock)
    sock.close()
    return echo


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
