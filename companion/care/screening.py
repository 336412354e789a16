"""Screening questions and pain check-in wording, loaded from the language's ``screening.yaml``.

Each screening question names a red flag in ``redflags.yaml``; the advice said
when someone answers yes is that flag's advice, the same words the question
answering uses, so there is one red-flag vocabulary, not two. The same file
words the acute-stage question and what is said while a red flag is still open
(:func:`hold_lines`, :func:`seen_doctor_question`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path


from companion.content.locale import data_file
from companion.content.yamlsource import Problem
from companion.content.model_file import read_model
from companion.knowledge.redflags import default_detector
from pydantic import BaseModel, ConfigDict, Field




class _Question(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flag: str
    ask: str


class _Pain(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: str
    place: str
    worse_spread: str
    worse_rise: str
    better_central: str
    then_gentlest: str
    then_end: str


class _OpenFlag(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ask: str
    on_hold: str
    until: str
    resume: str
    unknown_advice: str


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    intro: str
    all_clear: str
    questions: list[_Question] = Field(min_length=1)
    acute_question: str
    acute_today: str
    open_flag: _OpenFlag
    pain: _Pain


@dataclass(frozen=True)
class ScreeningQuestion:
    flag_id: str
    ask: str
    advice: str


@dataclass(frozen=True)
class Screening:
    intro: str
    all_clear: str
    questions: tuple[ScreeningQuestion, ...]
    pain: _Pain
    acute_question: str
    acute_today: str
    open_flag: _OpenFlag


class ScreeningError(ValueError):
    """The screening file has problems; ``problems`` are ``file:line: field: message``."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(map(str, problems)))
        self.problems = problems


def load_screening(path: Path | None = None) -> Screening:
    """The screening questions of the language in use; raises :class:`ScreeningError` naming each problem."""
    return _load_screening(path or data_file("screening.yaml"))


@lru_cache(maxsize=4)
def _load_screening(path: Path) -> Screening:
    data, doc = read_model(path, _File, described_in="companion/care/screening.py")
    if data is None:
        raise ScreeningError(doc.problems)
    flags = {flag.id: flag for flag in default_detector().spec.flags}
    unknown = [Problem(doc.file, doc.line_of(("questions", i, "flag")), f"questions[{i}].flag",
                       f"unknown red flag '{q.flag}' (see redflags.yaml)")
               for i, q in enumerate(data.questions) if q.flag not in flags]
    if unknown:
        raise ScreeningError(unknown)
    questions = tuple(ScreeningQuestion(q.flag, q.ask, " ".join(flags[q.flag].advice.split())) for q in data.questions)
    return Screening(data.intro, data.all_clear, questions, data.pain, data.acute_question, data.acute_today,
                     data.open_flag)


def flag_words(flag_id: str, screening: Screening | None = None) -> tuple[str, str]:
    """A red flag's plain name and its advice, from redflags.yaml; an unknown id keeps its id and general advice.

    A flag stored by an older companion (or a renamed one) must still be asked about, never dropped.
    """
    flag = next((f for f in default_detector().spec.flags if f.id == flag_id), None)
    if flag is None:
        return flag_id, (screening or load_screening()).open_flag.unknown_advice
    return flag.name or flag.id, " ".join(flag.advice.split())


def seen_doctor_question(flag_id: str, screening: Screening | None = None) -> tuple[str, str, str]:
    """(flag_id, "Have you seen a doctor about this since?", advice): what a session asks first for an open flag."""
    screening = screening or load_screening()
    name, advice = flag_words(flag_id, screening)
    return flag_id, screening.open_flag.ask.format(flag=name), advice


def hold_lines(flags: Iterable[tuple[str, datetime]], screening: Screening | None = None) -> list[str]:
    """Why no exercise is offered while red flags are open: each flag (``(flag_id, raised_at)``, once each)
    with its advice, then how it is cleared. Empty when there is none."""
    screening = screening or load_screening()
    lines: list[str] = []
    seen: set[str] = set()
    for flag_id, raised_at in flags:
        if flag_id in seen:
            continue
        seen.add(flag_id)
        name, advice = flag_words(flag_id, screening)
        lines.append(screening.open_flag.on_hold.format(flag=name, date=raised_at.strftime("%Y-%m-%d %H:%M")))
        lines.append(advice)
    if lines:
        lines.append(screening.open_flag.until)
    return lines
