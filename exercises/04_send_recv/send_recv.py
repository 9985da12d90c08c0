"""Stage 04 — send and receive: move whole byte strings over a TCP byte stream.

Read exercises/04_send_recv/README.md first; `tcplab check 4` checks your work.
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
    raise NotImplementedError(
        "loop: sent = sock.send(rest of data); drop the sent bytes; stop when nothing is left"
    )


def recv_exactly(sock: socket.socket, n: int) -> bytes:
    """Return exactly `n` bytes from `sock`.

    Never reads more than `n` bytes from the socket: the bytes after them belong to
    whoever reads next. Raises EOFError if the peer closes before `n` bytes arrive,
    ValueError if `n` is negative. Does not close `sock`.
    """
    raise NotImplementedError(
        "loop: recv(what is still missing) until you have n bytes; b'' -> EOFError"
    )


def recv_all(sock: socket.socket) -> bytes:
    """Return everything the peer sends on `sock` until it closes its sending side
    (recv() returns b""). Does not close `sock`.
    """
    raise NotImplementedError("loop: recv(CHUNK_SIZE) and collect until recv returns b''")


def echo_client(host: str, port: int, payload: bytes, timeout: float = 5.0) -> bytes:
    """Connect to an echo server at (host, port), send `payload`, shut down the
    sending side (SHUT_WR), read until the server's EOF, close, and return what came
    back. `timeout` bounds the connect and every later send and recv.
    """
    raise NotImplementedError(
        "create_connection, send_all, sock.shutdown(socket.SHUT_WR), recv_all, close"
    )


def echo_server(listener: socket.socket, clients: int) -> None:
    """Serve `clients` connections on `listener`, one after another.

    For each connection: echo back everything the client sends until its EOF, then
    close that connection. Returns after the last client; never closes `listener`.
    """
    raise NotImplementedError(
        "for each client: accept, echo recv -> send_all until b'', close the connection (not the listener)"
    )
