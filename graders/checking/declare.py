"""What a check is: a function with a docstring, points, a hint, and perhaps a dependency.

    @check(points=2, hint="TCP is a byte stream: loop until you have n bytes.")
    def test_recv_exactly_collects_dribbled_bytes(lab):
        \"\"\"recv_exactly(sock, 10) collects bytes that dribble in one at a time\"\"\"

The docstring is the title a student sees. A check fails by raising `Failure` (or one of
its kinds); anything else it raises is a fault of the grader, reported apart as "error".
Checks live in `exercises/NN_slug/test_*.py` (public) and `graders/hidden/NN_slug/` (hidden);
the stage and the visibility come from where the file is, never from the check itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Why 60 s: the backstop behind each call's own deadline; only a grader bug reaches it.
DEFAULT_BACKSTOP = 60.0


@dataclass(frozen=True)
class CheckSpec:
    name: str
    title: str
    points: float
    hint: str
    depends: tuple[str, ...] = ()
    backstop: float = DEFAULT_BACKSTOP


def check(points: float = 1.0, *, hint: str, depends: str | tuple[str, ...] = (),
          backstop: float = DEFAULT_BACKSTOP) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declares a check; `depends` names checks of the same stage that must pass first."""

    def declare(func: Callable[..., Any]) -> Callable[..., Any]:
        name = func.__name__.removeprefix("test_")
        doc = (func.__doc__ or "").strip()
        if not doc:
            raise TypeError(f"check {name} needs a docstring: it is the title students see")
        needs = (depends,) if isinstance(depends, str) else tuple(depends)
        func.tcplab_check = CheckSpec(  # type: ignore[attr-defined]
            name=name,
            title=doc.splitlines()[0].strip(),
            points=float(points),
            hint=hint,
            depends=tuple(d.removeprefix("test_") for d in needs),
            backstop=backstop,
        )
        return func

    return declare


def spec_of(func: Any) -> CheckSpec | None:
    return getattr(func, "tcplab_check", None)


class Failure(AssertionError):
    """The student's code did not do what the stage asks. Shown with the check's hint."""

    status = "failed"

    def __init__(self, message: str, *, expected: Any = None, actual: Any = None,
                 hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.actual = actual
        self.hint = hint

    def details(self) -> str:
        parts = [self.message]
        if self.expected is not None:
            parts.append(f"expected: {self.expected}")
        if self.actual is not None:
            parts.append(f"got:      {self.actual}")
        return "\n".join(parts)


class NotImplementedYet(Failure):
    """The stub is still there: the function raises NotImplementedError."""


class CallTimedOut(Failure):
    """The student's function did not return within its deadline."""

    status = "timeout"


class CodeError(Failure):
    """The student's module cannot be imported, or the worker died running it."""

    status = "error"
