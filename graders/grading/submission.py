"""Reading a submission — a folder like exercises/, one holding it, or a .zip — as a stranger's files.

Rules every reader of a submission keeps (find_root, graders/batch/intake.py, Gradescope's gathering):
1. No symbolic link in a submission is ever followed: not the submission itself, not
   exercises/, not the sub-folder it may sit in, not a stage folder, not a file. Git keeps
   links, so a student's `exercises -> ../../course/solutions` would otherwise be graded as
   the reference solutions. Kinds come from lstat, never stat; `walk_without_links` is the
   one walker, and a link it meets is yielded as a link, never entered or opened. A link
   where a folder or file of the submission should be is named (`link_note`) and that part
   is graded as missing.
2. Sizes are checked before anything is read (lstat, zip headers, the archive's own size)
   and files are copied by streaming under a `Budget` that also counts the bytes actually
   written: headers can lie, and a 1 GiB sparse file must not reach the grader's memory.
3. A zip is unpacked into a private folder (inside the batch's own folder when there is one,
   so that the sweep after a killed batch removes it too), refusing members that would land
   outside it. A member that is a link becomes a dangling link there — to nothing — so that
   it is reported exactly like a link in a folder. Whatever makes an archive unreadable is
   that submission's SubmissionError, "<label> cannot be unpacked: <why>".
"""

from __future__ import annotations

import errno
import lzma
import os
import shutil
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from graders.report.results import safe_text
from graders.stages import all_stages

# Why 64 MiB: a submission is a handful of small Python files; more is a mistake or a bomb.
MAX_UNPACKED = 64 * 1024 * 1024
# Why 10 000: a whole repository with its .git is a few thousand files; a zip of a million
# empty members is a bomb of another kind (inodes, time).
MAX_FILES = 10_000
# Files are copied this much at a time: the most of a submission the grader holds in memory.
CHUNK = 1024 * 1024
# What a link member of a zip points to once unpacked: nothing (and never read).
ZIP_LINK_TARGET = "tcplab: a link in the archive, never followed"


class SubmissionError(Exception):
    """The submission cannot be read at all; the message says what to do."""


def link_note(shown: str) -> str:
    """What a student reads where a link stood in place of a folder or a file."""
    return f"{shown} is a symbolic link; tcplab follows no link in a submission"


def shown(path: PurePosixPath | Path | str) -> str:
    """A path as a person may read it: its undecodable bytes as \\xNN (see results.safe_text)."""
    text = path if isinstance(path, str) else path.as_posix()
    return safe_text(text)


# -- walking without following links ------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    path: Path  # where it is
    rel: PurePosixPath  # relative to the top of the walk
    kind: str  # "dir", "file" (a regular file), "link", or "other" (a fifo, socket or device)
    size: int  # a file's size from lstat, before anything is read; 0 for the other kinds


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "dir"
    return "file" if stat.S_ISREG(mode) else "other"


def kind_of(path: Path) -> str:
    """"dir", "file", "link", "other" or "missing", from lstat: a link is a link, whatever it points to."""
    try:
        return _kind(os.lstat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return "missing"


def walk_without_links(top: Path, *, skip: Callable[[Entry], bool] | None = None,
                       depth: int | None = None, unreadable: list[PurePosixPath] | None = None) -> Iterator[Entry]:
    """Every entry under `top`, by name, each folder before what it holds; no link is followed.

    A link is yielded (kind "link") and never entered, opened or resolved. `skip(entry)`
    true leaves an entry out (a folder: with all it holds); `depth=1` gives `top`'s own
    entries only. `top` itself must be a real folder (SubmissionError if it is a link). A
    folder that cannot be listed raises OSError, or, given `unreadable`, is added to it (by
    its path relative to `top`) and passed over. A stack, not recursion: no tree is too deep.
    The tree is one nobody changes while it is read: the originals are hidden from student
    code, and Gradescope gathers before any student code runs. Files are opened with
    O_NOFOLLOW all the same (`open_regular`).
    """
    top = Path(top)
    if kind_of(top) == "link":
        raise SubmissionError(link_note(shown(top.name)))
    listings = [_listing(top, PurePosixPath(), skip, unreadable)]
    while listings:
        entry = next(listings[-1], None)
        if entry is None:
            listings.pop()
            continue
        yield entry
        if entry.kind == "dir" and (depth is None or len(listings) < depth):
            listings.append(_listing(entry.path, entry.rel, skip, unreadable))


def _listing(folder: Path, rel: PurePosixPath, skip: Callable[[Entry], bool] | None,
             unreadable: list[PurePosixPath] | None) -> Iterator[Entry]:
    """One folder's entries by name, from lstat, without those `skip` leaves out."""
    try:
        with os.scandir(folder) as listing:
            items = sorted(listing, key=lambda e: e.name)
    except OSError:
        if unreadable is None:
            raise
        unreadable.append(rel)
        return iter(())
    entries = []
    for item in items:
        st = item.stat(follow_symlinks=False)
        kind = _kind(st.st_mode)
        entry = Entry(folder / item.name, rel / item.name, kind, st.st_size if kind == "file" else 0)
        if skip is None or not skip(entry):
            entries.append(entry)
    return iter(entries)


def open_regular(path: Path) -> IO[bytes]:
    """`path` opened for reading if it is a regular file itself: never through a link, never a fifo."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(errno.EINVAL, "not a regular file")
    return os.fdopen(fd, "rb")


# -- how much may be read -------------------------------------------------------------------------
@dataclass
class Budget:
    """What one submission may unpack or copy: counted before reading, and while writing.

    The messages say what happens when the bytes (MAX_UNPACKED) or the files (MAX_FILES) run out.
    """

    too_big: str
    too_many: str
    bytes_left: int = MAX_UNPACKED
    files_left: int = MAX_FILES

    @classmethod
    def copying(cls, label: str) -> Budget:
        return cls(f"{label} holds more than {MAX_UNPACKED // 2**20} MiB of files",
                   f"{label} holds more than {MAX_FILES} files")

    @classmethod
    def unpacking(cls, label: str) -> Budget:
        return cls(f"{label} cannot be unpacked: it unpacks to more than {MAX_UNPACKED // 2**20} MiB",
                   f"{label} cannot be unpacked: it holds more than {MAX_FILES} files")

    def expect(self, size: int) -> None:
        """Before reading: a size from lstat or a zip header."""
        if size > self.bytes_left:
            raise SubmissionError(self.too_big)

    def spend(self, size: int) -> None:
        """While writing: the bytes really there."""
        self.expect(size)
        self.bytes_left -= size

    def one_file(self) -> None:
        self.files_left -= 1
        if self.files_left < 0:
            raise SubmissionError(self.too_many)


def stream(src: IO[bytes], dst: IO[bytes], budget: Budget, digest: object | None = None) -> None:
    """Copies `src` to `dst` a CHUNK at a time, counting every byte against `budget` (and hashing it)."""
    while chunk := src.read(CHUNK):
        budget.spend(len(chunk))
        if digest is not None:
            digest.update(chunk)  # type: ignore[attr-defined]
        dst.write(chunk)


# -- a submission ---------------------------------------------------------------------------------
@dataclass
class Submission:
    label: str  # as the user gave it, safe to show
    root: Path  # the folder holding the stage folders
    top: Path | None = None  # the folder given, or where the zip was unpacked: paths are shown from here
    _tmp: Path | None = None

    def shown_root(self) -> str:
        """Where the stage folders are, as the student laid them out ("" at the top)."""
        if self.top is None or self.root == self.top:
            return ""
        return shown(PurePosixPath(self.root.relative_to(self.top).as_posix()))

    def cleanup(self) -> None:
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def open_submission(path: str | Path, label: str | None = None, *, scratch: Path | None = None) -> Submission:
    """The submission at `path`; a zip is unpacked into a new folder under `scratch` (default: the temp dir)."""
    given = Path(path)
    label = label or shown(str(path))
    kind = kind_of(given)
    if kind == "missing":
        raise SubmissionError(f"{label} does not exist")
    if kind == "link":
        raise SubmissionError(link_note(label))
    if kind == "file":
        return _open_zip(given, label, scratch)
    if kind != "dir":
        raise SubmissionError(f"{label} is neither a folder nor a .zip archive")
    return Submission(label, _root_or_links(given, label), given)


def _open_zip(archive: Path, label: str, scratch: Path | None) -> Submission:
    if not looks_like_zip(archive):
        raise SubmissionError(f"{label} is neither a folder nor a .zip archive")
    tmp = Path(tempfile.mkdtemp(prefix="tcplab-zip-", dir=scratch))
    try:
        unpack_zip(archive, tmp, label=label)
        return Submission(label, _root_or_links(tmp, label), tmp, tmp)
    except BaseException:  # nothing unpacked outlives a failure, or an interrupt
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def looks_like_zip(path: Path) -> bool:
    """Named .zip, or starting like one: a damaged zip is still a zip, to be reported as damaged."""
    if path.name.lower().endswith(".zip"):
        return True
    try:
        with open_regular(path) as f:
            return f.read(4) in (b"PK\x03\x04", b"PK\x05\x06")
    except OSError:
        return False


def _root_or_links(folder: Path, label: str) -> Path:
    """find_root; when no stage folder is found and links stood where one was looked for, that is the problem."""
    links: list[str] = []
    root = find_root(folder, links)
    if links and not any(kind_of(root / s.id) in ("dir", "link") for s in all_stages()):
        raise SubmissionError(f"{label}: " + "; ".join(link_note(link) for link in links))
    return root


def find_root(folder: Path, links: list[str] | None = None) -> Path:
    """The folder holding stage folders: `folder`, its exercises/, or those of its only sub-folder.

    No link is followed: a link is never a candidate, whatever it points to. When nothing
    is found, the links met where a folder was looked for are appended to `links` (as
    paths relative to `folder`), so the caller can say why nothing was found.
    """
    ids = [s.id for s in all_stages()]
    top = _entries(folder)
    subdirs = [e for e in top if e.kind == "dir" and not e.rel.name.startswith((".", "__"))]
    candidates = [folder, folder / "exercises"]
    if len(subdirs) == 1:
        candidates += [subdirs[0].path, subdirs[0].path / "exercises"]
    for candidate in candidates:
        if kind_of(candidate) == "dir" and any(kind_of(candidate / i) == "dir" for i in ids):
            return candidate
    if links is not None:
        looked = [e for e in top if not e.rel.name.startswith((".", "__"))]
        if len(subdirs) == 1:
            looked += [e for e in _entries(subdirs[0].path) if e.rel.name in ("exercises", *ids)]
        met = [e for e in looked if e.kind == "link"]
        # The links by a name grading looks for, if any; else every link (the sub-folder may be one).
        met = [e for e in met if e.rel.name in ("exercises", *ids)] or met
        links += [shown(PurePosixPath(e.path.relative_to(folder).as_posix())) for e in met]
    # Nothing recognisable: grade it as given, so every stage reports the file it looked for.
    return folder / "exercises" if kind_of(folder / "exercises") == "dir" else folder


def _entries(folder: Path) -> list[Entry]:
    if kind_of(folder) != "dir":
        return []
    return list(walk_without_links(folder, depth=1))


# -- zips -----------------------------------------------------------------------------------------
# What reading a damaged, truncated, encrypted or exotic archive can raise, in zipfile and
# the decompressors under it (bz2 raises a plain OSError). Each is that archive's problem.
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, lzma.LZMAError, EOFError, OSError,
              RuntimeError, ValueError, NotImplementedError)


def unpack_zip(archive: Path, dest: Path, *, label: str | None = None) -> None:
    """Unpacks `archive` into the folder `dest`: sizes checked first, members streamed, links left dangling."""
    label = label or shown(str(archive))
    budget = Budget.unpacking(label)
    try:
        size = os.lstat(archive).st_size
        if size > MAX_UNPACKED:  # from stat: the archive is not even opened
            raise SubmissionError(f"{label} cannot be unpacked: the archive is {size // 2**20} MiB, more than "
                                  f"the {MAX_UNPACKED // 2**20} MiB a submission may hold")
        with open_regular(archive) as raw, zipfile.ZipFile(raw) as zf:
            members = zf.infolist()
            if len(members) > MAX_FILES:
                raise SubmissionError(budget.too_many)
            budget.expect(sum(m.file_size for m in members))  # the headers' word, checked before reading
            for member in members:
                _unpack_member(zf, member, Path(dest), budget, label)
    except SubmissionError:
        raise
    except ZIP_ERRORS as exc:
        raise SubmissionError(f"{label} cannot be unpacked: {zip_problem(exc)}") from exc


def _unpack_member(zf: zipfile.ZipFile, member: zipfile.ZipInfo, dest: Path, budget: Budget, label: str) -> None:
    name = PurePosixPath(member.filename.replace("\\", "/"))
    if name.is_absolute() or ".." in name.parts:
        raise SubmissionError(f"{label} cannot be unpacked: it holds {member.filename!r}, "
                              "which points outside the archive")
    parts = [p for p in name.parts if p not in ("", ".")]
    if not parts:
        return
    target = dest.joinpath(*parts)
    _no_link_above(target, dest, label)
    budget.one_file()
    if member.is_dir():
        target.mkdir(parents=True, exist_ok=True)
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    if stat.S_ISLNK(member.external_attr >> 16):
        # Kept as a link to nothing: reported like a link in a folder, and never followed.
        if kind_of(target) == "missing":
            os.symlink(ZIP_LINK_TARGET, target)
        return
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with zf.open(member) as src, os.fdopen(fd, "wb") as out:
        stream(src, out, budget)  # counted as written: a header's size can lie


def _no_link_above(target: Path, dest: Path, label: str) -> None:
    """Writing `target` must not go through a link unpacked earlier (member "a" a link, then "a/b")."""
    for parent in target.relative_to(dest).parents:
        if str(parent) != "." and kind_of(dest / parent) == "link":
            raise SubmissionError(f"{label} cannot be unpacked: it holds files under "
                                  f"{shown(parent.as_posix())}, which is a symbolic link")


def zip_problem(exc: BaseException) -> str:
    """Why an archive cannot be read, in words an instructor can act on."""
    text = str(exc)
    if isinstance(exc, RuntimeError) and "encrypted" in text:
        return "it is encrypted (tcplab cannot unpack password-protected archives)"
    if isinstance(exc, NotImplementedError):
        return f"it uses a compression method tcplab cannot read ({text})"
    if isinstance(exc, zipfile.BadZipFile) and "not a zip file" in text.lower():
        return "it is a damaged zip archive: its list of files is missing (a truncated or incomplete file?)"
    if isinstance(exc, OSError) and not isinstance(exc, zipfile.BadZipFile) and exc.strerror:
        return f"it is a damaged zip archive, or holds a name this system refuses ({exc.strerror})"
    kind = type(exc)
    name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"
    return f"it is a damaged zip archive ({name}: {safe_text(text)})"

