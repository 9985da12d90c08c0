"""Reading submissions for `tcplab grade`: links, damaged archives, odd names, sizes, duplicates.

Each case names the protection it relies on (graders/grading/submission.py, graders/batch/intake.py).
End-to-end cases run `python -m graders.cli grade` as an instructor types it, at stage 01
only (its checks are quick), with TMPDIR set to a folder of the test's own: what the
grader leaves behind (a /tmp/tcplab-zip-*, a /tmp/tcplab-batch-*) is then in plain sight.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sqlite3
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from graders.batch.intake import Job, expand, is_one_submission, prepare
from graders.grading import submission as sub
from graders.grading.submission import (
    MAX_UNPACKED,
    Budget,
    SubmissionError,
    find_root,
    open_submission,
    stream,
    walk_without_links,
)
from graders.stages import COURSE_ROOT, SOLUTIONS, all_stages
from tests.corpus import EXERCISES

STAGE = all_stages()[0]
SOLUTION = (SOLUTIONS / STAGE.id / STAGE.filename).read_text()
STUB = (EXERCISES / STAGE.id / STAGE.filename).read_text()
LINK_NOTE = "is a symbolic link; tcplab follows no link in a submission"


def grade(*paths: Path, tmpdir: Path, gradebook: Path | None = None, fmt: str = "json",
          timeout: float = 300) -> tuple[subprocess.CompletedProcess, dict]:
    """`tcplab grade PATHS --stage 01_create_socket`, its temp folder under the test's control."""
    tmpdir.mkdir(exist_ok=True)
    book = ["--gradebook", str(gradebook)] if gradebook else ["--no-gradebook"]
    done = subprocess.run([sys.executable, "-m", "graders.cli", "grade", *map(os.fsencode, paths), "--stage", STAGE.id,
                           "--jobs", "2", "--format", fmt, *book], capture_output=True, cwd=COURSE_ROOT,
                          timeout=timeout, env={**os.environ, "TMPDIR": str(tmpdir)})
    out, err = done.stdout.decode("utf-8"), done.stderr.decode("utf-8")  # strict: the output is valid UTF-8
    assert "Traceback" not in err, err
    result = subprocess.CompletedProcess(done.args, done.returncode, out, err)
    subs = {s["student"]: s for s in json.loads(out)["submissions"]} if fmt == "json" and out.strip() else {}
    return result, subs


def leftovers(tmpdir: Path) -> list[Path]:
    """The grader's private folders left in its temp folder (the uid lease's lock folder stays by design)."""
    return sorted(p for pattern in ("tcplab-batch-*", "tcplab-zip-*") for p in tmpdir.glob(pattern))


def student(folder: Path, source: str = SOLUTION) -> Path:
    (folder / STAGE.id).mkdir(parents=True)
    (folder / STAGE.id / STAGE.filename).write_text(source)
    return folder


def only_stage(result: dict) -> dict:
    [stage] = result["stages"]
    assert stage["stage"] == STAGE.id
    return stage


# -- 1. links -------------------------------------------------------------------------------------------
def test_no_link_in_a_submission_is_followed_and_each_is_graded_0_beside_an_honest_student(tmp_path):
    """Protection: submission.walk_without_links / kind_of (lstat, never stat) in find_root,
    is_one_submission and intake.copy_stages; zip link members left dangling (unpack_zip).

    Each link points at the course's real solutions: followed, it would score full marks.
    """
    klass = tmp_path / "class"
    student(klass / "honest")
    (klass / "absolute").mkdir(parents=True)
    (klass / "absolute" / "exercises").symlink_to(SOLUTIONS)
    (klass / "relative").mkdir()
    (klass / "relative" / "exercises").symlink_to(os.path.relpath(SOLUTIONS, klass / "relative"))
    (klass / "stage-folder").mkdir()
    (klass / "stage-folder" / STAGE.id).symlink_to(SOLUTIONS / STAGE.id)
    (klass / "one-file" / STAGE.id).mkdir(parents=True)
    (klass / "one-file" / STAGE.id / STAGE.filename).symlink_to(SOLUTIONS / STAGE.id / STAGE.filename)
    (klass / "sub-folder").mkdir()
    (klass / "sub-folder" / "work").symlink_to(SOLUTIONS)  # the single sub-folder find_root descends into
    with zipfile.ZipFile(klass / "zipped.zip", "w") as zf:
        link = zipfile.ZipInfo("zipped/exercises")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, str(SOLUTIONS))
    given = tmp_path / "given-as-a-link"  # the argument itself
    given.symlink_to(SOLUTIONS)
    for name in ("absolute", "relative", "sub-folder"):  # each link is a real way to the solutions
        target = next(p for p in (klass / name).iterdir())
        assert os.path.samefile(target, SOLUTIONS)

    done, subs = grade(klass, given, tmpdir=tmp_path / "tmp")
    assert done.returncode == 0, done.stderr
    full = subs["honest"]["max_score"]
    assert subs["honest"]["score"] == full > 0
    expected = {"absolute": "exercises", "relative": "exercises", "sub-folder": "work",
                "zipped": "zipped/exercises", "stage-folder": STAGE.id,
                "one-file": f"{STAGE.id}/{STAGE.filename}", "given-as-a-link": "given-as-a-link"}
    for name, link_name in expected.items():
        result = subs[name]
        stage = only_stage(result)
        said = result.get("problem", "") + stage.get("problem", "")
        assert (result["score"], result["max_score"]) == (0, full), name  # 0 of the stage's points, not 0 of 0
        assert stage["status"] == "missing", name
        assert f"{link_name} {LINK_NOTE}" in said, (name, said)
    assert not leftovers(tmp_path / "tmp")


def test_walking_a_submission_yields_links_as_links_and_never_enters_them(tmp_path):
    """Protection: submission.walk_without_links, the walker Gradescope's gathering reuses."""
    top = student(tmp_path / "alice")
    (top / "exercises").symlink_to(SOLUTIONS)
    (top / STAGE.id / "helper.py").symlink_to(SOLUTIONS / STAGE.id / STAGE.filename)
    os.mkfifo(top / STAGE.id / "pipe")
    kinds = {e.rel.as_posix(): e.kind for e in walk_without_links(top)}
    assert kinds == {"exercises": "link", STAGE.id: "dir", f"{STAGE.id}/{STAGE.filename}": "file",
                     f"{STAGE.id}/helper.py": "link", f"{STAGE.id}/pipe": "other"}
    with pytest.raises(SubmissionError, match=LINK_NOTE):
        list(walk_without_links(top / "exercises"))
    assert find_root(top) == top  # the real stage folder, never the link beside it

    linked = tmp_path / "bob"
    linked.mkdir()
    (linked / "exercises").symlink_to(SOLUTIONS)
    assert find_root(linked) == linked  # `tcplab check --path bob` grades nothing of the solutions
    assert is_one_submission(linked)  # a submission (with a link), not a folder of students


# -- 3. damaged archives -------------------------------------------------------------------------------
def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def damaged_archives(folder: Path) -> dict[str, str]:
    """name -> what the problem must say. Each one a way an archive is broken in the wild."""
    good = zip_bytes({f"{STAGE.id}/{STAGE.filename}": SOLUTION.encode() * 20})
    data_at = good.index(STAGE.filename.encode()) + len(STAGE.filename) + 8  # into the deflated bytes
    (folder / "truncated.zip").write_bytes(good[: len(good) // 2])
    (folder / "bad-deflate.zip").write_bytes(good[:data_at] + b"\xff" * 64 + good[data_at + 64:])  # zlib.error
    stored = bytearray(zip_bytes({f"{STAGE.id}/{STAGE.filename}": SOLUTION.encode()}, zipfile.ZIP_STORED))
    body = stored.index(b"def ")
    stored[body] ^= 0xFF  # one flipped byte: a bad CRC
    (folder / "bad-crc.zip").write_bytes(bytes(stored))
    encrypted = bytearray(zip_bytes({f"{STAGE.id}/{STAGE.filename}": SOLUTION.encode()}))
    for header in (b"PK\x03\x04", b"PK\x01\x02"):  # set the "encrypted" flag in both headers
        at = encrypted.index(header) + (6 if header == b"PK\x03\x04" else 8)
        encrypted[at] |= 0x01
    (folder / "encrypted.zip").write_bytes(bytes(encrypted))
    (folder / "bomb.zip").write_bytes(zip_bytes({"zeros.bin": bytes(MAX_UNPACKED + 1)}))
    (folder / "empty.zip").write_bytes(b"")
    return {"truncated": "damaged zip archive", "bad-deflate": "damaged zip archive (zlib.error",
            "bad-crc": "damaged zip archive (zipfile.BadZipFile: Bad CRC-32", "encrypted": "it is encrypted",
            "bomb": "it unpacks to more than 64 MiB", "empty": "damaged zip archive"}


def test_a_damaged_archive_is_that_submissions_error_and_the_batch_goes_on_and_resumes(tmp_path):
    """Protection: submission.unpack_zip turning ZIP_ERRORS (zlib.error included) into
    SubmissionError, its tmp folder removed on any exit, and intake.unreadable_result."""
    klass = tmp_path / "class"
    student(klass / "aaa-honest")
    expected = damaged_archives(klass)
    student(klass / "zzz-honest")
    gb = tmp_path / "gb.db"
    done, subs = grade(klass, tmpdir=tmp_path / "tmp", gradebook=gb)
    assert done.returncode == 0, done.stderr
    full = subs["aaa-honest"]["max_score"]
    assert subs["aaa-honest"]["score"] == subs["zzz-honest"]["score"] == full > 0  # before and after
    for name, why in expected.items():
        problem = subs[name]["problem"]
        assert problem.startswith(f"{klass / name}.zip cannot be unpacked: "), problem
        assert why in problem and "not a zip" not in problem, problem
        assert (subs[name]["score"], subs[name]["max_score"]) == (0, full)  # "0 / 16", never "0 / 0"
    assert not leftovers(tmp_path / "tmp")  # no tcplab-zip-*, no tcplab-batch-* left
    db = sqlite3.connect(gb)
    assert dict(db.execute("SELECT student, max_score FROM submissions")) == {n: full for n in subs}
    db.close()
    again, _ = grade(klass, tmpdir=tmp_path / "tmp", gradebook=gb)  # a run again goes past them
    assert again.returncode == 0, again.stderr
    assert f"0 graded, {len(subs)} already in the gradebook" in " ".join(again.stderr.split())


def test_an_interrupted_unpack_leaves_nothing_behind(tmp_path, monkeypatch):
    """Protection: submission._open_zip removes its folder on any exception, Ctrl-C included."""
    archive = tmp_path / "alice.zip"
    archive.write_bytes(zip_bytes({f"{STAGE.id}/{STAGE.filename}": SOLUTION.encode()}))
    scratch = tmp_path / "scratch"
    scratch.mkdir()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sub, "stream", interrupted)
    with pytest.raises(KeyboardInterrupt):
        open_submission(archive, scratch=scratch)
    assert not list(scratch.iterdir())


# -- 4. names that are not UTF-8 ---------------------------------------------------------------------------
def test_names_that_are_not_utf8_are_graded_stored_and_shown_escaped(tmp_path):
    """Protection: results.safe_text on ids and labels (intake.expand), on every result text
    (intake.present), in the gradebook (Gradebook.record); os.fsencode for the hash."""
    klass = tmp_path / "class"
    latin1 = os.fsdecode(bytes(klass) + b"/caf\xe9")  # a folder name in Latin-1, as Linux gives it
    student(Path(latin1))
    (Path(latin1) / STAGE.id / os.fsdecode(b"notes-\xff.txt")).write_text("scratch")
    student(klass / "honest")
    gb = tmp_path / "gb.db"
    done, subs = grade(klass, tmpdir=tmp_path / "tmp", gradebook=gb)
    assert done.returncode == 0, done.stderr
    assert set(subs) == {"caf\\xe9", "honest"}
    assert subs["caf\\xe9"]["score"] == subs["caf\\xe9"]["max_score"] == subs["honest"]["max_score"] > 0
    assert subs["caf\\xe9"]["submission"] == f"{klass}/caf\\xe9"
    text, _ = grade(klass, tmpdir=tmp_path / "tmp", gradebook=gb, fmt="text")  # the table prints too
    assert text.returncode == 0 and "caf\\xe9" in text.stdout
    out = tmp_path / "export"
    out.mkdir()
    exported = subprocess.run([sys.executable, "-m", "graders.cli", "export", "--gradebook", str(gb),
                               "--csv", str(out / "grades.csv"), "--feedback", str(out / "feedback")],
                              capture_output=True, text=True, cwd=COURSE_ROOT, timeout=120)
    assert exported.returncode == 0 and "Traceback" not in exported.stderr, exported.stderr
    with open(out / "grades.csv", encoding="utf-8", newline="") as f:
        assert {r["student"] for r in csv.DictReader(f)} == {"caf\\xe9", "honest"}
    names = sorted(p.name for p in (out / "feedback").iterdir())
    assert names == ["caf_xe9.html", "caf_xe9.md", "honest.html", "honest.md"]
    assert "caf\\\\xe9" in (out / "feedback" / "caf_xe9.md").read_text("utf-8")  # escaped for Markdown too


# -- 9. sizes before reading, copies by streaming --------------------------------------------------------
MEASURE = """
import json, resource, sys, tempfile
from pathlib import Path
from graders.batch.intake import Job, prepare
from graders.stages import all_stages
path = Path(sys.argv[1])
prepared = prepare(Job(0, path.name, str(path), path), [all_stages()[0]], Path(tempfile.mkdtemp()))
print(json.dumps({"problem": prepared.problem, "hash": prepared.content_hash,
                  "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


def prepare_measured(path: Path) -> dict:
    """prepare() in a fresh process, with the peak of its memory."""
    done = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True,
                          cwd=COURSE_ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_huge_sparse_file_is_refused_from_its_size_without_being_read(tmp_path):
    """Protection: intake.copy_stages checks lstat's st_size against Budget before opening,
    and submission.unpack_zip an archive's own size; unreadable_hash never reads past the cap."""
    alice = student(tmp_path / "alice")
    with open(alice / STAGE.id / "data.bin", "wb") as f:
        f.truncate(2**30)  # 1 GiB that takes no disk, and would take 1 GiB of memory if read whole
    bob = tmp_path / "bob.zip"
    with open(bob, "wb") as f:
        f.truncate(2**30)
    baseline = prepare_measured(student(tmp_path / "carol"))
    for path, message in ((alice, "alice holds more than 64 MiB of files"),
                          (bob, "the archive is 1024 MiB, more than the 64 MiB")):
        measured = prepare_measured(path)
        assert message in measured["problem"]
        assert measured["peak_kib"] < baseline["peak_kib"] + 32 * 1024, (measured, baseline)  # nowhere near 1 GiB


def test_the_byte_budget_counts_what_is_written_not_what_a_header_said(tmp_path):
    """Protection: submission.stream spends every chunk against the Budget as it is written."""
    budget = Budget.unpacking("alice.zip")
    budget.expect(10)  # a header claiming 10 bytes passes...
    src, dst = io.BytesIO(bytes(MAX_UNPACKED + 1)), io.BytesIO()
    with pytest.raises(SubmissionError, match="alice.zip cannot be unpacked: it unpacks to more than 64 MiB"):
        stream(src, dst, budget)  # ...the bytes that really come do not
    assert len(dst.getvalue()) <= MAX_UNPACKED


def test_the_hash_is_taken_while_streaming_and_covers_names_and_bytes(tmp_path):
    """Protection: intake.copy_stages hashes each file as it streams (no second read)."""
    alice = student(tmp_path / "alice")
    first = prepare(Job(0, "alice", "alice", alice), [STAGE], tmp_path)
    expected = hashlib.sha256(f"{STAGE.id}/{STAGE.filename}".encode() + b"\0" + SOLUTION.encode() + b"\0")
    assert first.content_hash == expected.hexdigest()
    assert (first.root / STAGE.id / STAGE.filename).read_text() == SOLUTION  # the copy is whole


# -- 11. the same student twice ----------------------------------------------------------------------------
def test_the_same_student_twice_is_graded_once_and_the_instructor_is_told_which(tmp_path):
    """Protection: intake.one_per_student (a folder over a zip, else the first given)."""
    klass = tmp_path / "class"
    student(klass / "dup", SOLUTION)
    (klass / "dup.zip").write_bytes(zip_bytes({f"{STAGE.id}/{STAGE.filename}": STUB.encode()}))
    student(klass / "eve")
    warnings: list[str] = []
    jobs = expand([klass, klass / "eve"], warn=warnings.append)
    assert [(j.student, Path(j.path).name) for j in jobs] == [("dup", "dup"), ("eve", "eve")]
    assert [j.index for j in jobs] == [0, 1]
    assert warnings == [f"student dup is given twice ({klass}/dup and {klass}/dup.zip): grading {klass}/dup, "
                        f"not {klass}/dup.zip (the folder over the zip)",
                        f"{klass}/eve is given twice: graded once"]

    done, subs = grade(klass, tmpdir=tmp_path / "tmp")
    assert done.returncode == 0, done.stderr
    assert list(subs) == ["dup", "eve"]
    assert subs["dup"]["score"] == subs["dup"]["max_score"] > 0  # the folder's code, not the zip's stub
    assert f"grading {klass}/dup, not {klass}/dup.zip" in " ".join(done.stderr.split())


# -- 12. what the student reads ---------------------------------------------------------------------------
def test_messages_name_files_as_the_student_laid_them_out_never_the_graders_temp_paths(tmp_path):
    """Protection: intake.present rewrites the private copy's paths (and any /tmp/tcplab-*)."""
    klass = tmp_path / "class"
    (klass / "clone" / "exercises" / STAGE.id).mkdir(parents=True)  # the stage folder, but no module
    (klass / "clone" / "exercises" / "02_bind_listen").mkdir()
    with zipfile.ZipFile(klass / "broken.zip", "w") as zf:
        zf.writestr(f"broken/exercises/{STAGE.id}/{STAGE.filename}", "def create_tcp_socket(:\n")
    done, subs = grade(klass, tmpdir=tmp_path / "tmp")
    assert done.returncode == 0, done.stderr
    assert "tcplab-batch" not in done.stdout and "tcplab-zip" not in done.stdout
    assert str(tmp_path / "tmp") not in done.stdout
    missing = only_stage(subs["clone"])
    assert missing["status"] == "missing"
    assert f"exercises/{STAGE.id}/{STAGE.filename} was not found" in missing["problem"]
    syntax = only_stage(subs["broken"])
    assert syntax["status"] == "error"
    assert f"broken/exercises/{STAGE.id}/{STAGE.filename}" in syntax["problem"], syntax["problem"]
