"""Bug: connect() sets the timeout only after connect() has returned ("the timeout is for reading"), so the handshake itself is unbounded: a server that never answers the SYN keeps connect() blocked until the kernel gives up, about two minutes later.

Should fail: connect(host, port, timeout=0.3) to a listener whose accept queue is full (the SYN is dropped) does not raise TimeoutError after 0.3 s: the call hangs until the grader's deadline. The returned socket of a successful connect still has its timeout, so every other check passes.
Caught by: connect_times_out
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
            sock.connect(address)
            # Connected: now bound every recv() on this socket.
            sock.settimeout(timeout)
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
    # `with` closes the socket however we leave: return, EOFError, ValueError,
    # TimeoutError, ConnectionResetError.
    with connect(host, port, timeout) as sock:
        line = bytearray()
        while True:
            # TCP is a byte stream: one recv() returns whatever has arrived, from one
            # byte up to CHUNK_SIZE. It is not "one line" — keep reading.
            chunk = sock.recv(CHUNK_SIZE)
            if not chunk:
                # b"" means the server closed its side: no more bytes will ever come.
                raise EOFError(
                    f"server closed the connection after {len(line)} bytes, before a newline"
                )
            end = chunk.find(b"\n")
            if end != -1:
                line += chunk[:end]
                if len(line) > max_line:
                    raise ValueError(f"line longer than max_line={max_line} bytes")
                # Anything after the newline belongs to later lines; we close instead.
                return bytes(line)
            line += chunk
            # Bound the buffer: a server that never sends b"\n" must not make us grow
            # memory forever.
            if len(line) > max_line:
                raise ValueError(f"more than max_line={max_line} bytes without a newline")
