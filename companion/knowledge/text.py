"""Words from what someone said or typed: normalising, phrase matching, index terms.

Questions arrive typed ("How should I lift?") or as speech-recogniser transcripts
("how should i lift", no punctuation, sometimes a misheard word). Both go through
the same steps here so that the red-flag detector and retrieval see the same words:
:func:`words` normalises exactly as the command vocabulary does (the way the language
in use cuts text into words, :mod:`companion.language.normalise`), :class:`PhraseSet`
finds multi-word phrases (with simple wildcards), and :class:`Analyzer` turns words
into stemmed index terms using the lexicon in ``content/lexicon.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from companion.content.locale import data_file
from companion.content.yamlsource import Problem
from companion.content.model_file import read_model
from companion.knowledge.schema import Lexicon
from companion.knowledge.stem import stem
from companion.language.normalise import active_normaliser


def words(text: str) -> list[str]:
    """Lower-case words without punctuation; "can't" becomes "cant" (as in the vocabulary)."""
    return active_normaliser().words(text)


def phrase_words(phrase: str) -> tuple[str, ...]:
    """Like :func:`words`, but keeps ``*`` wildcards."""
    return tuple(active_normaliser().words(phrase, keep="*"))


def _word_matches(pattern: str, word: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return word.startswith(pattern[:-1])
    return pattern == word


@dataclass(frozen=True)
class Match:
    start: int
    end: int  # exclusive
    phrase: str


class PhraseSet:
    """Finds any of a list of phrases in a word list.

    A phrase is normalised words; ``*`` alone matches any one word and a word
    ending in ``*`` matches by prefix ("tingl*" -> tingle, tingling). Phrases are
    indexed by their first word, so a lookup is one dictionary probe per word.
    """

    def __init__(self, phrases: list[str]):
        self._by_first: dict[str, list[tuple[str, ...]]] = {}
        self._wild_first: list[tuple[str, ...]] = []
        for phrase in phrases:
            parts = phrase_words(phrase)
            if not parts:
                continue
            if parts[0].endswith("*"):
                self._wild_first.append(parts)
            else:
                self._by_first.setdefault(parts[0], []).append(parts)

    def find(self, tokens: list[str]) -> list[Match]:
        found = []
        for i, word in enumerate(tokens):
            for parts in (*self._by_first.get(word, ()), *self._wild_first):
                end = i + len(parts)
                if end <= len(tokens) and all(_word_matches(p, t) for p, t in zip(parts, tokens[i:end])):
                    found.append(Match(i, end, " ".join(parts)))
        return found


class PhraseMap:
    """Whole-phrase replacements ("mc kenzie" -> "mckenzie"), longest first, left to right."""

    def __init__(self, raw: dict[str, str]):
        self._by_first: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
        for key, value in raw.items():
            phrase = tuple(words(key))
            if phrase:
                self._by_first.setdefault(phrase[0], []).append((phrase, tuple(words(value))))
        for options in self._by_first.values():
            options.sort(key=lambda item: -len(item[0]))

    def rewrite(self, tokens: list[str]) -> list[str]:
        out: list[str] = []
        i = 0
        while i < len(tokens):
            for phrase, replacement in self._by_first.get(tokens[i], ()):
                if tuple(tokens[i:i + len(phrase)]) == phrase:
                    out.extend(replacement)
                    i += len(phrase)
                    break
            else:
                out.append(tokens[i])
                i += 1
        return out


def join_spelled(tokens: list[str]) -> list[str]:
    """Join letters spoken one by one: "m r i" -> "mri", "c t" -> "ct".

    "a" and "i" are words too, so a run never starts with one ("is a c t" -> "is a ct").
    Only Latin letters are spelled out like this: in Chinese a one-letter word is
    just a word, and must not be glued to its neighbours.
    """
    out: list[str] = []
    run: list[str] = []
    for token in [*tokens, ""]:
        if len(token) == 1 and token.isascii() and token.isalpha():
            if run or token not in ("a", "i"):
                run.append(token)
            else:
                out.append(token)
            continue
        if len(run) >= 2 and set(run) - {"a", "i"}:
            out.append("".join(run))
        else:
            out.extend(run)
        run = []
        if token:
            out.append(token)
    return out


class Analyzer:
    """Text -> index terms: rewrite spoken forms, stem, drop stop words, add synonym terms.

    A synonym group ("slipped disc", "herniated disc", ...) adds one shared term
    (``~3``) wherever any of its phrases occurs, on both the question and the
    knowledge-base side, so the exact words still count and the group links them.
    """

    def __init__(self, lexicon: Lexicon):
        self.lexicon = lexicon
        self._rewrite = PhraseMap(lexicon.rewrite)
        self._stop = {w for s in lexicon.stopwords for w in words(s)}
        self.stopwords = frozenset(self._stop)
        self._groups: dict[tuple[str, ...], str] = {}
        for number, group in enumerate(lexicon.synonyms):
            for phrase in group:
                key = tuple(stem(w) for w in words(phrase))
                if key:
                    self._groups.setdefault(key, f"~{number}")
        self._longest = max((len(k) for k in self._groups), default=0)
        self.domain = self._with_groups({stem(w) for d in lexicon.domain for w in self.spoken(d)})
        self.everyday = self._with_groups({stem(w) for d in lexicon.everyday for w in self.spoken(d)}) - self.domain

    def _with_groups(self, stems: set[str]) -> set[str]:
        """A synonym group containing one of ``stems`` counts as one too ("pick up" ~ "lift")."""
        return stems | {group for key, group in self._groups.items() if stems.intersection(key)}

    def spoken(self, text: str) -> list[str]:
        """Normalised words with spelled letters joined and spoken forms rewritten."""
        return self._rewrite.rewrite(join_spelled(words(text)))

    def content_words(self, text: str) -> list[str]:
        """The spoken words of ``text`` that are not stop words (before stemming)."""
        return [w for w in self.spoken(text) if w not in self._stop]

    def terms(self, text: str) -> list[str]:
        """Stemmed content words of ``text``, plus one term per synonym group found in it."""
        return self.terms_of(self.spoken(text))

    def terms_of(self, spoken: list[str]) -> list[str]:
        stems = [stem(w) for w in spoken]
        out = [s for w, s in zip(spoken, stems) if w not in self._stop]
        for i in range(len(stems)):
            for size in range(1, min(self._longest, len(stems) - i) + 1):
                group = self._groups.get(tuple(stems[i:i + size]))
                if group:
                    out.append(group)
        return out

    def domain_strength(self, terms: list[str]) -> str:
        """"strong" (clearly about back care), "everyday" (only ambiguous words) or "none"."""
        if any(t in self.domain for t in terms):
            return "strong"
        if any(t in self.everyday for t in terms):
            return "everyday"
        return "none"


def load_lexicon(path: Path | None = None) -> tuple[Lexicon | None, list[Problem]]:
    """The retrieval lexicon, or None and its problems (``file:line: field: message``)."""
    lexicon, doc = read_model(path or data_file("lexicon.yaml"), Lexicon)
    return lexicon, doc.problems


@lru_cache(maxsize=2)
def default_analyzer() -> Analyzer:
    lexicon, problems = load_lexicon()
    if lexicon is None:
        raise RuntimeError("the answering lexicon has problems:\n" + "\n".join(map(str, problems)))
    return Analyzer(lexicon)
