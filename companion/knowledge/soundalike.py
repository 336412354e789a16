"""Words that sound like a red-flag word: what a speech recogniser writes instead of it.

Whisper tiny.en in a noisy room writes "without drying" for "without trying", "keeps
living way" for "keeps giving way", "I tricked and fell" for "I tripped and fell"
(bench/spoken.py). A red flag said aloud and written that way was missed. So where a
sentence of three words or more describes no red flag, each word that is one sound away
from a word of the red-flag table is tried in its place, one at a time
(:meth:`SoundAlike.variants`); the red-flag detector checks each variant.

"One sound away" is one phone inserted, deleted or changed in the CMU pronouncing
dictionary (the copy PocketSphinx ships), between pronunciations of four phones or
more: shorter words have too many neighbours ("for" and "fall"). Never replaced: words
of the table itself (or starting with one of its prefixes, ``tingl*``), and the words the
detector passes as ``keep``: its negations ("werent" sounds like "want"), scope breakers
and ``ignore`` phrases ("fell asleep"). Only the first :data:`MAX_WORDS` words are tried:
each variant is one more match, and one more chance of a false alarm.
Chosen on bench/spoken.py (both voices): 4 more of 66 spoken red flags caught, 1 false
alarm in 470 other spoken questions, none in the 352 typed questions and non-examples.
Without PocketSphinx installed there is no dictionary, and no variants.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Iterator
from functools import lru_cache

MIN_PHONES = 4  # both pronunciations at least this long
MIN_WORDS = 3  # a sentence: a command word is never tried
MAX_WORDS = 60  # words tried in a long transcript (each costs one match of the whole table)


@lru_cache(maxsize=1)
def pronunciations() -> dict[str, tuple[tuple[str, ...], ...]]:
    """Word -> its pronunciations, from PocketSphinx's CMU dictionary ({} where it is not installed)."""
    try:
        import pocketsphinx
    except ImportError:
        return {}
    path = os.path.join(pocketsphinx.get_model_path(), "en-us", "cmudict-en-us.dict")
    found: dict[str, list[tuple[str, ...]]] = {}
    try:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                word, _, phones = line.partition(" ")
                variant = word.find("(")
                word = (word[:variant] if variant > 0 else word).replace("'", "")
                found.setdefault(word, []).append(tuple(phones.split()))
    except OSError:
        return {}
    return {word: tuple(dict.fromkeys(prons)) for word, prons in found.items()}


class SoundAlike:
    """The table's words, indexed by every pronunciation one phone away from theirs."""

    def __init__(self, lexicon: Iterable[str], keep: Iterable[str] = (), prefixes: Iterable[str] = (),
                 dictionary: dict[str, tuple[tuple[str, ...], ...]] | None = None):
        self._dictionary = dictionary
        self._lexicon = {w for w in lexicon if w.isalpha()}
        self._keep = self._lexicon | set(keep)
        self._prefixes = tuple(p for p in prefixes if p)
        self._near: dict[tuple[str, ...], set[str]] | None = None
        self._building = threading.Lock()

    def warm(self) -> None:
        """Load the dictionary and build the index now (about 0.7 s here), off the path of speech:
        built on first use, it delayed the answer to the first sentence a person said."""
        self._index()

    def _index(self) -> dict[tuple[str, ...], set[str]]:
        with self._building:  # warmed in the background while a sentence may already need it
            return self._near if self._near is not None else self._build()

    def _build(self) -> dict[tuple[str, ...], set[str]]:
        dictionary = self._dictionary if self._dictionary is not None else pronunciations()
        self._dictionary = dictionary
        phones = sorted({p for prons in dictionary.values() for pron in prons for p in pron})
        near: dict[tuple[str, ...], set[str]] = {}
        for word in self._lexicon:
            for pron in dictionary.get(word, ()):
                if len(pron) < MIN_PHONES:
                    continue
                for other in _one_phone_away(pron, phones):
                    if len(other) >= MIN_PHONES:
                        near.setdefault(other, set()).add(word)
        self._near = near
        return near

    def sounds_like(self, word: str) -> list[str]:
        """The table's words one phone away from ``word`` (none for the table's own words)."""
        if word in self._keep or word.startswith(self._prefixes):
            return []
        near = self._index()
        heard = {w for pron in (self._dictionary or {}).get(word, ()) for w in near.get(pron, ())}
        return sorted(heard - {word})

    def variants(self, text: str) -> Iterator[tuple[str, str, str]]:
        """``(text with one word replaced, the word heard, the word it may have been)``, for a sentence."""
        words = text.split()
        if len(words) < MIN_WORDS:
            return
        for index, word in enumerate(words[:MAX_WORDS]):
            for meant in self.sounds_like(word):
                yield " ".join([*words[:index], meant, *words[index + 1:]]), word, meant


def _one_phone_away(pron: tuple[str, ...], phones: list[str]) -> Iterator[tuple[str, ...]]:
    for i in range(len(pron) + 1):
        for p in phones:
            yield pron[:i] + (p,) + pron[i:]  # one inserted
        if i < len(pron):
            yield pron[:i] + pron[i + 1:]  # one deleted
            for p in phones:
                if p != pron[i]:
                    yield pron[:i] + (p,) + pron[i + 1:]  # one changed
