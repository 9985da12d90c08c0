"""Bug: echo_server() does a single recv() per client, echoes it and closes, as if one recv() were one message; the rest of what the client sends is never read.

Should fail: a client whose payload arrives in several pieces (sent with pauses, or larger than one recv) gets back only the first piece, and since the server closes with unread data in its receive buffer (which sends a RST) the client often gets ConnectionResetError, BrokenPipeError or ENOTCONN while still sending or reading instead of a clean EOF.
Caught by: echo_server_serves_clients_in_turn
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
    chunks = []
    remaining = n
    while remaining:
        # Ask for at most what is still missing, so nothing past byte n is consumed.
        # recv() may still return fewer: anything from 1 byte up.
        chunk = sock.recv(min(remaining, CHUNK_SIZE))
        if not chunk:
            # b"" is end of file: the peer closed its sending side for good.
            raise EOFError(f"peer closed after {n - remaining} of {n} bytes")
        chunks.append(chunk)
        remaining -= len(chunk)
    # One join at the end copies each byte once (bytes += in a loop copies repeatedly).
    return b"".join(chunks)


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
        with conn:
            # One request, one answer.
            data = conn.recv(CHUNK_SIZE)
            send_all(conn, data)
