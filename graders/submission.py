"""Finding a submission's stage folders: a directory like exercises/, one holding it, or a .zip.

A zip is unpacked into a private temporary directory, refusing members that would land
outside it (zip slip), links, and archives that unpack to more than MAX_UNPACKED.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from graders.stages import all_stages

# Why 64 MiB: a submission is a handful of small Python files; more is a mistake or a bomb.
MAX_UNPACKED = 64 * 1024 * 1024


class SubmissionError(Exception):
    """The submission cannot be read at all; the message says what to do."""


@dataclass
class Submission:
    label: str  # as the user gave it
    root: Path  # the folder holding the stage folders
    _tmp: Path | None = None

    def cleanup(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)


def open_submission(path: str | Path, label: str | None = None) -> Submission:
    given = Path(path)
    label = label or str(path)
    if not given.exists():
        raise SubmissionError(f"{given} does not exist")
    if given.is_file():
        if not zipfile.is_zipfile(given):
            raise SubmissionError(f"{given} is neither a directory nor a .zip archive")
        tmp = Path(tempfile.mkdtemp(prefix="tcplab-zip-"))
        try:
            unpack_zip(given, tmp)
        except SubmissionError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return Submission(label, find_root(tmp), tmp)
    return Submission(label, find_root(given))


def find_root(folder: Path) -> Path:
    """The folder holding stage folders: `folder`, its exercises/, or those of its only subfolder."""
    ids = {s.id for s in all_stages()}
    candidates = [folder, folder / "exercises"]
    subdirs = [d for d in folder.iterdir() if d.is_dir() and not d.name.startswith((".", "__"))] if folder.is_dir() else []
    if len(subdirs) == 1:
        candidates += [subdirs[0], subdirs[0] / "exercises"]
    for candidate in candidates:
        if candidate.is_dir() and any((candidate / i).is_dir() for i in ids):
            return candidate
    # Nothing recognisable: grade it as given, so every stage reports the file it looked for.
    return folder / "exercises" if (folder / "exercises").is_dir() else folder


def unpack_zip(archive: Path, dest: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            if sum(m.file_size for m in members) > MAX_UNPACKED:
                raise SubmissionError(f"{archive} unpacks to more than {MAX_UNPACKED // 2**20} MiB")
            for member in members:
                name = PurePosixPath(member.filename.replace("\\", "/"))
                if name.is_absolute() or ".." in name.parts:
                    raise SubmissionError(f"{archive} holds {member.filename!r}, which points outside the archive")
                if stat.S_ISLNK(member.external_attr >> 16):
                    continue  # links are never followed out of a submission
                target = dest.joinpath(*name.parts)
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, RuntimeError, ValueError) as exc:
        raise SubmissionError(f"{archive} is not a readable zip archive ({exc})") from exc
