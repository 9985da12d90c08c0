"""Stages 05–07: a failure names the student's real mistake, and a README rule's common violation
is caught before hand-in.

- Hints follow the diagnosis: a check that can tell what it saw (bytes missing after short
  sends, a resend, a header read once, a line stripped, an exception that took a server down …)
  gives the hint for that, not its general one. Graded the way a user would, on corpus modules.
- Green locally means green when graded, but for depth: every buggy corpus module of these
  stages fails at least one PUBLIC check, unless its docstring says it is "A matter of depth"
  (IPv6, more split points), which only the hidden checks add.
"""

from __future__ import annotations

import pytest

from graders.api import error_handling, file_transfer, framing
from graders.stages import all_stages
from tests.corpus import diagnosis_problem, graded_bugs, green_locally

pytestmark = pytest.mark.timeout(1200)

STAGES = {s.id: s for s in all_stages() if s.id in ("05_framing", "06_file_transfer", "07_error_handling")}

# (stage, corpus module, check, the hint it must give). The hint is the diagnosis-specific one,
# never the check's general hint.
DIAGNOSED = [
    ("05_framing", "bug_send_once", "send_frame_sends_whole_frame_under_short_sends", framing.SHORT_SEND_HINT),
    ("05_framing", "bug_send_resends_from_start", "send_frame_sends_whole_frame_under_short_sends",
     framing.RESEND_HINT),
    ("05_framing", "bug_header_one_recv", "recv_frame_collects_dribbled_frame", framing.SPLIT_HEADER_HINT),
    ("05_framing", "bug_little_endian", "recv_frame_reads_reference_frame", framing.BYTE_ORDER_HINT),
    ("05_framing", "bug_empty_frame_is_eof", "recv_frame_returns_empty_payload", framing.EMPTY_FRAME_HINT),
    ("05_framing", "bug_clean_eof_returns_empty", "recv_frame_returns_none_at_clean_eof", framing.CLEAN_EOF_HINT),
    ("05_framing", "bug_single_recv_payload", "recv_frame_collects_dribbled_frame", framing.SHORT_PAYLOAD_HINT),
    ("05_framing", "bug_strips_lines", "read_lines_yields_glued_lines", framing.CARRIAGE_RETURN_HINT),
    ("05_framing", "bug_lines_per_recv", "read_lines_joins_dribbled_line", framing.SPLIT_LINES_HINT),
    ("05_framing", "bug_decode_each_chunk", "read_lines_decodes_split_characters", framing.CHUNK_DECODE_HINT),
    ("05_framing", "bug_timeout_returns_none", "recv_frame_lets_a_socket_timeout_through", framing.TIMEOUT_HINT),
    ("06_file_transfer", "bug_send_ignores_count", "send_file_with_short_sends", file_transfer.SHORT_SEND_HINT),
    ("06_file_transfer", "bug_name_length_in_characters", "send_file_sends_header_and_content",
     file_transfer.NAME_BYTES_HINT),
    ("06_file_transfer", "bug_answer_eof_spins", "send_file_raises_unless_ok", file_transfer.EOF_ANSWER_HINT),
    ("06_file_transfer", "bug_header_one_recv", "receives_a_dribbled_header", file_transfer.SPLIT_FIELD_HINT),
    ("07_error_handling", "bug_serve_dies_on_idle", "serve_lines_drops_an_idle_client",
     error_handling.SURVIVE_TIMEOUT_HINT),
    ("07_error_handling", "bug_serve_dies_on_reset", "serve_lines_survives_a_reset", error_handling.SURVIVE_RESET_HINT),
    ("07_error_handling", "bug_serve_dies_on_bad_utf8", "serve_lines_survives_invalid_utf8",
     error_handling.SURVIVE_UTF8_HINT),
    ("07_error_handling", "bug_serve_timeout_on_listener", "serve_lines_waits_for_a_slow_next_client",
     error_handling.LISTENER_TIMEOUT_HINT),
    ("07_error_handling", "bug_request_returns_whole_buffer", "request_returns_the_reply_line",
     error_handling.FIRST_LINE_HINT),
    ("07_error_handling", "bug_request_decodes_each_chunk", "request_returns_the_reply_line",
     error_handling.WHOLE_LINE_DECODE_HINT),
    ("07_error_handling", "bug_request_ipv4_only", "request_over_ipv6_with_a_glued_multibyte_reply",
     error_handling.IPV6_HINT),
]


@pytest.fixture(scope="session")
def graded(corpus_dir: str) -> dict[tuple[str, str], dict]:
    """Every bug_* corpus module of stages 05–07, graded (hidden checks included): (stage, stem) -> stage result."""
    return graded_bugs(corpus_dir, STAGES)


@pytest.mark.parametrize("stage_id,module,check,hint", DIAGNOSED, ids=lambda v: v if isinstance(v, str) and
                         v.startswith(("bug_", "0")) else "")
def test_a_failure_gets_the_hint_of_what_the_check_saw(graded, stage_id, module, check, hint):
    problem = diagnosis_problem(graded, stage_id, module, check, hint)
    assert problem is None, problem


def test_the_ignored_send_count_is_caught_by_a_public_check_with_the_send_hint(graded):
    # The issue's example: send_file ignoring send()'s count was caught only when graded.
    checks = {c["id"].split(".", 1)[1]: c for c in graded[("06_file_transfer", "bug_send_ignores_count")]["checks"]}
    caught = [c for c in checks.values() if c["status"] in ("failed", "timeout") and not c["hidden"]]
    assert [c["id"] for c in caught] == ["06_file_transfer.send_file_with_short_sends"]
    assert "send() took only part of what it was given" in caught[0]["hint"]


@pytest.mark.parametrize("stage_id", list(STAGES))
def test_every_bug_fails_a_public_check_unless_it_is_a_matter_of_depth(graded, stage_id):
    green = green_locally(graded, stage_id)
    assert not green, f"caught by hidden checks only (tcplab check shows them green): {green}"
