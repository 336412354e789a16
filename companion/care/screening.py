"""Screening questions and pain check-in wording, loaded from ``content/screening.yaml``.

Each screening question names a red flag in ``redflags.yaml``; the advice said
when someone answers yes is that flag's advice, the same words the question
answering uses, so there is one red-flag vocabulary, not two.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from companion.care.pain import PLACE_ORDER
from companion.vocabulary import normalise

SCREENING_FILE = Path(__file__).resolve().parents[1] / "content" / "screening.yaml"


class _Question(BaseModel):
    model_config = ConfigDict(extra="forbid")
    flag: str
    ask: str


class _Pain(BaseModel):
    model_config = ConfigDict(extra="forbid")
    score: str
    place: str
    places: dict[str, list[str]]
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
    place_words: dict[str, str]  # normalised phrase -> place

    def place(self, text: str) -> str | None:
        """'my calf' -> 'below-knee'; whole utterance, or the longest place phrase inside it."""
        said = normalise(text)
        if said in self.place_words:
            return self.place_words[said]
        found = [p for p in self.place_words if f" {p} " in f" {said} "]
        return self.place_words[max(found, key=len)] if found else None


@lru_cache(maxsize=2)
def load_screening(path: Path = SCREENING_FILE) -> Screening:
    from companion.knowledge.redflags import default_detector

    data = _File.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    flags = {flag.id: flag for flag in default_detector().spec.flags}
    missing = [q.flag for q in data.questions if q.flag not in flags]
    if missing:
        raise ValueError(f"{path}: screening questions name unknown red flags: {', '.join(missing)}")
    unknown_places = set(data.pain.places) - set(PLACE_ORDER)
    if unknown_places:
        raise ValueError(f"{path}: unknown pain places {sorted(unknown_places)}; use {', '.join(PLACE_ORDER)}")
    words = {normalise(w): place for place, ws in data.pain.places.items() for w in ws}
    questions = tuple(ScreeningQuestion(q.flag, q.ask, " ".join(flags[q.flag].advice.split())) for q in data.questions)
    return Screening(data.intro, data.all_clear, questions, data.pain, words)
