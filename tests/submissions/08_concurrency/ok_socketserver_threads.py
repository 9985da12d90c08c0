"""Correct, with socketserver: a ThreadingTCPServer made with bind_and_activate=False adopts the caller's listener (its own unused socket closed; TCPServer.server_close overridden below ThreadingMixIn so the listener stays open), serve_forever runs in the calling thread and a watcher thread calls shutdown() once `clients` connections were accepted; server_close() then joins every handler thread. The chat uses the same server, with a handler per member and a writer thread per member draining a byte buffer.

Should pass: every check.
"""

import select
import socket
import socketserver
import threading


class _KeepListener(socketserver.TCPServer):
    def server_close(self):
        pass  # TCPServer's would close self.socket: the caller's listener, not ours to close


class _AdoptedServer(socketserver.ThreadingMixIn, _KeepListener):
    """Serves on a listener that someone else made and will close.

    server_close() is ThreadingMixIn's: it joins the handler threads, and the TCPServer part
    of it is _KeepListener's, which leaves the listener open.
    """

    daemon_threads = False  # server_close() waits for the handler threads
    block_on_close = True

    def __init__(self, listener, handler, clients, **settings):
        super().__init__(listener.getsockname(), handler, bind_and_activate=False)
        self.socket.close()  # TCPServer made a socket of its own; we use the caller's
        self.socket = listener
        self.server_address = listener.getsockname()
        self.settings = settings
        self.to_accept = clients
        self.all_accepted = threading.Event()
        if clients <= 0:
            self.all_accepted.set()

    def process_request(self, request, client_address):
        super().process_request(request, client_address)  # starts the handler's thread
        self.to_accept -= 1
        if self.to_accept == 0:
            self.all_accepted.set()


def _run(server):
    def watcher():
        server.all_accepted.wait()
        server.shutdown()  # serve_forever returns within a poll interval; no more accepts

    watch = threading.Thread(target=watcher, name="watcher")
    watch.start()
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.all_accepted.set()  # in case serve_forever failed: let the watcher end
        watch.join()
        server.server_close()  # every handler thread has ended when this returns


# ---------------------------------------------------------------- serve_concurrently


class _UpperHandler(socketserver.BaseRequestHandler):
    def handle(self):
        conn = self.request
        idle_timeout = self.server.settings["idle_timeout"]
        max_line = self.server.settings["max_line"]
        conn.settimeout(idle_timeout)
        try:
            buffer = b""
            while True:
                chunk = conn.recv(4096)
                at_eof = not chunk
                if at_eof and buffer:
                    chunk = b"\n"
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if len(line) > max_line:
                        return
                    conn.sendall((line.decode("utf-8").upper() + "\n").encode("utf-8"))
                if len(buffer) > max_line or at_eof:
                    return
        except (OSError, ValueError):
            pass  # socketserver closes the connection after handle()


def serve_concurrently(listener, clients, idle_timeout=2.0, max_line=65536):
    _run(_AdoptedServer(listener, _UpperHandler, clients, idle_timeout=idle_timeout, max_line=max_line))


# ---------------------------------------------------------------- serve_chat


class _Outbox:
    """Bytes waiting for one member, and the thread that sends them."""

    def __init__(self, conn, limit):
        self.conn = conn
        self.limit = limit
        self.data = bytearray()
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._send_loop, name="outbox")
        self.thread.start()

    def put(self, data):
        """Queue data; drop the member (shutdown wakes its handler) if too much waits."""
        with self.cond:
            if self.closed:
                return
            self.data += data
            # Hand the kernel what it takes now, so only what it refused counts.
            if not self._send_now() or len(self.data) > self.limit:
                self._hang_up()
            elif self.data:
                self.cond.notify()

    def _send_now(self):
        """Send what the kernel takes without blocking (the lock is held); False if broken."""
        while self.data:
            try:
                sent = self.conn.send(self.data, socket.MSG_DONTWAIT)
            except BlockingIOError:
                return True
            except OSError:
                return False
            del self.data[:sent]
        return True

    def _hang_up(self):
        self.closed = True
        self.data.clear()
        try:
            self.conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.cond.notify()

    def _send_loop(self):
        poller = select.poll()
        poller.register(self.conn, select.POLLOUT)
        while True:
            with self.cond:
                while not self.data and not self.closed:
                    self.cond.wait()
                if self.closed:
                    return
            poller.poll()  # wait until the kernel has room, without holding the lock
            with self.cond:
                if not self.closed and not self._send_now():
                    self._hang_up()

    def close(self):
        with self.cond:
            self.closed = True
            self.data.clear()
            self.cond.notify()
        try:
            self.conn.shutdown(socket.SHUT_RDWR)  # wakes the sender if it is in poll()
        except OSError:
            pass
        self.thread.join()


def _valid_nick(text):
    return 1 <= len(text) <= 32 and not any(c.isspace() for c in text)


class _ChatHandler(socketserver.BaseRequestHandler):
    def handle(self):
        server = self.server
        room, lock = server.room, server.room_lock
        max_line = server.settings["max_line"]
        conn = self.request
        nick = None
        outbox = None
        buffer = b""
        try:
            while b"\n" not in buffer:
                if len(buffer) > max_line:
                    conn.sendall(b"ERR line too long\n")
                    return
                chunk = conn.recv(4096)
                if not chunk:
                    return
                buffer += chunk
            first, _, buffer = buffer.partition(b"\n")
            try:
                wanted = first.decode("utf-8") if len(first) <= max_line else None
            except UnicodeDecodeError:
                wanted = None
            if wanted is None or not _valid_nick(wanted):
                conn.sendall(b"ERR bad nickname\n")
                return
            with lock:
                if wanted not in room:
                    nick = wanted
                    outbox = _Outbox(conn, server.settings["max_pending"])
                    outbox.put(f"* welcome {nick}\n".encode("utf-8"))
                    for other in room.values():
                        other.put(f"* {nick} joined\n".encode("utf-8"))
                    room[nick] = outbox
            if nick is None:
                conn.sendall(b"ERR nickname taken\n")
                return

            while True:
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if len(line) > max_line:
                        return
                    data = f"{nick}: {line.decode('utf-8')}\n".encode("utf-8")
                    with lock:
                        for name, other in room.items():
                            if name != nick:
                                other.put(data)
                if len(buffer) > max_line:
                    return
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buffer += chunk
        except (OSError, ValueError):
            pass
        finally:
            if nick is not None:
                with lock:
                    del room[nick]
                    for other in room.values():
                        other.put(f"* {nick} left\n".encode("utf-8"))
                outbox.close()
            # socketserver then shuts the connection down (SHUT_WR) and closes it


def serve_chat(listener, clients, max_pending=1 << 20, max_line=4096):
    server = _AdoptedServer(listener, _ChatHandler, clients, max_pending=max_pending, max_line=max_line)
    server.room = {}
    server.room_lock = threading.Lock()
    _run(server)
