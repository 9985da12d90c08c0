"""The worker: a process that imports one student module and runs calls into it.

Started by graders.engine.subject with one end of a Unix socket pair. It applies its limits,
imports the student module once, says how that went, then serves one call at a time:
decode the arguments (sockets arrive as fds), run the function, report what it returned
or raised and how long it took, then hold everything the call touched until the grader
has looked at this process from outside (graders/engine/worker_view.py: open fds, closed
arguments, memory, CPU time — nothing student code here could rewrite) and says
"release". It imports only the standard library and the codec, so it starts fast and
student code cannot reach the grader's state.

Started as `python -S -c` with the engine's folder on PYTHONPATH and the student's
folder put at the END of sys.path: a scratch `socket.py` or `json.py` beside the
student's module never stands in for the standard library or the engine.
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

from graders.engine import (
    call_environment,
    codec,
    coroutines,
    faults,
    resolver,
    socket_names,
    threads_left,
    wire,
)

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
        try:
            call = serve(module, request, fds, leaks)
        except Exception as exc:  # the worker's own fault, never the student's: the grader is told so
            call = Served({"status": "grader-error",
                           "message": f"the grader's worker failed: {type(exc).__name__}: {exc}\n"
                                      + "".join(traceback.format_exc(limit=-8))})
        try:
            send_reply(chan, call)
            if request.get("op") == "call":
                # The grader reads this process's fds and memory from /proc now; only then
                # may the call's sockets and what it returned or raised be let go.
                _, more = wire.recv_message(chan)
                for fd in more:
                    os.close(fd)
                call.release()
                wire.send_message(chan, {"released": True})
        except (wire.WireClosed, OSError):
            return


_MODULE: dict[str, Any] = {}


def send_reply(chan: socket.socket, call: Served) -> None:
    """Sends a call's reply with its sockets; a value the kernel will not pass (too many fds,
    say) still reaches the grader, as a value that says so, instead of ending the worker."""
    try:
        wire.send_message(chan, call.reply, [s.fileno() for s in call.out_socks])
    except wire.WireClosed:
        raise
    except OSError as exc:
        if not call.out_socks:
            raise
        call.reply["value"] = {"$repr": f"a value whose {len(call.out_socks)} socket(s) could not be passed "
                                        f"back ({os.strerror(exc.errno or 0)})", "type": "unsendable value"}
        call.out_socks = []
        wire.send_message(chan, call.reply, [])


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
    folder = os.path.dirname(path)
    # Last, not first: the student's other modules are importable, but a scratch socket.py
    # or struct.py beside theirs never replaces Python's own (nor the engine's) modules.
    sys.path.append(folder)
    _NOTES[:] = shadow_notes(folder, path)
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
            "message": f"importing the module raised {type(exc).__name__}: {codec.safe_str(exc)}"
            + "".join(f"\n{note}" for note in _NOTES),
            "traceback": student_traceback(exc, path),
        }
    _MODULE["module"] = module
    return {"import": "ok", "seconds": time.monotonic() - started, "functions": public_names(module)}


_NOTES: list[str] = []  # what a failure of the student's code should also say


def shadow_notes(folder: str, path: str) -> list[str]:
    """Files beside the module named like a standard or engine module that the module imports.

    Python itself would import those files in place of the real modules (the script's
    folder comes first on sys.path); here the real ones win, and a student whose module
    meant to import their own file is told why it is not theirs.
    """
    try:
        entries = os.listdir(folder)
    except OSError:
        return []
    mine = os.path.basename(path)
    local = {e[:-3] for e in entries if e.endswith(".py") and e != mine}
    local |= {e for e in entries if os.path.isfile(os.path.join(folder, e, "__init__.py"))}
    taken = set(getattr(sys, "stdlib_module_names", ())) | set(sys.builtin_module_names) | {"graders"}
    shadowing = local & taken
    if not shadowing:
        return []
    try:
        import ast

        with open(path, "rb") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError, ValueError):
        return []
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            imported.add(node.module.split(".")[0])
    return [f"note: your folder holds {name}.py, which has the name of Python's own {name} module; "
            f"`import {name}` gives Python's module, not your file. Rename your file (say my_{name}.py)."
            for name in sorted(shadowing & imported)]


def public_names(module: Any) -> list[str]:
    return sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))


class Served:
    """One call's reply, and what must stay alive until the grader has looked at the worker."""

    def __init__(self, reply: dict[str, Any], out_socks: list[socket.socket] | None = None,
                 arg_socks: list[socket.socket] | None = None, held: Any = None) -> None:
        self.reply, self.out_socks, self.arg_socks, self.held = reply, out_socks or [], arg_socks or [], held

    def release(self) -> None:
        for s in self.out_socks + self.arg_socks:
            s.close()
        self.held = None
        gc.collect()  # garbage the call left: gone before the next call's count starts


def serve(module: Any, request: dict[str, Any], fds: list[int], leaks: LeakWatch) -> Served:
    op = request.get("op")
    if op == "ping":
        for fd in fds:
            os.close(fd)
        return Served({"ok": True, "pid": os.getpid()})
    if op != "call":
        for fd in fds:
            os.close(fd)
        return Served({"status": "grader-error", "message": f"unknown op {op!r}"})
    no_sendall = set(request.get("no_sendall", []))
    arg_socks = [
        (faults.NoSendallSocket if i in no_sendall else socket.socket)(fileno=fd)
        for i, fd in enumerate(fds)
    ]
    args = codec.decode(request.get("args", []), arg_socks)
    kwargs = codec.decode(request.get("kwargs", {}), arg_socks)
    func = getattr(module, request["func"], None)
    if not callable(func):
        return Served({"status": "missing", "message": f"the module has no function {request['func']}()"},
                      arg_socks=arg_socks)

    # What the grader cannot see from outside: sockets dropped without close(), which CPython
    # closes as it frees them. Only ever more failures: the fds, closed arguments and memory
    # are read by the grader from /proc (graders/engine/worker_view.py), not reported from here.
    self_measure = bool(request.get("self_measure"))
    fds_before = open_fds() if self_measure else set()
    rss_before = start_peak_rss_kb() if self_measure else 0
    fault = request.get("faults")
    hosts = request.get("hosts")
    leaks.start()
    threads_before = set(threading.enumerate())
    started = time.monotonic()
    reply: dict[str, Any] = {}
    error: BaseException | None = None
    hidden: dict[str, Any] = {}
    awaited = False
    try:
        if hosts:
            resolver.install(hosts)
        hidden = socket_names.hide(request.get("hide") or [])
        environ = call_environment.apply(request.get("environ"))
        if fault:
            faults.install(fault["seed"], fault.get("max_recv"), fault.get("max_send"))
        try:
            value = func(*args, **kwargs)
            if coroutines.is_coroutine(value):  # an `async def` (stage 11): run as the contract says
                awaited = True
                value = coroutines.run(value)
            if request.get("consume"):
                value = consume(value, request.get("consume_limit", 10000), reply)
            reply["status"] = "returned"
        finally:
            if fault:
                faults.uninstall()
            if hosts:
                resolver.uninstall()
            socket_names.restore(hidden)
            call_environment.restore(environ)
    except SystemExit as exc:
        reply["status"] = "raised"
        reply["error"] = {"$exc": {"type": "SystemExit", "mro": ["SystemExit", "BaseException"],
                                   "message": f"your code called sys.exit({exc.code!r})"}}
        value, error = None, exc
    except BaseException as exc:
        reply["status"] = "raised"
        reply["error"] = {"$exc": codec.describe_exception(exc) | {"traceback": student_traceback(exc, module.__file__)}}
        value, error = None, exc
    returned_at = time.monotonic()
    elapsed = returned_at - started
    if awaited:
        # An asyncio transport the student never closed lives on in a reference cycle; freed
        # now, it says "unclosed transport" while the watch still listens.
        gc.collect()

    out_socks: list[socket.socket] = []
    try:
        reply["value"] = codec.encode(value, out_socks)
    except (RecursionError, ValueError, TypeError) as exc:  # nested past any depth a stage returns, say
        out_socks = []
        reply["value"] = {"$repr": f"a value that could not be passed back ({type(exc).__name__})",
                          "type": type(value).__name__}
    # Kept until the grader has looked: a socket held by what the call returned or raised
    # (a traceback's frames) is still open then, as it is for the code that called it.
    held = (value, error)
    del value, error
    reply.update(
        elapsed=elapsed,
        returned_at=returned_at,
        threads_left=threads_left.left_after([t for t in threading.enumerate() if t not in threads_before],
                                          getattr(module, "__file__", None)),
        leaked=leaks.stop(),
        # A timeout lives in the socket object, so the grader's copy cannot see a change to it;
        # the grader holds this against the kernel's blocking flag, which it can see.
        arg_timeouts=[s.gettimeout() if s.fileno() != -1 else None for s in arg_socks],
    )
    if self_measure:  # no /proc for the grader to read (macOS): the worker's own view
        returned_fds = {s.fileno() for s in out_socks}
        new_fds = sorted(open_fds() - fds_before - returned_fds)
        reply["leaked"] = [describe_fd(fd) for fd in new_fds] + reply["leaked"]
        reply["closed_args"] = [i for i, s in enumerate(arg_socks) if s.fileno() == -1]
        reply["rss_growth_kb"] = max(0, peak_rss_kb() - rss_before)
    return Served(reply, out_socks, arg_socks, held)


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
                if any(word in text.lower() for word in ("socket", "file", "transport")):
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
    return ("".join(lines)[-8000:] + "".join(f"{note}\n" for note in _NOTES))


# The whole graders package: no frame of the engine, peers or checks is the student's.
_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep

if __name__ == "__main__":
    main()
