"""One flat record format for everything that happens in a session.

The JSON output, the session log file and tests all use these records, so a
log line and a ``--json`` line for the same event are identical.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from companion.engine.cues import Cue, Say, cue_kind


def cue_record(cue: Cue) -> dict[str, Any]:
    fields = asdict(cue)
    at = fields.pop("at")
    record: dict[str, Any] = {"t": round(at, 3), "who": "companion", "kind": cue_kind(cue)}
    if isinstance(cue, Say):
        record["text"] = cue.text
        record["say"] = cue.kind.value
        return record
    if "kind" in fields:
        fields["step_kind"] = fields.pop("kind")
    text = (fields.pop("title", None) or fields.get("reason") or fields.get("state") or fields.get("tone")
            or fields.get("finding") or "")
    record["text"] = text
    record.update(fields)
    return record


def heard_record(at: float, text: str, command: str | None, source: str) -> dict[str, Any]:
    """What the user said; the runner adds "answer", "symptom" (a finding id), "confidence", "decision",
    "heard_by" (which model's decision it was: a command, an answer, a red flag, a symptom or a question)."""
    return {"t": round(at, 3), "who": "user", "kind": "heard", "text": text, "command": command, "source": source}


def note_record(at: float, kind: str, text: str) -> dict[str, Any]:
    """Things the runner notices itself: missing hardware, interruption."""
    return {"t": round(at, 3), "who": "companion", "kind": kind, "text": text}
