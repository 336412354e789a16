"""Red flags: spot what someone says that needs urgent care, before anything else.

One detector for every place that listens: ``companion ask`` runs it first on each
question, and a session runs it first on everything the person says or types. The
whole API is::

    flag = detect("i cant feel my bottom when i wipe")   # -> RedFlag | None
    flag.id, flag.name, flag.advice                        # advice: seek urgent care now

``detect`` finds only *urgent* flags, so a listener that ends a session on a flag
never does so for a lesser one. Flags of level *soon* ("see a doctor in the next
few days", such as pain that wakes you at night) are found by
``detect(text, LEVELS)``, which ``companion ask`` uses; an urgent flag still wins.

The matching machinery (:class:`ConceptMatcher`, and the checks of each row's examples)
is shared with the symptom detector (:mod:`companion.knowledge.symptoms`).

The patterns are data (``content/redflags.yaml``) so they can be reviewed without
reading code. Matching is deliberately simple and explainable: named phrase lists
("concepts") that must all be present and not negated ("no fever" is not a fever).
Transcripts have no punctuation, so negation looks back a few words and stops at
words like "but". When in doubt the detector errs towards flagging: a false alarm
costs a doctor's visit, a missed flag can cost much more.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from companion.content.locale import data_file
from companion.content.yamlsource import Problem, SourceDoc, field_name
from companion.content.model_file import read_model
from companion.knowledge.schema import ConceptFile, Pattern, RedFlagFile
from companion.knowledge.soundalike import SoundAlike
from companion.knowledge.text import Match, PhraseMap, PhraseSet, phrase_words, words


_MASK = "_"
R = TypeVar("R")
URGENT = "urgent"
SOON = "soon"
LEVELS: tuple[str, ...] = (URGENT, SOON)  # most pressing first


@dataclass(frozen=True)
class RedFlag:
    """A detected red flag: what it is, and what to tell the person (seek care now, or soon)."""

    id: str
    name: str
    advice: str
    heard: tuple[str, ...] = ()  # the phrases that matched, for the session log
    level: str = URGENT  # URGENT or SOON


class ConceptMatcher:
    """The matching machinery of a :class:`ConceptFile`, shared by red flags and symptoms.

    Text is normalised and its misheard phrases rewritten, ``ignore`` phrases are
    blanked out, every concept's phrases are found, and a match is dropped when a
    negation comes shortly before it (up to a scope breaker). A row (a red flag, a
    symptom finding) matches when one of its patterns fits the concepts left.
    """

    def __init__(self, spec: ConceptFile):
        self.spec = spec
        self._misheard = PhraseMap(spec.misheard)
        self._ignore = PhraseSet(spec.ignore)
        self._concepts = {name: PhraseSet(phrases) for name, phrases in spec.concepts.items()}
        self._negations = [tuple(words(n)) for n in spec.negations]
        self._breakers = [tuple(words(b)) for b in spec.scope_breakers]

    def first(self, rows: Sequence[R], text: str) -> tuple[R, tuple[str, ...]] | None:
        """The first of ``rows`` (each with ``patterns``) that ``text`` matches, and the phrases heard; or None."""
        live = self.live(text)
        if not live:
            return None
        for row in rows:
            for pattern in row.patterns:
                heard = self._pattern_matches(pattern, live)
                if heard is not None:
                    return row, heard
        return None

    def live(self, text: str) -> dict[str, list[Match]]:
        """Each concept's matches in ``text`` that are not negated (empty when there are no words)."""
        tokens = self._prepare(text)
        if not tokens:
            return {}
        found = {name: phrases.find(tokens) for name, phrases in self._concepts.items()}
        covered = {i for matches in found.values() for m in matches for i in range(m.start, m.end)}
        return {name: [m for m in matches if not self._negated(tokens, m, covered)]
                for name, matches in found.items()}

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


class RedFlagDetector(ConceptMatcher):
    """Matches text against the red-flag patterns of one :class:`RedFlagFile`.

    A sentence that describes no flag is tried again with each word that sounds like a word of
    the table in its place (:mod:`companion.knowledge.soundalike`): a recogniser's "without
    drying" is "without trying". The flag's ``heard`` then says which word was taken for which.
    """

    spec: RedFlagFile

    def __init__(self, spec: RedFlagFile):
        super().__init__(spec)
        table = [phrase for phrases in spec.concepts.values() for phrase in phrases]
        lexicon = {w for phrase in table for w in phrase_words(phrase)}
        # Never replaced: the words that turn a flag off ("werent" sounds like "want"), those of
        # the ignore phrases ("fell asleep"), and words a prefix of the table already covers.
        keep = {w for phrase in [*spec.ignore, *spec.negations, *spec.scope_breakers] for w in words(phrase)}
        prefixes = tuple(w[:-1] for w in lexicon if w.endswith("*") and len(w) > 1)
        self._alike = SoundAlike(lexicon, keep=keep, prefixes=prefixes)
        self._flags = {level: [flag for flag in spec.flags if flag.level == level] for level in LEVELS}

    def warm(self) -> None:
        """Ready the sound-alike check now rather than inside the first sentence checked."""
        self._alike.warm()

    def detect(self, text: str, levels: Sequence[str] = (URGENT,)) -> RedFlag | None:
        """The first red flag ``text`` describes at one of ``levels``, or None.

        The most pressing level is searched first, the sentence as written and then with a word
        that only sounds like one of the table's: an urgent flag always wins, then file order.
        """
        alike: list[tuple[str, str, str]] | None = None
        for level in (lv for lv in LEVELS if lv in levels):
            found = self._detect(text, level)
            if found is not None:
                return found
            if alike is None:
                alike = list(self._alike.variants(" ".join(words(text))))
            for variant, heard, meant in alike:
                found = self._detect(variant, level)
                if found is not None:
                    return replace(found, heard=(*found.heard, f"{heard} (as {meant})"))
        return None

    def _detect(self, text: str, level: str) -> RedFlag | None:
        found = self.first(self._flags[level], text)
        if found is None:
            return None
        flag, heard = found
        return RedFlag(flag.id, flag.name, flag.advice, heard, flag.level)


@dataclass
class LoadedRedFlags:
    detector: RedFlagDetector | None
    problems: list[Problem] = field(default_factory=list)


def concept_problems(spec: ConceptFile, doc: SourceDoc, key: str, noun: str) -> list[Problem]:
    """Patterns naming concepts that are not defined, and duplicate ids, in the rows under ``key``."""
    rows = getattr(spec, key)
    problems: list[Problem] = []
    for r_index, row in enumerate(rows):
        for p_index, pattern in enumerate(row.patterns):
            for part in ("all", "unless"):
                for n_index, name in enumerate(getattr(pattern, part)):
                    if name not in spec.concepts:
                        where = (key, r_index, "patterns", p_index, part, n_index)
                        problems.append(Problem(doc.file, doc.line_of(where), _field(where),
                                                f"unknown concept '{name}' (define it under concepts)"))
    ids = [row.id for row in rows]
    for r_index, row in enumerate(rows):
        if ids.index(row.id) != r_index:
            where = (key, r_index, "id")
            problems.append(Problem(doc.file, doc.line_of(where), _field(where), f"duplicate {noun} id '{row.id}'"))
    return problems


def example_problems(rows: Sequence, doc: SourceDoc, key: str, what: str,
                     find: Callable[[str], tuple[str, tuple[str, ...]] | None]) -> list[Problem]:
    """Each row's ``examples`` must give that row, and its ``not_examples`` nothing (``what``: "a red flag").

    ``find`` gives the id of the row a text matches and the phrases heard, or None.
    """
    problems: list[Problem] = []
    for r_index, row in enumerate(rows):
        for e_index, example in enumerate(row.examples):
            got = find(example)
            if got is None or got[0] != row.id:
                where = (key, r_index, "examples", e_index)
                said = "nothing" if got is None else f"'{got[0]}'"
                problems.append(Problem(doc.file, doc.line_of(where), _field(where),
                                        f"this example must be detected as '{row.id}', but it gives {said}"))
        for e_index, example in enumerate(row.not_examples):
            got = find(example)
            if got is not None:
                where = (key, r_index, "not_examples", e_index)
                problems.append(Problem(doc.file, doc.line_of(where), _field(where),
                                        f"this must not be {what}, but it is detected as '{got[0]}' "
                                        f"(heard: {', '.join(got[1])})"))
    return problems


D = TypeVar("D")


def load_concept_file(path: Path, model: type[ConceptFile], key: str, noun: str, what: str,
                      make: Callable[[Any], D], detect: Callable[[D, str], Any]) -> tuple[D | None, list[Problem]]:
    """Read a file of concepts and patterns (red flags, symptoms) and check it: the schema, the concept
    names, then each row's own examples against the detector ``make`` builds (``detect`` runs it).
    The detector is returned only when there is no problem at all."""
    spec, doc = read_model(path, model)
    if spec is None:
        return None, doc.problems
    problems = concept_problems(spec, doc, key, noun)
    if problems:
        return None, problems
    detector = make(spec)

    def find(text: str) -> tuple[str, tuple[str, ...]] | None:
        got = detect(detector, text)
        return None if got is None else (got.id, got.heard)

    problems = example_problems(getattr(spec, key), doc, key, what, find)
    return (None if problems else detector), problems


def load_redflags(path: Path | None = None) -> LoadedRedFlags:
    """Read and check the red-flag file: schema, concept names, and each flag's own examples."""
    detector, problems = load_concept_file(path or data_file("redflags.yaml"), RedFlagFile, "flags", "flag",
                                           "a red flag", RedFlagDetector, lambda d, text: d.detect(text, LEVELS))
    return LoadedRedFlags(detector, problems)


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


def warm() -> None:
    """Load the shipped detector and its sound-alike index (about 1 s), e.g. while a session starts."""
    default_detector().warm()


def detect(text: str, levels: Sequence[str] = (URGENT,)) -> RedFlag | None:
    """The red flag that ``text`` describes, or None. Run this first on anything a person says.

    Only urgent flags unless ``levels`` says otherwise: callers that end a session on any
    flag get exactly the urgent ones they always got.
    """
    return default_detector().detect(text, levels)
