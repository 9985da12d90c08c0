"""What check authors use: the check decorator, failures, and the peers' script actions.

    from graders.api import check, Failure, Send, Recv, RecvAll, ShutWr, Close, Reset, dribble

A check is `def test_x(lab): "title"` decorated with @check; `lab` is a graders.checking.lab.Lab.
"""

from graders.checking.declare import CallTimedOut, CodeError, Failure, NotImplementedYet, check
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
    dribble,
    unread_bytes,
)
from graders.checking.protocols import (
    MAX_FRAME,
    decode_frames,
    encode_file_header,
    encode_frame,
    file_message,
)
from graders.checking.transcript import describe_difference, show_bytes

__all__ = [
    "AwaitRead", "MAX_FRAME", "CallTimedOut", "Close", "CodeError", "Failure", "NotImplementedYet", "Pause", "Recv",
    "RecvAll", "RecvLine", "Reset", "Send", "ShutWr", "Stall", "check", "decode_frames",
    "describe_difference", "dribble", "encode_file_header", "encode_frame", "file_message", "show_bytes",
    "unread_bytes",
]
