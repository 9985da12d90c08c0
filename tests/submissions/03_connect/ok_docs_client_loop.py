"""Correct, after the CPython socket docs' "Echo client program" (IPv4 and IPv6): a getaddrinfo loop over AF_UNSPEC results, each failed socket closed and the last error re-raised (where the docs print and exit), and a reader that finds the newline in a growing bytearray."""

import socket

CHUNK_SIZE = 4096


def connect(host: str, port: int, timeout: float = 5.0) -> socket.socket:
    """Return a TCP socket connected to (host, port), trying every address of host."""
    error: OSError | None = None
    for res in socket.getaddrinfo(host, port, socket.AF_UNSPEC, socket.SOCK_STREAM):
        af, socktype, proto, _canonname, sa = res
        try:
            s = socket.socket(af, socktype, proto)
        except OSError as msg:
            error = msg
            continue
        try:
            s.settimeout(timeout)
            s.connect(sa)
        except OSError as msg:
            s.close()
            error = msg
            continue
        return s
    if error is None:
        raise OSError(f"could not open socket to {host!r}")
    try:
        raise error
    finally:
        error = None  # no reference cycle through the traceback


def fetch_line(host: str, port: int, timeout: float = 5.0, max_line: int = 65536) -> bytes:
    """Connect, read the first line the server sends, close, return it without its b"\\n"."""
    with connect(host, port, timeout) as s:
        data = bytearray()
        while True:
            newline = data.find(b"\n")
            if newline != -1:
                if newline > max_line:
                    raise ValueError(f"line longer than {max_line} bytes")
                return bytes(data[:newline])
            if len(data) > max_line:
                raise ValueError(f"more than {max_line} bytes without a newline")
            chunk = s.recv(CHUNK_SIZE)
            if not chunk:
                raise EOFError("server closed before a whole line")
            data += chunk
