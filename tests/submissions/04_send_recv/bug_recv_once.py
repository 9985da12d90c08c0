"""Bug: recv_exactly() returns the result of a single sock.recv(n), but recv(n) returns anything from 1 to n bytes: a message that arrives in pieces comes back short.

Should fail: when the n bytes are dribbled in one at a time (or short recv counts are injected), recv_exactly returns fewer than n bytes (e.g. b"0" for n=10) instead of exactly n.
Caught by: recv_exactly_collects_dribbled_bytes, recv_exactly_raises_eof
"""

import socket

# How much one recv() asks for. 64 KiB is the size of a typical socket buffer read:
# big enough that bulk data needs few calls, small enough that a caller's memory
# does not balloon when a peer sends a lot.
CHUNK_SIZE = 64 * 1024


def send_all(sock: socket.socket, data: bytes) -> None:
    """Send every byte of `data` on `sock`, looping over sock.send().

    send() may accept only part of what it is given and returns how many bytes it
    took; keep sending the rest. Do not call sock.sendall(): write the loop yourself.
    Does not close `sock`.
    """
    # A memoryview slices without copying: view[sent:] is the unsent rest of `data`,
    # not a fresh copy of it on every round (which would be quadratic for big data).
    view = memoryview(data).cast("B")
    while view:
        # send() returns how many bytes the kernel took into its send buffer: on a
        # busy or slow connection that can be fewer than we offered.
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
    data = sock.recv(n)
    if n and not data:
        raise EOFError(f"peer closed before any of {n} bytes")
    return data


def recv_all(sock: socket.socket) -> bytes:
    """Return everything the peer sends on `sock` until it closes its sending side
    (recv() returns b""). Does not close `sock`.
    """
    chunks = []
    while True:
        chunk = sock.recv(CHUNK_SIZE)
        # Only b"" means "no more". A short chunk means "that is all that has arrived
        # so far", nothing else.
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def echo_client(host: str, port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    """Connect to an echo server at (host, port), send `payload`, shut down the
    sending side (SHUT_WR), read until the server's EOF, close, and return what came
    back. `timeout` bounds the connect and every later send and recv.
    """
    # create_connection tries every address of `host` and keeps `timeout` on the socket.
    with socket.create_connection((host, port), timeout=timeout) as sock:
        # Sending everything before reading is fine while the payload fits in the
        # socket buffers between us and the server (a few MiB on loopback). Beyond
        # that both sides block in send() at once: reading and writing at the same
        # time needs threads or selectors (stage 08).
        send_all(sock, payload)
        # Half-close: send our FIN. The server's recv() returns b"", so it knows the
        # payload is complete, finishes echoing and closes — which is our EOF. Without
        # this, both sides would wait for the other's EOF forever.
        sock.shutdown(socket.SHUT_WR)
        return recv_all(sock)


def echo_server(listener: socket.socket, clients: int) -> None:
    """Serve `clients` connections on `listener`, one after another.

    For each connection: echo back everything the client sends until its EOF, then
    close that connection. Returns after the last client; never closes `listener`.
    """
    for _ in range(clients):
        conn, _address = listener.accept()
        # `with` closes this client's connection (our FIN to the client) on every path,
        # and only this one: the listener belongs to our caller.
        with conn:
            while True:
                data = conn.recv(CHUNK_SIZE)
                if not data:
                    # The client half-closed: it will send nothing more. Leaving the
                    # `with` closes our side, which is the client's EOF.
                    break
                send_all(conn, data)
