"""graders.api is what check authors import: pin its names, so a change to them is deliberate."""

import subprocess
import sys

import pytest

import graders.api


def test_the_check_authoring_surface_is_pinned():
    assert sorted(graders.api.__all__) == sorted([
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
        "async_streams", "bind_listen", "concurrency", "connect", "create_socket", "error_handling",
        "file_transfer", "framing", "heartbeat", "send_recv", "tls",
        # notebook set-up cells
        "demo", "wait_for_bytes",
    ])
    assert len(set(graders.api.__all__)) == len(graders.api.__all__)
    for name in graders.api.__all__:
        assert getattr(graders.api, name) is not None


def test_the_notebook_names_are_the_notebooks_own():
    import graders.notebook

    assert graders.api.demo is graders.notebook.demo
    assert graders.api.wait_for_bytes is graders.notebook.wait_for_bytes


def test_importing_the_api_does_not_load_the_notebook_machinery():
    # Grading imports graders.api in every check file; demo and wait_for_bytes come only when asked for.
    code = "import sys, graders.api; print(sorted(m for m in sys.modules if m.startswith('graders.notebook')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_a_name_the_api_lacks_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        graders.api.no_such_name  # noqa: B018
