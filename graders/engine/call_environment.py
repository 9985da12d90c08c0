"""Environment variables for one call: set while the student's code runs, then put back.

Stage 10's client must trust the CAs of its `cafile` and no other store. OpenSSL finds the
system's store through SSL_CERT_FILE and SSL_CERT_DIR, read when a context loads its defaults;
a check points them at a CA of its own while the call runs, so that a context that loads the
defaults as well shows it, on every machine alike. Standard library only: the worker imports it.
"""

from __future__ import annotations

import os

_UNSET = None


def apply(environ: dict[str, str] | None) -> dict[str, str | None]:
    """Sets each variable of `environ`; returns what each was before (None: it was not set)."""
    before: dict[str, str | None] = {}
    for name, value in (environ or {}).items():
        if isinstance(name, str) and isinstance(value, str):
            before[name] = os.environ.get(name, _UNSET)
            os.environ[name] = value
    return before


def restore(before: dict[str, str | None]) -> None:
    for name, value in before.items():
        if value is _UNSET:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
