"""Tagged JSON: the only format values take between the grader and a worker.

Rule: nothing the worker sends is ever unpickled or evaluated. Every value is plain JSON
or one of the tagged forms below, and decoding builds only these known types, so a
hostile submission can at worst send wrong data, never run code inside the grader.

    bytes        {"$bytes": "<base64>"}
    tuple        {"$tuple": [...]}
    pathlib.Path {"$path": "..."}
    socket       {"$sock": i, "timeout": t}   i indexes the fds sent beside the message; the
                 timeout travels too, as it lives in the socket object, not in the kernel
    exception    {"$exc": {"type", "mro", "message", "traceback", "errno", "verify_code", "reason"}}
    SSLContext   {"$tls_context": {...}} (decoded as a ContextView: graders.engine.tls_view)
    other        {"$repr": "...", "type": "..."} (decoded as an Opaque, for messages only)
    dict         plain when every key is a str, else {"$dict": [[k, v], ...]}
"""

from __future__ import annotations

import base64
import pathlib
import socket
import traceback
from dataclasses import dataclass, field
from typing import Any

from graders.engine import tls_view

# Why: a repr is only ever shown to a person; 2 KiB is plenty to recognise a value.
MAX_REPR = 2048


@dataclass(frozen=True)
class Opaque:
    """A value of a type the codec does not carry, known only by its repr."""

    type: str
    repr: str

    def __str__(self) -> str:  # as a message shows it: "a socket that was already closed (a closed socket)"
        return f"{self.repr} (a {self.type})"


@dataclass
class RemoteError:
    """An exception raised by student code, as data: its class names and its message."""

    type: str
    class_names: list[str]
    message: str
    traceback: str = ""
    errno: int | None = None
    verify_code: int | None = None  # an ssl.SSLCertVerificationError's (20: unable to get local issuer)
    reason: str = ""  # an ssl.SSLError's reason ("WRONG_VERSION_NUMBER", "TLSV1_ALERT_UNKNOWN_CA")

    def is_a(self, *classes: type[BaseException] | str) -> bool:
        """True when the student's exception is (a subclass of) one of `classes`, by name."""
        names = {c if isinstance(c, str) else c.__name__ for c in classes}
        # socket.timeout is TimeoutError since 3.10; student code may name either.
        if "timeout" in self.class_names:
            names.discard("timeout")
        return bool(names & set(self.class_names))

    def __str__(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type


@dataclass
class Encoded:
    """A message ready to send: JSON-able data plus the sockets it refers to, in order."""

    data: Any
    socks: list[socket.socket] = field(default_factory=list)


def encode(value: Any, socks: list[socket.socket] | None = None) -> Any:
    """Turns `value` into JSON-able data; sockets are appended to `socks` and tagged by index."""
    if socks is None:
        socks = []
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, tuple):
        return {"$tuple": [encode(v, socks) for v in value]}
    if isinstance(value, list):
        return [encode(v, socks) for v in value]
    if isinstance(value, dict):
        if all(isinstance(k, str) for k in value) and not any(k.startswith("$") for k in value):
            return {k: encode(v, socks) for k, v in value.items()}
        return {"$dict": [[encode(k, socks), encode(v, socks)] for k, v in value.items()]}
    if isinstance(value, pathlib.PurePath):
        return {"$path": str(value)}
    if isinstance(value, socket.socket):
        if value.fileno() == -1:  # closed by the student before returning it: no fd to pass
            return {"$repr": "a socket that was already closed", "type": "closed socket"}
        socks.append(value)
        return {"$sock": len(socks) - 1, "timeout": value.gettimeout()}
    if isinstance(value, BaseException):
        return {"$exc": describe_exception(value)}
    if tls_view.is_context(value):
        return {"$tls_context": tls_view.describe(value)}
    return {"$repr": safe_repr(value), "type": type(value).__name__}


def decode(data: Any, socks: list[Any] | None = None) -> Any:
    """The inverse of `encode`; `socks` holds what each {"$sock": i} should become."""
    if isinstance(data, list):
        return [decode(v, socks) for v in data]
    if not isinstance(data, dict):
        return data
    if len(data) == 1 or (len(data) == 2 and ("$repr" in data or "$sock" in data)):
        if "$bytes" in data:
            return base64.b64decode(data["$bytes"])
        if "$tuple" in data:
            return tuple(decode(v, socks) for v in data["$tuple"])
        if "$path" in data:
            return pathlib.Path(data["$path"])
        if "$sock" in data:
            index = data["$sock"]
            if socks is None or not isinstance(index, int) or not 0 <= index < len(socks):
                raise ValueError(f"message names socket {index!r} but carried {len(socks or [])}")
            sock = socks[index]
            timeout = data.get("timeout")
            if isinstance(sock, socket.socket) and (timeout is None or isinstance(timeout, (int, float))):
                sock.settimeout(timeout)
            return sock
        if "$exc" in data:
            e = data["$exc"]
            return RemoteError(
                type=str(e.get("type", "Exception")),
                class_names=[str(n) for n in e.get("mro", [])],
                message=str(e.get("message", "")),
                traceback=str(e.get("traceback", "")),
                errno=e.get("errno") if isinstance(e.get("errno"), int) else None,
                verify_code=e.get("verify_code") if isinstance(e.get("verify_code"), int) else None,
                reason=str(e.get("reason") or ""),
            )
        if "$tls_context" in data:
            return tls_view.view(data["$tls_context"])
        if "$dict" in data:
            return {_hashable(decode(k, socks)): decode(v, socks) for k, v in data["$dict"]}
        if "$repr" in data:
            return Opaque(type=str(data.get("type", "?")), repr=str(data["$repr"]))
    return {k: decode(v, socks) for k, v in data.items()}


def describe_exception(exc: BaseException) -> dict[str, Any]:
    """An exception as data: class names (for isinstance by name), message, traceback text."""
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return {
        "type": type(exc).__name__,
        "mro": [c.__name__ for c in type(exc).__mro__],
        "message": safe_str(exc),
        "traceback": tb[-8000:],
        "errno": getattr(exc, "errno", None) if isinstance(getattr(exc, "errno", None), int) else None,
        "verify_code": _attribute(exc, "verify_code", int),
        "reason": _attribute(exc, "reason", str),
    }


def _attribute(exc: BaseException, name: str, kind: type) -> Any:
    """An attribute the ssl module's errors carry, when it has the type it should (else None)."""
    try:
        value = getattr(exc, name, None)
    except Exception:  # a student's exception class may make attribute access raise
        return None
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def safe_repr(value: Any) -> str:
    try:
        text = repr(value)
    except Exception as exc:  # a student's __repr__ may raise anything
        text = f"<unprintable {type(value).__name__}: {type(exc).__name__}>"
    return text if len(text) <= MAX_REPR else text[:MAX_REPR] + "…"


def safe_str(value: Any) -> str:
    try:
        text = str(value)
    except Exception:
        text = safe_repr(value)
    return text if len(text) <= MAX_REPR else text[:MAX_REPR] + "…"


def _hashable(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
