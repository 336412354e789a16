"""Score an :class:`~companion.knowledge.retrieval.Answerer` on the question evaluation set.

Shared by the quality test (``tests/knowledge/test_eval.py``) and ``bench/ask.py`` so
both report the same numbers. The set lives in ``tests/data/questions.yaml``; a fixed
third of it (by a hash of the id) is held out: it was never looked at while tuning,
so its figures show how answering holds up on questions worded in new ways.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from companion.knowledge.retrieval import Answerer

OUT_OF_SCOPE = ("off-topic", "urgent", "unknown")


@dataclass(frozen=True)
class Question:
    id: str
    text: str
    expect: str
    accept: tuple[str, ...] = ()
    flag: str | None = None

    @property
    def held_out(self) -> bool:
        return zlib.crc32(self.id.encode()) % 3 == 0

    @property
    def in_scope(self) -> bool:
        return self.expect not in OUT_OF_SCOPE


def load_questions(path: Path) -> list[Question]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]
    return [Question(q["id"], q["text"], q["expect"], tuple(q.get("accept", ())), q.get("flag")) for q in raw]


@dataclass
class Metrics:
    in_scope: int = 0
    top1: int = 0
    false_urgent: int = 0
    off_topic: int = 0
    off_topic_rejected: int = 0
    off_topic_reply: int = 0  # rejected with the "I can only help with back and neck care" wording
    red_flags: int = 0
    red_flags_urgent: int = 0
    red_flags_right_flag: int = 0
    unknown: int = 0
    unknown_rejected: int = 0
    failures: list[str] = field(default_factory=list)

    @staticmethod
    def rate(part: int, whole: int) -> float:
        return part / whole if whole else 1.0

    def summary(self) -> dict[str, float | int]:
        return {
            "top1": round(self.rate(self.top1, self.in_scope), 3), "in_scope": self.in_scope,
            "off_topic_rejected": round(self.rate(self.off_topic_rejected, self.off_topic), 3),
            "off_topic": self.off_topic,
            "red_flag_recall": round(self.rate(self.red_flags_urgent, self.red_flags), 3), "red_flags": self.red_flags,
            "false_urgent": round(self.rate(self.false_urgent, self.in_scope), 3),
            "unknown_rejected": round(self.rate(self.unknown_rejected, self.unknown), 3), "unknown": self.unknown,
        }


def evaluate(answerer: Answerer, questions: list[Question]) -> dict[str, Metrics]:
    """Metrics for the tuned part, the held-out part and all questions."""
    parts = {"tuned": Metrics(), "held_out": Metrics(), "all": Metrics()}
    for q in questions:
        answer = answerer.ask(q.text)
        for name in ("held_out" if q.held_out else "tuned", "all"):
            m = parts[name]
            if q.in_scope:
                m.in_scope += 1
                right = answer.known and not answer.urgent and (answer.topic == q.expect or answer.topic in q.accept)
                m.top1 += right
                m.false_urgent += answer.urgent
                if not right:
                    m.failures.append(f"{q.id} {q.text!r}: expected {q.expect}, got {answer.topic or answer.kind} "
                                      f"({answer.score:.2f})")
            elif q.expect == "off-topic":
                m.off_topic += 1
                rejected = not answer.known and not answer.urgent
                m.off_topic_rejected += rejected
                m.off_topic_reply += answer.kind == "off-topic"
                if not rejected:
                    m.failures.append(f"{q.id} {q.text!r}: off-topic, but answered as {answer.topic}")
            elif q.expect == "urgent":
                m.red_flags += 1
                m.red_flags_urgent += answer.urgent
                m.red_flags_right_flag += answer.urgent and answer.red_flag is not None and answer.red_flag.id == q.flag
                if not answer.urgent:
                    m.failures.append(f"{q.id} {q.text!r}: a red flag ({q.flag}) was missed")
            else:
                m.unknown += 1
                m.unknown_rejected += not answer.known
    return parts


def report(parts: dict[str, Metrics]) -> str:
    """A small table, one row per part."""
    lines = [f"{'part':<9} {'top-1':>12} {'off-topic':>11} {'red flags':>10} {'false urgent':>13} {'unknown':>9}"]
    for name, m in parts.items():
        lines.append(f"{name:<9} {m.top1:>4}/{m.in_scope:<3} {m.rate(m.top1, m.in_scope):>4.0%} "
                     f"{m.off_topic_rejected:>3}/{m.off_topic:<3} {m.rate(m.off_topic_rejected, m.off_topic):>4.0%} "
                     f"{m.red_flags_urgent:>3}/{m.red_flags:<3}{m.rate(m.red_flags_urgent, m.red_flags):>4.0%} "
                     f"{m.false_urgent:>6}/{m.in_scope:<3}{m.rate(m.false_urgent, m.in_scope):>4.0%} "
                     f"{m.unknown_rejected:>3}/{m.unknown:<3}")
    return "\n".join(lines)
