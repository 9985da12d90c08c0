"""Correct, with file objects: recv_all is sock.makefile("rb").read(), and echo_client reads the echo the same way."""

import socket

CHUNK_SIZE = 64 * 1024


def send_all(sock: socket.socket, data: bytes) -> None:
    """Send every byte of `data` on `sock`, looping over sock.send().

    send() may accept only part of what it is given and returns how many bytes it
    took; keep sending the rest. Do not call sock.sendall(): write the loop yourself.
    Does not close `sock`.
    """
    view = memoryview(data).cast("B")
    while len(view) > 0:
        view = view[sock.send(view):]


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Return exactly `n` bytes from `sock`.

    Never reads more than `n` bytes from the socket: the bytes after them belong to
    whoever reads next. Raises EOFError if the peer closes before `n` bytes arrive,
    ValueError if `n` is negative. Does not close `sock`.
    """
    if n < 0:
        raise ValueError("negative n")
    # Unbuffered (buffering=0): a buffered reader would read ahead past byte n and
    # throw those bytes away when it is closed.
    with sock.makefile("rb", buffering=0) as raw:
        parts = []
        missing = n
        while missing:
            part = raw.read(min(missing, CHUNK_SIZE))
            if not part:
                raise EOFError(f"peer closed with {missing} of {n} bytes missing")
            parts.append(part)
            missing -= len(part)
    return b"".join(parts)


def recv_all(sock: socket.socket) -> bytes:
    """Return everything the peer sends on `sock` until it closes its sending side
    (recv() returns b""). Does not close `sock`.
    """
    # Closing the file object does not close the socket it was made from.
    with sock.makefile("rb") as stream:
        return stream.read()


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
    for _ in range(clients):
        conn, _ = listener.accept()
        with conn, conn.makefile("rb", buffering=0) as incoming:
            while data := incoming.read(CHUNK_SIZE):
                send_all(conn, data)
