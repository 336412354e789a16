"""Write output files whole or not at all, readable by their owner only.

A report usually replaces last week's at the same path. Writing in place
truncates the old page first, so a full disk or a crash left a partial page
and no old one. Here each file is written to a temporary file in the target's
own folder (the same file system, so the rename is atomic), synced to disk,
and only when every file is complete is each renamed over its target. A
failure removes the temporary files and leaves the old files as they were.
``mkstemp`` creates the temporary file 0600 and the rename puts that new file
in place, so the result is 0600 even where an older 0644 file stood: reports
are health data.

This lives in the command line because it is the only layer that writes files
the user names; ``care.report`` renders text and never touches paths.
"""

from __future__ import annotations

import errno
import os
import tempfile
from contextlib import suppress
from pathlib import Path
from typing import Sequence

MAX_PREFIX = 100  # of the target's name in the temporary name: stays within NAME_MAX


class WriteFailed(Exception):
    """One of the files could not be written; ``path`` is which, ``reason`` says why in words.

    ``changed`` lists the files already replaced: empty unless a rename itself failed.
    """

    def __init__(self, path: Path, error: OSError | ValueError, changed: Sequence[Path] = ()):
        self.path = path
        self.reason = getattr(error, "strerror", None) or str(error)
        self.changed = tuple(changed)
        super().__init__(f"{path}: {self.reason}")


def _temporary_copy(path: Path, data: bytes) -> str:
    """The path of a synced temporary file holding ``data``, next to ``path``; removed again on failure."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[:MAX_PREFIX]}.", suffix=".part")
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                if not written:  # a regular file takes nothing only when the disk is full
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        with suppress(OSError):
            os.unlink(temp)
        raise
    return temp


def _sync_folder(folder: Path) -> None:
    """Make the renames themselves durable; not every file system can sync a folder, which is fine."""
    with suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_private_files(files: Sequence[tuple[Path, str]]) -> None:
    """Write each ``(path, text)`` as UTF-8, mode 0600: all complete, or none changed.

    Raises :class:`WriteFailed` naming the file that failed. Only a failure of
    a rename itself (after everything was written) can leave earlier files replaced.
    """
    pending: list[tuple[str, Path]] = []
    changed: list[Path] = []
    try:
        for path, text in files:
            try:
                pending.append((_temporary_copy(path, text.encode("utf-8")), path))
            except (OSError, ValueError) as exc:  # ValueError: a NUL in the name, or text that is not UTF-8
                raise WriteFailed(path, exc) from exc
        while pending:
            temp, path = pending[0]
            try:
                os.replace(temp, path)
            except OSError as exc:
                raise WriteFailed(path, exc, changed) from exc
            pending.pop(0)
            changed.append(path)
            _sync_folder(path.parent)
    finally:
        for temp, _ in pending:
            with suppress(OSError):
                os.unlink(temp)


__all__ = ["WriteFailed", "write_private_files"]
