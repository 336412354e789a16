"""Screening questions and pain check-in wording, loaded from the language's ``screening.yaml``.

Each screening question names a red flag in ``redflags.yaml``; the advice said
when someone answers yes is that flag's advice, the same words the question
answering uses, so there is one red-flag vocabulary, not two.
"""

from __future__ import annotations

from dataclasses import dataclass
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


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    intro: str
    all_clear: str
    questions: list[_Question] = Field(min_length=1)
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
    return Screening(data.intro, data.all_clear, questions, data.pain)
