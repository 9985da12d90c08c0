"""Constants a platform lacks, for one call: names removed from the socket module while it runs.

Stage 09's enable_keepalive must work where socket.TCP_KEEPIDLE does not exist (macOS calls it
TCP_KEEPALIVE; some systems have neither). A check runs one call with such names taken out of
the student's `socket` module, and puts them back when the call ends. Only constants (names in
capitals) can be hidden: the module's functions and classes stay. Standard library only: the
worker imports it.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from typing import Any


def hide(names: Iterable[str]) -> dict[str, Any]:
    """Removes each constant in `names` that the socket module has; returns what was removed."""
    removed = {n: getattr(socket, n) for n in names if n.isupper() and hasattr(socket, n)}
    for name in removed:
        delattr(socket, name)
    return removed


def restore(removed: dict[str, Any]) -> None:
    for name, value in removed.items():
        setattr(socket, name, value)
