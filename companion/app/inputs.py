"""Typed and scripted utterances: ``--script`` files and the keyboard (the microphone is in speech/).

Input sources never call the engine. They put :class:`Heard` items on the
runner's queue, stamped with the session time at which they arrived; the
runner is the only thing that feeds the engine.
"""

from __future__ import annotations

import queue
import sys
import threading
from pathlib import Path
from typing import TextIO

from companion.engine.clock import Clock
from companion.language.heard import Heard

MAX_SCRIPT_SECONDS = 24 * 3600


class ScriptError(ValueError):
    """A script line that cannot be used; ``str()`` is ``file:line: message``."""


def parse_script(path: Path) -> list[Heard]:
    """Read ``SECONDS TEXT`` lines (``#`` comments and blank lines allowed)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScriptError(f"{path}:1: cannot read the script: {exc}") from None
    lines: list[Heard] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        when, _, said = line.partition(" ")
        try:
            at = float(when)
        except ValueError:
            raise ScriptError(f"{path}:{number}: expected 'SECONDS TEXT', but '{when}' is not a number of seconds") from None
        if not 0 <= at <= MAX_SCRIPT_SECONDS:
            raise ScriptError(f"{path}:{number}: time {when} must be between 0 and {MAX_SCRIPT_SECONDS} seconds")
        if not said.strip():
            raise ScriptError(f"{path}:{number}: nothing to say after the time {when}")
        if lines and at < lines[-1].at:
            raise ScriptError(f"{path}:{number}: time {when} is earlier than the line before; keep lines in time order")
        lines.append(Heard(at, said.strip(), "script"))
    return lines


class ScriptFeeder(threading.Thread):
    """On a real clock, puts each script line on the queue when its time comes."""

    def __init__(self, lines: list[Heard], clock: Clock, out: "queue.Queue[Heard]"):
        super().__init__(daemon=True, name="script-feeder")
        self.lines, self.clock, self.out = lines, clock, out
        self._halt = threading.Event()

    def run(self) -> None:
        for line in self.lines:
            if self._halt.wait(max(0.0, line.at - self.clock.now())):
                return
            self.out.put(Heard(self.clock.now(), line.text, "script"))

    def stop(self) -> None:
        self._halt.set()


class KeyboardInput(threading.Thread):
    """Reads typed commands, one per line, from a terminal or pipe."""

    def __init__(self, clock: Clock, out: "queue.Queue[Heard]", stream: TextIO = sys.stdin):
        super().__init__(daemon=True, name="keyboard")
        self.clock, self.out, self.stream = clock, out, stream

    def run(self) -> None:
        for line in self.stream:
            if line.strip():
                self.out.put(Heard(self.clock.now(), line.strip(), "keyboard"))

    def stop(self) -> None:
        """Daemon thread: nothing to do; it ends with the process."""
