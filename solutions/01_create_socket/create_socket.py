"""Stage 01: make a TCP socket, then ask the kernel what it knows about one.

A socket is a handle (a file descriptor) on state the kernel keeps: the address
family, the socket type, the local and remote addresses, and how calls on it wait.
This stage creates TCP sockets and reads that state back.
"""

import socket

# The families this course works with. AF_UNIX sockets exist too, but they are
# addressed by file paths and never carry TCP: they are not for this module.
SUPPORTED_FAMILIES = (socket.AF_INET, socket.AF_INET6)


def create_tcp_socket(family: int = socket.AF_INET) -> socket.socket:
    """Return a new, unbound, unconnected TCP socket of the given address family.

    family is socket.AF_INET (IPv4, the default) or socket.AF_INET6 (IPv6).
    Any other family raises ValueError, and no socket is created.
    The caller owns the socket and must close it.
    """
    # Check BEFORE creating anything: if we created the socket first and then
    # raised, nobody would hold a reference to close it and its file descriptor
    # would leak until the garbage collector noticed.
    if family not in SUPPORTED_FAMILIES:
        raise ValueError(f"family must be AF_INET or AF_INET6, not {family!r}")
    # SOCK_STREAM in an internet family is TCP: a reliable, ordered byte stream.
    # (SOCK_DGRAM would be UDP: separate datagrams, no connection, no delivery promise.)
    return socket.socket(family, socket.SOCK_STREAM)


def describe_socket(sock: socket.socket) -> dict[str, object]:
    """Describe what the kernel knows about sock, without changing or closing it.

    Returns a dict with exactly these keys:
      "family":   "AF_INET" or "AF_INET6"
      "type":     "SOCK_STREAM" or "SOCK_DGRAM"
      "local":    (host, port) the socket is bound to, or None when it is not bound
      "peer":     (host, port) of the other end, or None when it is not connected
      "blocking": True unless the socket is in non-blocking mode (timeout 0.0)
      "timeout":  the socket's timeout in seconds (a float), or None for none
    Host/port pairs are always 2-tuples, even for IPv6.
    """
    # sock.family and sock.type are enums (AddressFamily, SocketKind): .name gives
    # the constant's name, "AF_INET6" rather than the bare number 10.
    family = socket.AddressFamily(sock.family).name
    kind = socket.SocketKind(sock.type).name

    # An unbound socket still answers getsockname(): with the wildcard address and
    # port 0, ('0.0.0.0', 0) or ('::', 0, 0, 0). Port 0 means "no port yet": once a
    # socket is bound (explicitly, or implicitly by connect) its port is never 0.
    # IPv6 addresses come as 4-tuples (host, port, flowinfo, scope_id); [:2] keeps
    # the (host, port) pair the contract promises for both families.
    local_address = sock.getsockname()
    local = local_address[:2] if local_address[1] != 0 else None

    # getpeername() has no "nothing" value: on a socket that is not connected it
    # raises OSError (ENOTCONN). That is the answer "no peer", not a failure.
    try:
        peer = sock.getpeername()[:2]
    except OSError:
        peer = None

    return {
        "family": family,
        "type": kind,
        "local": local,
        "peer": peer,
        # getblocking() is False only in non-blocking mode (timeout 0.0). A socket
        # with a timeout such as 2.5 still *waits* (up to 2.5 s), so it counts as blocking.
        "blocking": sock.getblocking(),
        # None: wait forever; 0.0: never wait; a positive float: wait that long,
        # then raise TimeoutError.
        "timeout": sock.gettimeout(),
    }
