"""Bug: fetch_line() closes its socket only on the success path (no `with`, no finally), so EOFError, ValueError and TimeoutError leave the connection open.

Should fail: after fetch_line raises EOFError or ValueError the client socket is still open: one more fd in the worker while the exception is held (CPython closes it only when the exception and its traceback are released, with a ResourceWarning "unclosed <socket.socket ...>"), and the server does not see the client's FIN/RST until then.
Caught by: fetch_line_closes_its_socket, fetch_line_raises_connection_error_on_reset
"""

import socket

# How much one recv() asks for. Any size is correct (TCP may hand back fewer bytes
# anyway); 4 KiB keeps the number of calls low without holding much memory.
CHUNK_SIZE = 4096


def connect(host: str, port: int, timeout: float = 5.0) -> socket.socket:
    """Return a TCP socket connected to (host, port).

    Tries every address that name resolution gives for `host`, in order, so that
    "localhost" works whichever family (IPv6 or IPv4) the server listens on.
    `timeout` (seconds) bounds each connect attempt and stays set on the returned
    socket. Nothing listening raises ConnectionRefusedError; every failed attempt's
    socket is closed.
    """
    # One name can stand for several addresses: "localhost" is often ::1 *and*
    # 127.0.0.1. type=SOCK_STREAM asks only for TCP entries (otherwise each address
    # comes back three times: stream, datagram and raw).
    last_error: OSError | None = None
    for family, type_, proto, _canonname, address in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    ):
        # The family comes from the address: AF_INET6 for "::1", AF_INET for
        # "127.0.0.1". A hard-coded AF_INET socket cannot even try an IPv6 address.
        sock = socket.socket(family, type_, proto)
        try:
            # Set the timeout *before* connect(): it bounds the handshake (a SYN that
            # nobody answers would otherwise be retried for about two minutes) and,
            # left in place, every later send and recv on this socket.
            sock.settimeout(timeout)
            sock.connect(address)
        except OSError as error:
            # Refused, timed out, unreachable: close this attempt, try the next one.
            sock.close()
            last_error = error
            continue
        return sock

    if last_error is None:
        raise OSError(f"name resolution gave no address for {host!r}")
    try:
        # Re-raise the last attempt's error (ConnectionRefusedError, TimeoutError...)
        # so the caller learns why nothing connected.
        raise last_error
    finally:
        # The error's traceback holds this frame, and this frame holds the error: break
        # that reference cycle now, as socket.create_connection does.
        last_error = None


def fetch_line(host: str, port: int, timeout: float = 5.0, max_line: int = 65536) -> bytes:
    """Connect to (host, port), read the first line the server sends, close, and
    return that line without its b"\\n".

    The line may arrive in any number of pieces. The server closing before a b"\\n"
    raises EOFError. More than `max_line` bytes without a b"\\n" raises ValueError.
    The socket is closed on every path, errors included.
    """
    sock = connect(host, port, timeout)
    line = bytearray()
    while True:
        chunk = sock.recv(CHUNK_SIZE)
        if not chunk:
            raise EOFError(f"server closed the connection after {len(line)} bytes, before a newline")
        end = chunk.find(b"\n")
        if end != -1:
            line += chunk[:end]
            if len(line) > max_line:
                raise ValueError(f"line longer than max_line={max_line} bytes")
            # Done with the server.
            sock.close()
            return bytes(line)
        line += chunk
        if len(line) > max_line:
            raise ValueError(f"more than max_line={max_line} bytes without a newline")
