"""The knowledge-base, red-flag and symptom file formats, as typed models.

Like the routine schema, pydantic checks types and bounds and reports the path of
each problem; :mod:`companion.knowledge.base` turns that into ``file:line: field``.
The limits encode how answers are used: the short ``answer`` is spoken while
someone lies on the floor, so it must be two or three sentences; the longer
``more`` is the "tell me more" follow-up.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from companion.content.schema import Id, Source, Strict, Text
from companion.language.normalise import active_normaliser

ANSWER_MAX_WORDS = 70
MORE_MAX_CHARS = 1600

Phrase = Annotated[str, Field(min_length=1, max_length=200)]
LongText = Annotated[str, Field(min_length=1, max_length=MORE_MAX_CHARS)]

_SENTENCE_END = re.compile(r"[.!?](?:\s|$)")


def sentence_count(text: str) -> int:
    """Sentences in spoken text: a ``.``, ``!`` or ``?`` followed by a space or the end."""
    return len(_SENTENCE_END.findall(text.strip()))


def _spoken_answer(text: str) -> str:
    sentences = sentence_count(text)
    if not 2 <= sentences <= 3:
        raise ValueError(f"a spoken answer is two or three sentences, found {sentences}; "
                         "put the rest in 'more'")
    words = len(text.split())
    if words > ANSWER_MAX_WORDS:
        raise ValueError(f"a spoken answer is at most {ANSWER_MAX_WORDS} words, found {words}")
    return text


SpokenAnswer = Annotated[Text, AfterValidator(_spoken_answer)]


class Entry(Strict):
    """One thing the companion can answer, with the ways people ask about it."""

    id: Id
    topic: Annotated[str, Field(min_length=1, max_length=80)]
    routine: Id | None = None
    treatment: bool = False
    questions: list[Phrase] = Field(min_length=3)
    keywords: list[Phrase] = Field(min_length=1)
    facts: list[Text] = Field(min_length=1)
    answer: SpokenAnswer
    more: LongText
    sources: list[Source] = Field(min_length=1)

    @model_validator(mode="after")
    def _more_is_longer(self) -> "Entry":
        if len(self.more) <= len(self.answer):
            raise ValueError("'more' is the longer 'tell me more' version; it must be longer than 'answer'")
        return self


class KnowledgeFile(Strict):
    """One area of the knowledge base (conditions, daily life, exercises, ...)."""

    area: Id
    entries: list[Entry] = Field(min_length=1)


# -- red flags -----------------------------------------------------------------

ConceptName = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=40)]


class Pattern(Strict):
    """Concepts that must all be present and not negated (optionally close together) for a flag."""

    all: list[ConceptName] = Field(min_length=1, max_length=4)
    within: Annotated[int, Field(ge=1, le=40)] | None = None  # words from the first match to the last
    unless: list[ConceptName] = Field(default_factory=list)  # any of these (not negated) cancels the pattern


# How soon a flag needs a doctor: "urgent" is now (every listener checks these); "soon" is
# within days (only a typed or spoken question checks these, and never ahead of an urgent one).
Level = Literal["urgent", "soon"]


class RedFlagSpec(Strict):
    """A symptom pattern that needs a doctor (urgently, or soon), and what to tell the person."""

    id: Id
    level: Level = "urgent"
    name: Text
    advice: Text
    patterns: list[Pattern] = Field(min_length=1)
    basis: Text
    sources: list[Source] = Field(default_factory=list)
    examples: list[Phrase] = Field(min_length=2)
    not_examples: list[Phrase] = Field(default_factory=list)


class ConceptFile(Strict):
    """Named phrase lists and the words around them: the matching data red flags and symptoms share."""

    misheard: dict[Phrase, Phrase] = Field(default_factory=dict)
    negations: list[Phrase] = Field(min_length=1)
    scope_breakers: list[Phrase] = Field(default_factory=list)
    negation_window: Annotated[int, Field(ge=1, le=8)] = 4
    ignore: list[Phrase] = Field(default_factory=list)
    concepts: dict[ConceptName, Annotated[list[Phrase], Field(min_length=1)]]

    @field_validator("concepts")
    @classmethod
    def _no_empty_phrases(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, phrases in value.items():
            for phrase in phrases:
                if not any(word.strip("*") for word in active_normaliser().words(phrase, keep="*")):
                    raise ValueError(f"concept {name!r} has a phrase with no words: {phrase!r}")
        return value


class RedFlagFile(ConceptFile):
    flags: list[RedFlagSpec] = Field(min_length=1)


# -- symptoms said during a session -------------------------------------------

# What the session does with a finding, after pausing at once (companion/engine/session.py):
#   ask-spread: ask its yes/no question; yes stops the exercise (the peripheralisation rule), no resumes;
#   ask-score:  ask for a pain score 0-10 and apply the rise rule (engine/pain.py); never moves back a step;
#   end:        say its words and end the session;
#   pause:      say its words and stay paused until resume or stop.
SymptomAction = Literal["ask-spread", "ask-score", "end", "pause"]


class SymptomSpec(Strict):
    """Something a person may say mid-exercise that changes what happens next, and what is said then."""

    id: Id
    name: Text
    action: SymptomAction
    say: Text  # the question (ask-*), the advice (end), or what is said while paused (pause)
    patterns: list[Pattern] = Field(min_length=1)
    basis: Text
    sources: list[Source] = Field(default_factory=list)
    examples: list[Phrase] = Field(min_length=2)
    not_examples: list[Phrase] = Field(default_factory=list)


class SymptomFile(ConceptFile):
    findings: list[SymptomSpec] = Field(min_length=1)


# -- the answering lexicon -----------------------------------------------------


class Replies(Strict):
    """What the companion says when it cannot answer from the knowledge base."""

    off_topic: Text
    unknown: Text
    treatment_reminder: Text
    listening_needs_voice: Text


class Lexicon(Strict):
    """Words that shape retrieval: spoken forms, synonyms, stop words and the domain."""

    replies: Replies
    # Whole phrases rewritten before tokenising: misrecognitions and spoken forms
    # ("mc kenzie" -> "mckenzie", "sit ups" -> "situp").
    rewrite: dict[Phrase, Phrase] = Field(default_factory=dict)
    # Groups of words or phrases that mean the same here; each adds a shared term.
    synonyms: list[Annotated[list[Phrase], Field(min_length=2)]] = Field(default_factory=list)
    stopwords: list[Phrase] = Field(default_factory=list)
    # Words that show a question is about back or neck care at all ...
    domain: list[Phrase] = Field(min_length=1)
    # ... and everyday words that only suggest it ("sit", "lift", "legs"): a question with
    # only these must match an entry well, or it is treated as off-topic.
    everyday: list[Phrase] = Field(default_factory=list)
