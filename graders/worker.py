"""The worker: a process that imports one student module and runs calls into it.

Started by graders.subject with one end of a Unix socket pair. It applies its limits,
imports the student module once, says how that went, then serves one call at a time:
decode the arguments (sockets arrive as fds), run the function, report what it returned
or raised, how long it took, which sockets it left open, which of its arguments it
closed, and how much memory it used. It imports only the standard library and the
codec, so it starts fast and student code cannot reach the grader's state.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import os
import resource
import socket
import sys
import threading
import time
import traceback
import warnings
from typing import Any

from graders import codec, faults, resolver, wire

# Why 512 KiB: Python threads default to 8 MiB stacks; with an address-space limit a
# threaded student server would run out of address space after a few dozen threads.
THREAD_STACK = 512 * 1024


def main() -> None:
    chan = socket.socket(fileno=int(sys.argv[1]))
    config = json.loads(sys.argv[2])
    apply_limits(config.get("limits", {}))
    threading.stack_size(THREAD_STACK)
    leaks = LeakWatch()
    report = import_student(config["module_path"], config["module_name"])
    # Why freeze: everything alive now lives for the whole worker; moving it out of the
    # collector's sight makes the gc.collect() after each call cost microseconds, not a ms.
    gc.collect()
    gc.freeze()
    wire.send_message(chan, report)
    module = _MODULE.get("module")
    while True:
        try:
            request, fds = wire.recv_message(chan)
        except (wire.WireClosed, OSError):
            return
        reply, out_socks = serve(module, request, fds, leaks)
        wire.send_message(chan, reply, [s.fileno() for s in out_socks])
        for s in out_socks:
            s.close()


_MODULE: dict[str, Any] = {}


def apply_limits(limits: dict[str, int]) -> None:
    for name, value in limits.items():
        which = getattr(resource, name, None)
        if which is None or value is None:
            continue
        try:
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            # An rlimit above the hard limit we inherited: keep the inherited one.
            pass


def import_student(path: str, name: str) -> dict[str, Any]:
    """Imports the student's module; the report says ok, or what went wrong and where."""
    sys.path.insert(0, os.path.dirname(path))
    started = time.monotonic()
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            return {"import": "error", "message": f"cannot load {path} as a Python module"}
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    except SyntaxError as exc:
        return {
            "import": "syntax",
            "file": exc.filename or path,
            "line": exc.lineno,
            "message": exc.msg,
            "text": (exc.text or "").rstrip("\n"),
        }
    except SystemExit as exc:
        return {"import": "error", "message": f"the module called sys.exit({exc.code!r}) while being imported"}
    except BaseException as exc:  # anything a student module raises at import
        return {
            "import": "error",
            "message": f"importing the module raised {type(exc).__name__}: {codec.safe_str(exc)}",
            "traceback": student_traceback(exc, path),
        }
    _MODULE["module"] = module
    return {"import": "ok", "seconds": time.monotonic() - started, "functions": public_names(module)}


def public_names(module: Any) -> list[str]:
    return sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))


def serve(module: Any, request: dict[str, Any], fds: list[int], leaks: LeakWatch) -> tuple[dict, list]:
    op = request.get("op")
    if op == "ping":
        for fd in fds:
            os.close(fd)
        return {"ok": True, "pid": os.getpid()}, []
    if op != "call":
        return {"status": "grader-error", "message": f"unknown op {op!r}"}, []
    no_sendall = set(request.get("no_sendall", []))
    arg_socks = [
        (faults.NoSendallSocket if i in no_sendall else socket.socket)(fileno=fd)
        for i, fd in enumerate(fds)
    ]
    args = codec.decode(request.get("args", []), arg_socks)
    kwargs = codec.decode(request.get("kwargs", {}), arg_socks)
    func = getattr(module, request["func"], None)
    if not callable(func):
        for s in arg_socks:
            s.close()
        return {"status": "missing", "message": f"the module has no function {request['func']}()"}, []

    # No gc.collect() here: the previous call's garbage was collected after it.
    fds_before = open_fds()
    rss_before = start_peak_rss_kb()
    fault = request.get("faults")
    hosts = request.get("hosts")
    leaks.start()
    started = time.monotonic()
    reply: dict[str, Any] = {}
    try:
        if hosts:
            resolver.install(hosts)
        if fault:
            faults.install(fault["seed"], fault.get("max_recv"), fault.get("max_send"))
        try:
            value = func(*args, **kwargs)
            if request.get("consume"):
                value = consume(value, request.get("consume_limit", 10000), reply)
            reply["status"] = "returned"
        finally:
            if fault:
                faults.uninstall()
            if hosts:
                resolver.uninstall()
    except SystemExit as exc:
        reply["status"] = "raised"
        reply["error"] = {"$exc": {"type": "SystemExit", "mro": ["SystemExit", "BaseException"],
                                   "message": f"your code called sys.exit({exc.code!r})"}}
        value = None
    except BaseException as exc:
        reply["status"] = "raised"
        reply["error"] = {"$exc": codec.describe_exception(exc) | {"traceback": student_traceback(exc, module.__file__)}}
        value = None
        del exc
    elapsed = time.monotonic() - started

    out_socks: list[socket.socket] = []
    reply["value"] = codec.encode(value, out_socks)
    returned_fds = {s.fileno() for s in out_socks}
    del value
    gc.collect()
    unclosed = leaks.stop()
    fds_after = open_fds()
    new_fds = sorted(fds_after - fds_before - returned_fds)
    reply.update(
        elapsed=elapsed,
        leaked=[describe_fd(fd) for fd in new_fds] + unclosed,
        closed_args=[i for i, s in enumerate(arg_socks) if s.fileno() == -1],
        # A timeout lives in the socket object, so the grader's copy cannot see a change to it.
        arg_timeouts=[s.gettimeout() if s.fileno() != -1 else None for s in arg_socks],
        rss_growth_kb=max(0, peak_rss_kb() - rss_before),
    )
    for s in arg_socks:
        s.close()
    return reply, out_socks


def consume(value: Any, limit: int, reply: dict[str, Any]) -> list[Any]:
    """Runs an iterator to its end; an exception part-way is reported after the items."""
    items: list[Any] = []
    try:
        for item in value:
            items.append(item)
            if len(items) >= limit:
                break
    except BaseException as exc:
        reply["error_after_items"] = {"$exc": codec.describe_exception(exc)}
    return items


class LeakWatch:
    """Collects 'unclosed socket' ResourceWarnings: a socket dropped without close()."""

    def __init__(self) -> None:
        self.seen: list[str] | None = None
        warnings.simplefilter("always", ResourceWarning)
        original = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001
            if self.seen is not None and issubclass(category, ResourceWarning):
                text = str(message)
                if "socket" in text or "file" in text:
                    self.seen.append(text)
                return
            return original(message, category, filename, lineno, file, line)

        warnings.showwarning = show

    def start(self) -> None:
        self.seen = []

    def stop(self) -> list[str]:
        seen, self.seen = self.seen or [], None
        return seen


def open_fds() -> set[int]:
    """The open fds; the listing's own directory fd is gone again by the time we check."""
    for where in ("/proc/self/fd", "/dev/fd"):
        try:
            listed = {int(n) for n in os.listdir(where)}
        except OSError:
            continue
        return {fd for fd in listed if _is_open(fd)}
    return set()


def _is_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def describe_fd(fd: int) -> str:
    try:
        s = socket.socket(fileno=os.dup(fd))
    except OSError:
        try:
            return f"fd {fd} ({os.readlink(f'/proc/self/fd/{fd}')})"
        except OSError:
            return f"fd {fd}"
    try:
        try:
            local = s.getsockname()
        except OSError:
            local = None
        try:
            peer = s.getpeername()
        except OSError:
            peer = None
        kind = "listening socket" if _is_listening(s) else "socket"
        return f"a {kind} (fd {fd}, local {local}, peer {peer})"
    finally:
        s.close()


def _is_listening(s: socket.socket) -> bool:
    try:
        return bool(s.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    except (OSError, AttributeError):
        return False


def start_peak_rss_kb() -> int:
    """Resets the peak-RSS mark (Linux) and returns the RSS the call starts from.

    ru_maxrss cannot serve: it survives fork and exec, so a worker starts with the
    grader's own peak. Linux keeps a per-process mark (VmHWM) that writing 5 to
    clear_refs resets to the current RSS; elsewhere ru_maxrss is the best there is.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return _status_kb("VmRSS")
    except OSError:
        return peak_rss_kb()


def peak_rss_kb() -> int:
    try:
        return _status_kb("VmHWM")
    except OSError:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return rss // 1024 if sys.platform == "darwin" else rss


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def student_traceback(exc: BaseException, path: str | None) -> str:
    """The traceback from the student's frames only: the worker's own frames teach nothing."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_HERE)]
    lines = traceback.format_list(frames) + traceback.format_exception_only(type(exc), exc)
    return "".join(lines)[-8000:]


_HERE = os.path.dirname(os.path.abspath(__file__))

if __name__ == "__main__":
    main()
