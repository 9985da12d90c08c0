"""Correct, zero-copy style: recv_exactly fills a preallocated bytearray with recv_into through a memoryview, and send_all tracks an offset."""

import socket

CHUNK_SIZE = 64 * 1024


def send_all(sock: socket.socket, data: bytes) -> None:
    """Send every byte of `data` on `sock`, looping over sock.send().

    send() may accept only part of what it is given and returns how many bytes it
    took; keep sending the rest. Do not call sock.sendall(): write the loop yourself.
    Does not close `sock`.
    """
    with memoryview(data) as view, view.cast("B") as octets:
        offset = 0
        while offset < len(octets):
            offset += sock.send(octets[offset:])


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Return exactly `n` bytes from `sock`.

    Never reads more than `n` bytes from the socket: the bytes after them belong to
    whoever reads next. Raises EOFError if the peer closes before `n` bytes arrive,
    ValueError if `n` is negative. Does not close `sock`.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    buffer = bytearray(n)
    view = memoryview(buffer)
    filled = 0
    while filled < n:
        got = sock.recv_into(view[filled:], min(n - filled, CHUNK_SIZE))
        if got == 0:
            raise EOFError(f"EOF after {filled} of {n} bytes")
        filled += got
    view.release()
    return bytes(buffer)


def recv_all(sock: socket.socket) -> bytes:
    """Return everything the peer sends on `sock` until it closes its sending side
    (recv() returns b""). Does not close `sock`.
    """
    buffer = bytearray()
    chunk = bytearray(CHUNK_SIZE)
    while True:
        got = sock.recv_into(chunk)
        if got == 0:
            return bytes(buffer)
        buffer += memoryview(chunk)[:got]


def echo_client(host: str, port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    """Connect to an echo server at (host, port), send `payload`, shut down the
    sending side (SHUT_WR), read until the server's EOF, close, and return what came
    back. `timeout` bounds the connect and every later send and recv.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        send_all(sock, payload)
        sock.shutdown(socket.SHUT_WR)
        return recv_all(sock)


def echo_server(listener: socket.socket, clients: int) -> None:
    """Serve `clients` connections on `listener`, one after another.

    For each connection: echo back everything the client sends until its EOF, then
    close that connection. Returns after the last client; never closes `listener`.
    """
    chunk = bytearray(CHUNK_SIZE)
    view = memoryview(chunk)
    for _ in range(clients):
        conn, _ = listener.accept()
        with conn:
            while (got := conn.recv_into(chunk)) > 0:
                send_all(conn, view[:got])
