"""What check authors use: the check decorator, failures, and the peers' script actions.

    from graders.api import check, Failure, Send, Recv, RecvAll, ShutWr, Close, Reset, dribble

A check is `def test_x(lab): "title"` decorated with @check; `lab` is a graders.lab.Lab.
"""

from graders.checks import CallTimedOut, CodeError, Failure, NotImplementedYet, check
from graders.peers import (
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
)
from graders.protocols import encode_frame, file_message
from graders.transcript import describe_difference, show_bytes

__all__ = [
    "CallTimedOut", "Close", "CodeError", "Failure", "NotImplementedYet", "Pause", "Recv", "RecvAll",
    "RecvLine", "Reset", "Send", "ShutWr", "Stall", "check", "describe_difference", "dribble",
    "encode_frame", "file_message", "show_bytes",
]
