"""Bug: connect() hard-codes socket.AF_INET (as most tutorials do), so it cannot reach a server that listens on an IPv6 address such as ::1.

Should fail: connect("::1", port) to a listener on ::1 raises socket.gaierror ("Address family for hostname not supported") instead of returning a connected AF_INET6 socket; 127.0.0.1 and "localhost" still work.
Caught by: connects_to_an_ipv6_address, tries_every_address
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
    # A TCP socket is AF_INET + SOCK_STREAM, as in every tutorial.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect((host, port))
    except OSError:
        sock.close()
        raise
    return sock

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
                raise EOFError(f"server closed the connection after {len(line)} bytes, before a newline")
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
