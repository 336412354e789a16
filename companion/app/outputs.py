"""Where session records go: the terminal (text or JSON) and the session log file.

Every output takes the same records (see :mod:`companion.app.records`). The
speaker is an output too; it lives in :mod:`companion.speech.tts.speaker`.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any, Protocol, TextIO

from companion.engine.session import Status


class Output(Protocol):
    def write(self, record: dict[str, Any]) -> None:
        """Render or store one record."""

    def interrupt(self) -> None:
        """Cut off anything still in progress (speech); called first on stop."""

    def close(self) -> None: ...


def clock_text(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


class JsonPrinter:
    """One JSON object per line: the machine-readable transcript."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout

    def write(self, record: dict[str, Any]) -> None:
        self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.stream.flush()

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        pass


class TextPrinter:
    """Readable transcript for the terminal, with a live countdown bar on a TTY.

    The bar is one line, redrawn in place, in large blocks so it can be read
    from the floor; cue lines are printed above it.
    """

    def __init__(self, stream: TextIO | None = None, live: bool | None = None):
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self._bar = ""

    def _clear_bar(self) -> None:
        if self._bar:
            self.stream.write("\r\x1b[2K")
            self._bar = ""

    def _line(self, text: str) -> None:
        self._clear_bar()
        self.stream.write(text + "\n")
        self.stream.flush()

    def write(self, record: dict[str, Any]) -> None:
        kind, t, text = record["kind"], clock_text(record["t"]), record.get("text", "")
        if kind == "say":
            style = record.get("say")
            label = {"warning": "SAFETY  ", "status": "ANSWER  ", "help": "HELP    "}.get(style, "")
            self._line(f"[{t}]  {label}{text}")
        elif kind == "exercise_started":
            self._line(f"\n========  {text.upper()}  ========")
        elif kind == "step_started":
            self._line(f"\n[{t}]  --- {text} ({clock_text(record.get('duration', 0))}) ---")
        elif kind == "heard":
            meaning = record.get("command") or (f"answer: {record['answer']}" if "answer" in record
                                                else f"symptom: {record['symptom']}" if "symptom" in record
                                                else "a question" if record.get("source") == "question"
                                                else "not a command")
            self._line(f"[{t}]  YOU SAID: {text!r}  ->  {meaning}")
        elif kind == "pain":
            self._line(f"[{t}]  PAIN {record.get('when')}: {record.get('score')}/10, {record.get('place')}")
        elif kind == "red_flag":
            self._line(f"[{t}]  RED FLAG: {record.get('flag_id')}")
        elif kind == "symptom":
            self._line(f"[{t}]  SYMPTOM: {record.get('finding')}")
        elif kind == "state":
            self._line(f"[{t}]  ({text}, pace x{record.get('pace', 1):g})")
        elif kind == "finished":
            self._line(f"\n[{t}]  SESSION {text.upper()}")
        elif kind in ("notice", "interrupted"):
            self._line(f"NOTE: {text}")

    def show_status(self, status: Status) -> None:
        """Redraw the countdown bar for the current step."""
        if not self.live or status.finished:
            return
        width = max(10, min(40, shutil.get_terminal_size((80, 20)).columns - 40))
        total = max(status.step_total, 0.001)
        done = min(1.0, status.step_elapsed / total)
        filled = int(round(done * width))
        left = clock_text(status.step_total - status.step_elapsed)
        state = "PAUSED " if status.paused else ""
        bar = f"{state}{'█' * filled}{'░' * (width - filled)}  {left} left  (session {clock_text(status.session_left)})"
        if bar != self._bar:
            self.stream.write("\r\x1b[2K" + bar)
            self.stream.flush()
            self._bar = bar

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        self._clear_bar()
        self.stream.flush()


class SessionLog:
    """Append-only JSON-lines log, flushed per record so a crash or Ctrl-C keeps everything.

    The file is created readable by its owner only: it is health data.
    """

    def __init__(self, path: Path):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file = os.fdopen(fd, "a", encoding="utf-8")

    def write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._file.flush()

    def interrupt(self) -> None:
        pass

    def close(self) -> None:
        if not self._file.closed:
            self._file.close()
