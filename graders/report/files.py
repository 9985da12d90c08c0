"""Writing a file atomically: whoever reads it sees the old file or the new one, never half of one.

Every finished file tcplab writes goes through here: the exports of the gradebook (grades.csv,
the feedback files), results.json on Gradescope (rewritten before every stage while Gradescope
may read it), and the autograder bundle. The content goes to a temporary file in the
destination's own folder (a rename is atomic only within one filesystem), reaches the disk,
gets its permissions, and is renamed over the destination in one step; if anything fails on
the way, or the run is interrupted, the temporary file is removed and the destination is what
it was.

A folder built whole and renamed into place (the student release, the released notebooks)
keeps its own logic: a folder cannot be renamed over a folder that holds files.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

# Why 0o644: these files are for others to read (an instructor's spreadsheet, Gradescope, a web
# server serving the feedback), and mkstemp makes its files private (0o600).
READABLE = 0o644


@contextlib.contextmanager
def atomic_file(path: Path, *, mode: int = READABLE) -> Iterator[BinaryIO]:
    """A binary file to write `path`'s new content to; it replaces `path` when the block ends
    without an exception, and is thrown away when it does not."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomically(path: Path, data: str | bytes, *, mode: int = READABLE) -> None:
    """Replaces `path` with `data` at once; text is written as UTF-8, its line ends as they are."""
    with atomic_file(path, mode=mode) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)
