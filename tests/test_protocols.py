"""The course's wire formats, in memory."""

import hashlib

from graders.checking import protocols as p


def test_frames_round_trip_and_partial_frames_wait():
    data = p.encode_frame(b"one") + p.encode_frame(b"") + p.encode_frame(b"three")
    assert p.encode_frame(b"abc") == b"\x00\x00\x00\x03abc"
    frames, rest = p.decode_frames(data + b"\x00\x00")
    assert frames == [b"one", b"", b"three"] and rest == b"\x00\x00"


def test_file_header_round_trips_byte_for_byte():
    content = b"\x00\n binary"
    message = p.file_message("résumé.txt", content)
    header, body = p.parse_upload(message)
    assert header.name == "résumé.txt" and header.size == len(content)
    assert header.digest == hashlib.sha256(content).digest() and body == content
    assert p.parse_upload(message[:-1]) is None
    assert p.parse_file_header(message[:5]) is None


def test_split_lines_keeps_the_unterminated_rest():
    assert p.split_lines(b"a\nb\nc") == ([b"a", b"b"], b"c")
