"""Coroutine functions as the contract runs them: a call that returns a coroutine is run with asyncio.run().

Stage 11's functions are `async def`. Calling one only makes a coroutine object; the worker
and the notebook subject hand that object here, so that a check calls an async function the
way it calls any other and gets what the coroutine returned or raised. Each call gets an event
loop of its own (asyncio.run makes it and closes it, its default executor joined), in the
thread that made the call: in a notebook that is a thread of the grader's, never Jupyter's
own loop, which is already running. asyncio is imported only when a coroutine comes, so no
other stage pays for it. Standard library only: the worker imports it.
"""

from __future__ import annotations

import types
from typing import Any


def is_coroutine(value: Any) -> bool:
    return isinstance(value, types.CoroutineType)


def run(coroutine: types.CoroutineType) -> Any:
    """What the coroutine returns; what it raises propagates, as it does from asyncio.run()."""
    import asyncio

    return asyncio.run(coroutine)
