"""Correct, accumulating into a bytearray: recv_exactly and recv_all append each chunk with += and trim sent bytes with del."""

import socket

CHUNK_SIZE = 64 * 1024


def send_all(sock: socket.socket, data: bytes) -> None:
    """Send every byte of `data` on `sock`, looping over sock.send().

    send() may accept only part of what it is given and returns how many bytes it
    took; keep sending the rest. Do not call sock.sendall(): write the loop yourself.
    Does not close `sock`.
    """
    total = len(memoryview(data).cast("B"))
    sent = 0
    while sent < total:
        # Offer at most one chunk at a time: small slices, many sends.
        sent += sock.send(memoryview(data).cast("B")[sent : sent + CHUNK_SIZE])


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Return exactly `n` bytes from `sock`.

    Never reads more than `n` bytes from the socket: the bytes after them belong to
    whoever reads next. Raises EOFError if the peer closes before `n` bytes arrive,
    ValueError if `n` is negative. Does not close `sock`.
    """
    if n < 0:
        raise ValueError(f"n={n}")
    buffer = bytearray()
    while len(buffer) < n:
        chunk = sock.recv(min(n - len(buffer), CHUNK_SIZE))
        if chunk == b"":
            raise EOFError(f"got {len(buffer)} of {n} bytes before EOF")
        buffer += chunk
    return bytes(buffer)


def recv_all(sock: socket.socket) -> bytes:
    """Return everything the peer sends on `sock` until it closes its sending side
    (recv() returns b""). Does not close `sock`.
    """
    buffer = bytearray()
    while chunk := sock.recv(CHUNK_SIZE):
        buffer += chunk
    return bytes(buffer)


def echo_client(host: str, port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    """Connect to an echo server at (host, port), send `payload`, shut down the
    sending side (SHUT_WR), read until the server's EOF, close, and return what came
    back. `timeout` bounds the connect and every later send and recv.
    """
    sock = socket.create_connection((host, port), timeout=timeout)
    try:
        send_all(sock, payload)
        sock.shutdown(socket.SHUT_WR)
        return recv_all(sock)
    finally:
        sock.close()


def echo_server(listener: socket.socket, clients: int) -> None:
    """Serve `clients` connections on `listener`, one after another.

    For each connection: echo back everything the client sends until its EOF, then
    close that connection. Returns after the last client; never closes `listener`.
    """
    served = 0
    while served < clients:
        conn, _ = listener.accept()
        try:
            pending = bytearray()
            while True:
                chunk = conn.recv(CHUNK_SIZE)
                if not chunk:
                    break
                pending += chunk
                sent = conn.send(pending)
                del pending[:sent]
            send_all(conn, pending)
        finally:
            conn.close()
        served += 1
