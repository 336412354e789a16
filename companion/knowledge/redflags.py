"""Red flags: spot what someone says that needs urgent care, before anything else.

One detector for every place that listens: ``companion ask`` runs it first on each
question, and the session screening will run it on every free-form utterance. The
whole API is::

    flag = detect("i cant feel my bottom when i wipe")   # -> RedFlag | None
    flag.id, flag.name, flag.advice                        # advice: seek urgent care now

The patterns are data (``content/redflags.yaml``) so they can be reviewed without
reading code. Matching is deliberately simple and explainable: named phrase lists
("concepts") that must all be present and not negated ("no fever" is not a fever).
Transcripts have no punctuation, so negation looks back a few words and stops at
words like "but". When in doubt the detector errs towards flagging: a false alarm
costs a doctor's visit, a missed flag can cost much more.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from companion.content.locale import data_file
from companion.content.yamlsource import Problem, field_name
from companion.content.model_file import read_model
from companion.knowledge.schema import Pattern, RedFlagFile
from companion.knowledge.text import Match, PhraseMap, PhraseSet, words


_MASK = "_"


@dataclass(frozen=True)
class RedFlag:
    """A detected red flag: what it is, and what to tell the person (seek urgent care now)."""

    id: str
    name: str
    advice: str
    heard: tuple[str, ...] = ()  # the phrases that matched, for the session log


class RedFlagDetector:
    """Matches text against the red-flag patterns of one :class:`RedFlagFile`."""

    def __init__(self, spec: RedFlagFile):
        self.spec = spec
        self._misheard = PhraseMap(spec.misheard)
        self._ignore = PhraseSet(spec.ignore)
        self._concepts = {name: PhraseSet(phrases) for name, phrases in spec.concepts.items()}
        self._negations = [tuple(words(n)) for n in spec.negations]
        self._breakers = [tuple(words(b)) for b in spec.scope_breakers]

    def detect(self, text: str) -> RedFlag | None:
        """The first red flag ``text`` describes (in file order), or None."""
        tokens = self._prepare(text)
        if not tokens:
            return None
        found = {name: phrases.find(tokens) for name, phrases in self._concepts.items()}
        covered = {i for matches in found.values() for m in matches for i in range(m.start, m.end)}
        live = {name: [m for m in matches if not self._negated(tokens, m, covered)]
                for name, matches in found.items()}
        for flag in self.spec.flags:
            for pattern in flag.patterns:
                heard = self._pattern_matches(pattern, live)
                if heard is not None:
                    return RedFlag(flag.id, flag.name, flag.advice, heard)
        return None

    def _prepare(self, text: str) -> list[str]:
        tokens = self._misheard.rewrite(words(text))
        for m in self._ignore.find(tokens):
            tokens[m.start:m.end] = [_MASK] * (m.end - m.start)
        return tokens

    def _negated(self, tokens: list[str], match: Match, covered: set[int]) -> bool:
        """A negation word shortly before ``match`` (not one that is part of a symptom phrase)."""
        lowest = max(0, match.start - self.spec.negation_window)
        for end in range(match.start - 1, lowest - 1, -1):
            if any(self._ends_at(tokens, end, b) for b in self._breakers):
                return False
            for neg in self._negations:
                if self._ends_at(tokens, end, neg) and not covered.intersection(range(end - len(neg) + 1, end + 1)):
                    return True
        return False

    @staticmethod
    def _ends_at(tokens: list[str], end: int, phrase: tuple[str, ...]) -> bool:
        start = end - len(phrase) + 1
        return start >= 0 and tuple(tokens[start:end + 1]) == phrase

    @staticmethod
    def _pattern_matches(pattern: Pattern, live: dict[str, list[Match]]) -> tuple[str, ...] | None:
        if any(live.get(name) for name in pattern.unless):
            return None
        groups = [live.get(name, []) for name in pattern.all]
        if not all(groups):
            return None
        if pattern.within is None:
            return tuple(group[0].phrase for group in groups)
        # Some choice of one match per concept must fit in the window; with so few
        # matches per utterance, trying each match as the anchor is enough.
        for anchor in (m for group in groups for m in group):
            chosen = [min(group, key=lambda m: abs(m.start - anchor.start)) for group in groups]
            span = max(m.end for m in chosen) - min(m.start for m in chosen) - 1
            if span <= pattern.within:
                return tuple(m.phrase for m in chosen)
        return None


@dataclass
class LoadedRedFlags:
    detector: RedFlagDetector | None
    problems: list[Problem] = field(default_factory=list)


def load_redflags(path: Path | None = None) -> LoadedRedFlags:
    """Read and check the red-flag file: schema, concept names, and each flag's own examples."""
    spec, doc = read_model(path or data_file("redflags.yaml"), RedFlagFile)
    if spec is None:
        return LoadedRedFlags(None, doc.problems)
    problems: list[Problem] = []
    for f_index, flag in enumerate(spec.flags):
        for p_index, pattern in enumerate(spec.flags[f_index].patterns):
            for key in ("all", "unless"):
                for n_index, name in enumerate(getattr(pattern, key)):
                    if name not in spec.concepts:
                        where = ("flags", f_index, "patterns", p_index, key, n_index)
                        problems.append(Problem(doc.file, doc.line_of(where), _field(where),
                                                f"unknown concept '{name}' (define it under concepts)"))
    ids = [flag.id for flag in spec.flags]
    for f_index, flag in enumerate(spec.flags):
        if ids.index(flag.id) != f_index:
            where = ("flags", f_index, "id")
            problems.append(Problem(doc.file, doc.line_of(where), _field(where), f"duplicate flag id '{flag.id}'"))
    if problems:
        return LoadedRedFlags(None, problems)
    detector = RedFlagDetector(spec)
    for f_index, flag in enumerate(spec.flags):
        for e_index, example in enumerate(flag.examples):
            got = detector.detect(example)
            if got is None or got.id != flag.id:
                where = ("flags", f_index, "examples", e_index)
                what = "nothing" if got is None else f"'{got.id}'"
                problems.append(Problem(doc.file, doc.line_of(where), _field(where),
                                        f"this example must be detected as '{flag.id}', but it gives {what}"))
        for e_index, example in enumerate(flag.not_examples):
            got = detector.detect(example)
            if got is not None:
                where = ("flags", f_index, "not_examples", e_index)
                problems.append(Problem(doc.file, doc.line_of(where), _field(where),
                                        f"this must not be a red flag, but it is detected as '{got.id}' "
                                        f"(heard: {', '.join(got.heard)})"))
    return LoadedRedFlags(None if problems else detector, problems)


def _field(path: tuple) -> str:
    return field_name(path)


@lru_cache(maxsize=1)
def default_detector() -> RedFlagDetector:
    """The shipped detector. A broken red-flag file is an error, never a silent "no red flags"."""
    loaded = load_redflags()
    if loaded.detector is None:
        raise RuntimeError("the red-flag file has problems; red flags cannot be checked:\n"
                           + "\n".join(map(str, loaded.problems)))
    return loaded.detector


def detect(text: str) -> RedFlag | None:
    """The red flag that ``text`` describes, or None. Run this first on anything a person says."""
    return default_detector().detect(text)
