"""Bug: serve_concurrently's handler threads poll: a non-blocking recv(), and a time.sleep(0.001) when nothing came, so that each thread can keep its own idle clock. Each silent client's thread wakes up about a thousand times a second for nothing; the chat is correct.

Should fail: with three silent clients connected, the server's threads are woken thousands of times a second (the contract allows one wake-up every 50 ms).
Caught by: concurrently_idle_server_uses_no_cpu
"""

import selectors  # noqa: F401  (unused in the stub until you write the functions)
import socket
import threading  # noqa: F401  (unused in the stub until you write the functions)
import time  # noqa: F401  (unused in the stub until you write the functions)

# The longest nickname, in characters (code points, not bytes): "é" counts as one.
MAX_NICK = 32

# How much one recv of serve_chat asks for. Whatever one recv brings is relayed, and queued
# for every member, before the loop reads again: so this bounds what one sender can add to
# each member's output buffer per turn of the loop. A small read keeps a flood from one
# sender in step with what the kernel takes for each reader per turn; a member that keeps
# reading keeps up, and only one that does not falls behind and is dropped.
RECV_SIZE = 4096

# How long serve_chat goes on sending to a connection it is closing (an ERR line, or the
# rest of a line whose start the kernel already has) before it closes it anyway: ample for
# a client that reads, and a bound on one that does not, which cannot hold the room open.
CLOSE_GRACE = 1.0


def serve_concurrently(
    listener: socket.socket,
    clients: int,
    idle_timeout: float = 2.0,
    max_line: int = 65536,
) -> None:
    """Serve `clients` connections at once, answering each line upper-cased.

    Each connection follows stage 07's serve_lines rules: every line is answered with the
    same line upper-cased plus "\\n" (UTF-8); a last line without "\\n" before the client's
    EOF is answered too; a client that resets, sends invalid UTF-8, sends a line longer than
    `max_line` bytes, or sends nothing for `idle_timeout` seconds is disconnected. One
    client's silence or slowness delays no other. Accepts exactly `clients` connections and
    returns once all of them have ended (a client that half-closed has ended when the server
    has closed it); by then no thread it started is alive and no socket it opened is open.
    Never raises because of a client; does not close `listener`.
    """

    def serve_one(conn: socket.socket) -> None:
        # The body of stage 07's serve_lines, for one client. It runs in its own thread,
        # so a recv that waits here waits for this client only: the accept loop and every
        # other client's thread carry on.
        with conn:  # closed on every path, so a dropped client learns it at once
            # Non-blocking, so that I can keep track of idleness myself: poll for data and
            # nap a millisecond when there is none, so the loop does not hog the CPU.
            conn.setblocking(False)
            try:
                buffer = b""  # this client's own buffer: a local of its own thread
                last_heard = time.monotonic()
                while True:
                    try:
                        chunk = conn.recv(4096)
                    except BlockingIOError:
                        if time.monotonic() - last_heard > idle_timeout:
                            raise TimeoutError("idle") from None
                        time.sleep(0.001)
                        continue
                    last_heard = time.monotonic()
                    at_eof = not chunk
                    if at_eof and buffer:
                        chunk = b"\n"  # answer the unterminated last line
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if len(line) > max_line:
                            raise ValueError(f"line longer than {max_line} bytes")
                        conn.setblocking(True)
                        conn.sendall((line.decode("utf-8").upper() + "\n").encode("utf-8"))
                        conn.setblocking(False)
                    if len(buffer) > max_line:
                        raise ValueError(f"line longer than {max_line} bytes")
                    if at_eof:
                        break
            except (OSError, ValueError):
                # A reset, an idle timeout, bad UTF-8, an over-long line: this client's
                # problem. Catching it *in the thread* matters twice over: an exception
                # that escapes a thread is printed and the thread dies, and nobody else
                # would close the connection (here, the `with` does).
                pass

    threads: list[threading.Thread] = []
    try:
        for number in range(1, clients + 1):
            conn, _address = listener.accept()
            thread = threading.Thread(target=serve_one, args=(conn,), name=f"client-{number}")
            try:
                thread.start()
            except BaseException:
                conn.close()  # no thread will ever own it (e.g. "can't start new thread")
                raise
            threads.append(thread)
    finally:
        # Accepting the last client is not the end: the call is done when every client
        # has *ended*. join() waits for each handler to finish; each one finishes within
        # idle_timeout of its client's last byte, so this cannot wait forever. (On the
        # error path above, joining still matters: it leaves no thread behind.)
        for thread in threads:
            thread.join()


def serve_chat(
    listener: socket.socket,
    clients: int,
    max_pending: int = 1 << 20,
    max_line: int = 4096,
) -> None:
    """Run a chat room for `clients` connections; return once all of them have ended.

    A connection's first line is its nickname: 1..32 characters, none of them whitespace
    (str.isspace), not held by a member in the room now. Accepted: the newcomer gets
    "* welcome <nick>\\n", every other member "* <nick> joined\\n". Refused (so is a first
    line that is not UTF-8 or is longer than `max_line` bytes): "ERR <reason>\\n", then
    close; nobody else hears of it. Every later line `text` from member N goes to every
    *other* member as "<N>: <text>\\n", in the order N sent them. A member leaves on EOF,
    reset, invalid UTF-8, a line over `max_line` bytes, or when more than `max_pending`
    bytes wait for it in the server after the server has offered them to the kernel (too
    slow: no member ever waits on another); its connection is closed and each remaining
    member gets "* <N> left\\n", exactly once. Bytes after a member's last "\\n" are never
    relayed; no partial line is ever sent, except to a member cut off as too slow. Refused
    nicknames count as connections. By the return no thread it started is alive and no
    socket it opened is open; `listener` stays open. An idle room uses no CPU.
    """
    # One thread, one selector: select() sleeps until some socket is ready, and every
    # socket is non-blocking, so no call below can ever wait on one client.
    selector = selectors.DefaultSelector()
    # The state of the room. Every open connection, welcomed or not, has an input buffer
    # (bytes received but not yet a whole line) and an output buffer (bytes queued for it
    # that the kernel has not taken yet). Each connection has its own: one shared buffer
    # would glue one client's half line onto another's.
    inbox: dict[socket.socket, bytearray] = {}
    outbox: dict[socket.socket, bytearray] = {}
    nick_of: dict[socket.socket, str] = {}  # welcomed members only
    members: dict[str, socket.socket] = {}  # the room, by nickname
    mid_line: set[socket.socket] = set()  # the kernel has the start of a line, not its end
    # Connections on their way out: never read again, closed once their output buffer is
    # empty (an ERR line, or the rest of a half-sent line), or at this deadline.
    closing: dict[socket.socket, float] = {}
    accepted = ended = 0

    def watch(sock: socket.socket) -> None:
        # Ask for EVENT_WRITE only while output waits. A socket with room in its send
        # buffer is *always* writable: always-on write interest would make select()
        # return at once, forever, and the loop would spin at 100% CPU.
        events = selectors.EVENT_WRITE if outbox[sock] else 0
        if sock not in closing:
            events |= selectors.EVENT_READ
        if events != selector.get_key(sock).events:
            selector.modify(sock, events)

    def close(sock: socket.socket) -> None:
        # The one place a connection ends, so it is counted exactly once.
        nonlocal ended
        selector.unregister(sock)
        sock.close()
        del inbox[sock], outbox[sock]
        mid_line.discard(sock)
        closing.pop(sock, None)
        ended += 1

    def close_when_sent(sock: socket.socket) -> None:
        # Closing at once could lose what is still queued (an ERR line); a blocking
        # sendall would make the whole room wait. So: stop reading, let the loop send
        # what is queued, and close then, or after CLOSE_GRACE if the peer will not take it.
        closing[sock] = time.monotonic() + CLOSE_GRACE
        send_queued(sock)  # usually all of it goes now, and the connection is closed here

    def leave(sock: socket.socket, *, cut: bool = False) -> None:
        # EOF, reset, bad input or too slow: the connection ends and, if it was a member,
        # the room hears of it once. Every path that ends a member comes through here,
        # and a connection already on its way out is ignored, so "left" can never be
        # said twice (say, once by the reading side and once by the writing side).
        if sock not in inbox or sock in closing:
            return
        queued = outbox[sock]
        if cut or sock not in mid_line:
            queued.clear()  # lines still queued for a leaving member may be discarded ...
        else:
            # ... but not half of one: the kernel has its start, so send the rest too.
            del queued[queued.index(b"\n") + 1 :]
        close_when_sent(sock)
        nick = nick_of.pop(sock, None)
        if nick is not None:
            del members[nick]
            broadcast(f"* {nick} left\n")

    def send_queued(sock: socket.socket) -> None:
        # Offer the kernel what is queued; send() on a non-blocking socket takes what fits
        # in the send buffer and returns at once (BlockingIOError when nothing fits).
        queued = outbox[sock]
        try:
            while queued:
                sent = sock.send(queued)
                if queued[sent - 1] == ord("\n"):
                    mid_line.discard(sock)
                else:
                    mid_line.add(sock)
                del queued[:sent]
        except BlockingIOError:
            pass  # the kernel's buffers are full: the rest waits for EVENT_WRITE
        except OSError:
            # Reset or broken pipe: the peer is gone, nothing more can reach it.
            if sock in closing:
                close(sock)
            else:
                leave(sock, cut=True)
            return
        if sock in closing:
            if queued:
                watch(sock)
            else:
                close(sock)
        elif len(queued) > max_pending:
            # Counted *after* offering the bytes to the kernel: what remains is what this
            # member has not read. Holding more would let one slow reader grow the
            # server's memory without bound; waiting for it would stall the whole room.
            # It is cut off at once, even inside a line: it would not read the rest.
            leave(sock, cut=True)
        else:
            watch(sock)

    def enqueue(sock: socket.socket, line: str) -> None:
        outbox[sock] += line.encode("utf-8")
        send_queued(sock)  # try at once: usually the kernel takes it all, right now

    def broadcast(line: str, sender: socket.socket | None = None) -> None:
        # Iterate over a copy: an enqueue can drop a too-slow member, which changes
        # `members` under our feet ("dictionary changed size during iteration").
        for sock in list(members.values()):
            if sock is not sender and sock in nick_of:
                enqueue(sock, line)

    def refuse(sock: socket.socket, reason: str) -> None:
        outbox[sock] += f"ERR {reason}\n".encode()
        close_when_sent(sock)

    def nickname_problem(line: bytes) -> str | None:
        # Why this first line is not an acceptable nickname, or None if it is.
        try:
            nick = line.decode("utf-8")
        except UnicodeDecodeError:
            return "nickname is not valid UTF-8"
        if not 1 <= len(nick) <= MAX_NICK:
            return f"nickname must be 1 to {MAX_NICK} characters"
        if any(char.isspace() for char in nick):  # "\r" too: a CRLF client's "alice\r"
            return "nickname must not contain whitespace"
        if nick in members:  # refuse: overwriting members[nick] would lose the first one
            return f"nickname {nick} is taken"
        return None

    def handle_line(sock: socket.socket, line: bytes) -> None:
        nick = nick_of.get(sock)
        if nick is None:  # the first line: a nickname
            problem = nickname_problem(line)
            if problem is not None:
                refuse(sock, problem)
                return
            nick = line.decode("utf-8")
            # The newcomer hears its welcome first: its output buffer is empty until now,
            # and nobody else hears that it joined until the welcome is queued.
            enqueue(sock, f"* welcome {nick}\n")
            if sock not in inbox:
                return  # it vanished before its welcome went out: nobody heard of it
            nick_of[sock], members[nick] = nick, sock
            broadcast(f"* {nick} joined\n", sender=sock)
        else:
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                leave(sock)
                return
            broadcast(f"{nick}: {text}\n", sender=sock)

    def too_long(sock: socket.socket) -> None:
        if sock in nick_of:
            leave(sock)
        else:
            refuse(sock, f"line longer than {max_line} bytes")

    def readable(sock: socket.socket) -> None:
        try:
            chunk = sock.recv(RECV_SIZE)
        except BlockingIOError:
            return  # nothing after all: select() will tell us again
        except OSError:
            leave(sock, cut=True)  # reset: nothing more can reach it either
            return
        if not chunk:
            # EOF. Whatever follows the last "\n" is not a line: drop it, never relay it.
            leave(sock)
            return
        buffer = inbox[sock]
        buffer += chunk
        # One recv may hold several lines, or a piece of one: handle every whole line,
        # keep the rest for the next recv.
        while b"\n" in buffer:
            line, _newline, rest = buffer.partition(b"\n")
            buffer[:] = rest
            if len(line) > max_line:
                too_long(sock)
            else:
                handle_line(sock, bytes(line))
            if sock in closing or sock not in inbox:
                return  # it left or was refused (or dropped while we relayed): stop here
        # More than max_line bytes still waiting for their "\n": too long already, no
        # need to wait for the newline (a client could send gigabytes without one).
        if len(buffer) > max_line:
            too_long(sock)

    listening = False
    try:
        if clients > 0:
            selector.register(listener, selectors.EVENT_READ)
            listening = True
        # Done when every connection has *ended*, not when the last one was accepted.
        while ended < clients:
            # timeout=None unless a closing connection has a deadline: nothing else is
            # ever due at a time of its own, so an idle room makes no system call at all.
            timeout = None
            if closing:
                timeout = max(0.0, min(closing.values()) - time.monotonic())
            for key, events in selector.select(timeout):
                if key.fileobj is listener:
                    try:
                        conn, _address = listener.accept()
                    except (BlockingIOError, ConnectionAbortedError):
                        continue  # the client gave up while queued: nothing to count
                    conn.setblocking(False)
                    accepted += 1
                    inbox[conn], outbox[conn] = bytearray(), bytearray()
                    selector.register(conn, selectors.EVENT_READ)
                    if accepted == clients:
                        selector.unregister(listener)  # accept exactly `clients`
                        listening = False
                    continue
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                # An earlier event of this same batch may have closed it (say, it was
                # dropped as too slow while we relayed a line): skip it then.
                if events & selectors.EVENT_READ and sock in inbox and sock not in closing:
                    readable(sock)
                if events & selectors.EVENT_WRITE and sock in inbox:
                    send_queued(sock)
            # A connection that would not take its last bytes within CLOSE_GRACE: give up.
            now = time.monotonic()
            for sock, deadline in list(closing.items()):
                if deadline <= now:
                    close(sock)
    finally:
        # Normally nothing is left; on an unexpected error, still give back every
        # socket we opened. The listener is the caller's: unregister it, never close it.
        if listening:
            selector.unregister(listener)
        for sock in list(inbox):
            sock.close()
        selector.close()
