"""Correct, the usual tutorial code (Python Socket Programming HOWTO loops, and the classic echo loop): echo_server is `data = conn.recv(1024); if not data: break; conn.sendall(data)` (sendall is fine there; only send_all must loop over send)."""

import socket

CHUNK_SIZE = 64 * 1024


def send_all(sock: socket.socket, data: bytes) -> None:
    """Send every byte of `data` on `sock`, looping over sock.send().

    send() may accept only part of what it is given and returns how many bytes it
    took; keep sending the rest. Do not call sock.sendall(): write the loop yourself.
    Does not close `sock`.
    """
    # mysend() from the Python Socket Programming HOWTO, over a memoryview.
    data = memoryview(data).cast("B")
    totalsent = 0
    while totalsent < len(data):
        sent = sock.send(data[totalsent:])
        if sent == 0:
            raise RuntimeError("socket connection broken")
        totalsent = totalsent + sent


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Return exactly `n` bytes from `sock`.

    Never reads more than `n` bytes from the socket: the bytes after them belong to
    whoever reads next. Raises EOFError if the peer closes before `n` bytes arrive,
    ValueError if `n` is negative. Does not close `sock`.
    """
    # myreceive() from the HOWTO, raising EOFError as the contract says.
    if n < 0:
        raise ValueError("n < 0")
    chunks = []
    bytes_recd = 0
    while bytes_recd < n:
        chunk = sock.recv(min(n - bytes_recd, 2048))
        if chunk == b"":
            raise EOFError("socket connection broken")
        chunks.append(chunk)
        bytes_recd = bytes_recd + len(chunk)
    return b"".join(chunks)


def recv_all(sock: socket.socket) -> bytes:
    """Return everything the peer sends on `sock` until it closes its sending side
    (recv() returns b""). Does not close `sock`.
    """
    chunks = []
    while True:
        packet = sock.recv(4096)
        if not packet:
            break
        chunks.append(packet)
    return b"".join(chunks)


def echo_client(host: str, port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    """Connect to an echo server at (host, port), send `payload`, shut down the
    sending side (SHUT_WR), read until the server's EOF, close, and return what came
    back. `timeout` bounds the connect and every later send and recv.
    """
    with socket.create_connection((host, port), timeout) as s:
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        return recv_all(s)


def echo_server(listener: socket.socket, clients: int) -> None:
    """Serve `clients` connections on `listener`, one after another.

    For each connection: echo back everything the client sends until its EOF, then
    close that connection. Returns after the last client; never closes `listener`.
    """
    for _ in range(clients):
        conn, addr = listener.accept()
        with conn:
            while True:
                data = conn.recv(1024)
                if not data:
                    break
                conn.sendall(data)
