"""Correct, event-driven server: echo_server waits with selectors on a non-blocking connection, reading and writing as each becomes possible."""

import selectors
import socket

CHUNK_SIZE = 64 * 1024
# Stop reading while this much is still waiting to be echoed: back-pressure, so a
# client that sends fast but reads slowly cannot make the server buffer without bound.
MAX_PENDING = 4 * CHUNK_SIZE


def send_all(sock: socket.socket, data: bytes) -> None:
    """Send every byte of `data` on `sock`, looping over sock.send().

    send() may accept only part of what it is given and returns how many bytes it
    took; keep sending the rest. Do not call sock.sendall(): write the loop yourself.
    Does not close `sock`.
    """
    view = memoryview(data).cast("B")
    while view:
        sent = sock.send(view)
        view = view[sent:]


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Return exactly `n` bytes from `sock`.

    Never reads more than `n` bytes from the socket: the bytes after them belong to
    whoever reads next. Raises EOFError if the peer closes before `n` bytes arrive,
    ValueError if `n` is negative. Does not close `sock`.
    """
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
    """Return everything the peer sends on `sock` until it closes its sending side
    (recv() returns b""). Does not close `sock`.
    """
    chunks = []
    while chunk := sock.recv(CHUNK_SIZE):
        chunks.append(chunk)
    return b"".join(chunks)


def echo_client(host: str, port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    """Connect to an echo server at (host, port), send `payload`, shut down the
    sending side (SHUT_WR), read until the server's EOF, close, and return what came
    back. `timeout` bounds the connect and every later send and recv.
    """
    with socket.create_connection((host, port), timeout=timeout) as sock:
        send_all(sock, payload)
        sock.shutdown(socket.SHUT_WR)
        return recv_all(sock)


def _echo_one(conn: socket.socket) -> None:
    conn.setblocking(False)
    pending = bytearray()
    eof = False
    with selectors.DefaultSelector() as selector:
        selector.register(conn, selectors.EVENT_READ)
        while True:
            wanted = 0
            if not eof and len(pending) < MAX_PENDING:
                wanted |= selectors.EVENT_READ
            if pending:
                wanted |= selectors.EVENT_WRITE
            if not wanted:
                return  # the client's EOF has come and everything is echoed
            selector.modify(conn, wanted)
            for _key, events in selector.select():
                if events & selectors.EVENT_READ:
                    try:
                        chunk = conn.recv(CHUNK_SIZE)
                    except BlockingIOError:
                        chunk = None
                    if chunk == b"":
                        eof = True
                    elif chunk:
                        pending += chunk
                if events & selectors.EVENT_WRITE and pending:
                    try:
                        sent = conn.send(pending)
                    except BlockingIOError:
                        sent = 0
                    del pending[:sent]


def echo_server(listener: socket.socket, clients: int) -> None:
    """Serve `clients` connections on `listener`, one after another.

    For each connection: echo back everything the client sends until its EOF, then
    close that connection. Returns after the last client; never closes `listener`.
    """
    for _ in range(clients):
        conn, _address = listener.accept()
        with conn:
            _echo_one(conn)
