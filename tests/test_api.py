"""graders.api is what check authors import: pin its names, so a change to them is deliberate."""

import graders.api


def test_the_check_authoring_surface_is_pinned():
    assert sorted(graders.api.__all__) == sorted([
        "AwaitRead", "MAX_FRAME", "CallTimedOut", "Close", "CodeError", "Failure", "NotImplementedYet", "Pause", "Recv",
        "RecvAll", "RecvLine", "Reset", "Send", "ShutWr", "Stall", "check", "decode_frames",
        "describe_difference", "dribble", "encode_file_header", "encode_frame", "file_message", "show_bytes",
        "unread_bytes",
    ])
    for name in graders.api.__all__:
        assert getattr(graders.api, name) is not None
