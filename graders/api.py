"""What check authors use: the whole surface a check file (and a notebook set-up cell) imports.

    from graders.api import check, Failure, Send, Recv, RecvAll, ShutWr, Close, Reset, dribble
    from graders.api import framing as shared   # what stage 05's public and hidden checks share

A check is `def test_x(lab): "title"` decorated with @check; `lab` is a Lab. Check files
(exercises/*/test_*.py, graders/hidden/**) import from graders only this module:
- the check decorator and the failures a check raises;
- the reference peers' script actions, and helpers on live sockets;
- the course's wire formats and the transcript's ways of showing bytes;
- helpers that checks of several stages use (graders/checking/helpers.py);
- one module per stage, named by its slug, holding what that stage's public and hidden
  checks share (graders/checking/stage_helpers/).

`demo` and `wait_for_bytes`, for notebook set-up cells, come from graders.notebook and are
imported only when first asked for: grading never loads the notebook machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from graders.checking.declare import CallTimedOut, CodeError, Failure, NotImplementedYet, check
from graders.checking.helpers import (
    DEADLINE,
    HANG_DEADLINE,
    close_sockets,
    explain_hang,
    half_close,
    peer_of,
    serving,
    shown_traceback,
    socket_kind,
    wait_until,
)
from graders.checking.lab import Lab
from graders.checking.peers import (
    AwaitRead,
    Close,
    Pause,
    Recv,
    RecvAll,
    RecvLine,
    Reset,
    Send,
    ShutWr,
    Stall,
    connected_pair,
    dribble,
    unread_at_other_end,
    unread_bytes,
)
from graders.checking.protocols import (
    MAX_FRAME,
    decode_frames,
    encode_file_header,
    encode_frame,
    file_message,
)
from graders.checking.stage_helpers import (
    async_streams,
    bind_listen,
    concurrency,
    connect,
    create_socket,
    error_handling,
    file_transfer,
    framing,
    heartbeat,
    send_recv,
    tls,
)
from graders.checking.transcript import describe_difference, show_bytes
from graders.engine.calls import CallResult

if TYPE_CHECKING:  # for readers and type checkers; at run time __getattr__ below loads them
    from graders.notebook import demo, wait_for_bytes

# Loaded on first use (see the module docstring): name -> the module that defines it.
_LAZY = {"demo": "graders.notebook", "wait_for_bytes": "graders.notebook"}

__all__ = [
    # declaring checks, and what they raise
    "CallResult", "CallTimedOut", "CodeError", "Failure", "Lab", "NotImplementedYet", "check",
    # the reference peers' script actions
    "AwaitRead", "Close", "Pause", "Recv", "RecvAll", "RecvLine", "Reset", "Send", "ShutWr", "Stall", "dribble",
    # live sockets
    "connected_pair", "unread_at_other_end", "unread_bytes",
    # wire formats and showing bytes
    "MAX_FRAME", "decode_frames", "describe_difference", "encode_file_header", "encode_frame", "file_message",
    "show_bytes",
    # helpers for checks of any stage
    "DEADLINE", "HANG_DEADLINE", "close_sockets", "explain_hang", "half_close", "peer_of", "serving",
    "shown_traceback", "socket_kind", "wait_until",
    # what each stage's public and hidden checks share
    "async_streams", "bind_listen", "concurrency", "connect", "create_socket", "error_handling", "file_transfer",
    "framing", "heartbeat", "send_recv", "tls",
    # notebook set-up cells (loaded lazily)
    "demo", "wait_for_bytes",
]


def __getattr__(name: str) -> Any:
    """`demo` and `wait_for_bytes` on first use; anything else is not here."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # once loaded, a plain attribute
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
