"""Keep what C libraries print while the sound devices are open off the user's screen, and log it.

ALSA ("underrun occurred") and PortAudio ("Expression 'res' failed") write straight to
file descriptor 2, below Python. While the devices are open, descriptor 2 points at a log
file in the data folder; Python's own ``sys.stderr`` keeps the terminal, so the
companion's messages (and a traceback, if ever there were one) still show.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from companion.content.datadir import data_dir

LOG_NAME = "audio-libraries.log"
MAX_LOG_BYTES = 1024 * 1024  # started afresh past this: it is for looking into a problem, not a record


def log_path() -> Path:
    return data_dir() / LOG_NAME


@contextmanager
def native_stderr_logged(path: Path | None = None) -> Iterator[Path | None]:
    """Send descriptor 2 to ``path`` (default: :func:`log_path`) for the duration; yields the log's path.

    Does nothing (yields None) when ``sys.stderr`` is not the process's own (a test runner is
    capturing it) or when the log cannot be opened: then the lines show, as before.
    """
    path = path or log_path()
    if sys.stderr is not sys.__stderr__ or sys.stderr is None:
        yield None
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        if path.exists() and path.stat().st_size > MAX_LOG_BYTES:
            flags |= os.O_TRUNC
        log = os.open(path, flags, 0o600)
    except OSError:
        yield None
        return
    sys.stderr.flush()
    terminal = os.dup(2)
    os.dup2(log, 2)
    os.close(log)
    python_stderr = sys.stderr
    sys.stderr = open(terminal, "w", buffering=1, encoding=python_stderr.encoding,  # noqa: SIM115 - closed below
                      errors="backslashreplace", closefd=False)
    try:
        yield path
    finally:
        sys.stderr.flush()
        sys.stderr.close()
        sys.stderr = python_stderr
        os.dup2(terminal, 2)
        os.close(terminal)
