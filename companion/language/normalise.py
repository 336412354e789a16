"""Text -> the words phrase matching works on, cut the way the language in use writes.

Commands, answers, menu names, red flags and knowledge retrieval all compare
*normalised* text: lower case, no punctuation, one space between words. What
counts as a word depends on the language, so the rules come from the locale's
``locale.yaml`` (:class:`companion.content.locale.LocaleSettings`) rather than
from an English-only character class: Greek or Cyrillic letters are kept, and
Chinese, written without spaces, becomes one word per character so that "stop"
cannot match inside a longer word there either.

English text made only of ASCII takes a fast path that gives exactly the result
the vocabulary has always been written for ("That's ENOUGH!" -> "thats enough").
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

from companion.content.locale import LANG_ENV, LocaleSettings, load_locale

_APOSTROPHES = "'\u2019`"
_APOSTROPHE_RE = re.compile(f"[{_APOSTROPHES}]")

# Scripts written without spaces between words: each character is a word of its own
# under ``tokens: characters``. (Han, kana, Thai, Lao, Myanmar, Khmer; marks that
# follow a character stay with it.)
_UNSPACED = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0x20000, 0x3FFFF),  # CJK extensions B and later
)


def _unspaced(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _UNSPACED)


@lru_cache(maxsize=8)
def _ascii_separator(keep: str) -> re.Pattern[str]:
    return re.compile(f"[^a-z0-9{re.escape(keep)}]+")


@dataclass(frozen=True)
class Normaliser:
    """One language's way of turning text into matchable words.

    ``keep`` names extra characters that count as part of a word (the knowledge
    base keeps ``*`` for its wildcard phrases).
    """

    tokens: str = "words"
    apostrophes: str = "drop"

    def __call__(self, text: str) -> str:
        """Lower case, apostrophes handled, punctuation to spaces, one space between words."""
        return " ".join(self.words(text))

    def words(self, text: str, keep: str = "") -> list[str]:
        """The words of ``text`` (for ``tokens: characters``, unspaced scripts give one per character)."""
        if text.isascii():
            return self._ascii_words(text, keep)
        return self._unicode_words(text, keep)

    def _ascii_words(self, text: str, keep: str) -> list[str]:
        # ASCII has no unspaced script, so both token modes agree here.
        text = _APOSTROPHE_RE.sub("" if self.apostrophes == "drop" else " ", text.lower())
        return _ascii_separator(keep).sub(" ", text).split()

    def _unicode_words(self, text: str, keep: str) -> list[str]:
        # NFKC folds full-width letters and digits ("ＭＲＩ", "７") into their usual forms.
        text = unicodedata.normalize("NFKC", text).casefold()
        text = _APOSTROPHE_RE.sub("" if self.apostrophes == "drop" else " ", text)
        split_characters = self.tokens == "characters"
        out: list[str] = []
        word: list[str] = []
        single = False  # the word being built is one unspaced character (plus its marks)
        for char in text:
            kind = unicodedata.category(char)[0]
            if (kind == "M" or char in keep) and word:
                word.append(char)
                continue
            if char in keep or kind in "LN":
                if split_characters and _unspaced(char):
                    if word:
                        out.append("".join(word))
                    word, single = [char], True
                    continue
                if single:
                    out.append("".join(word))
                    word, single = [], False
                word.append(char)
                continue
            if word:
                out.append("".join(word))
            word, single = [], False
        if word:
            out.append("".join(word))
        return out


def normaliser_for(settings: LocaleSettings) -> Normaliser:
    """The normaliser a ``locale.yaml`` asks for."""
    return Normaliser(tokens=settings.tokens, apostrophes=settings.apostrophes)


def active_normaliser() -> Normaliser:
    """The normaliser of the language in use (``COMPANION_LANG``), read once per language."""
    return _normaliser_of(os.environ.get(LANG_ENV) or None)


@lru_cache(maxsize=8)
def _normaliser_of(lang: str | None) -> Normaliser:
    return normaliser_for(load_locale(lang))


def normalise(text: str) -> str:
    """``text`` normalised for the language in use: "That's ENOUGH!" -> "thats enough"."""
    return active_normaliser()(text)


def words(text: str, keep: str = "") -> list[str]:
    """The normalised words of ``text`` in the language in use."""
    return active_normaliser().words(text, keep)
