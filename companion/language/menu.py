"""The home menu's words: start an exercise by name, ask what there is, ask a question, or leave.

Exercise names are read from the routine files (title, aliases, id), so a new
routine file can be started by voice without code changes. The same matcher
serves speech (through the grammar built from those names) and typing.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from companion.content.library import Library
from companion.engine.events import Command
from companion.language.vocabulary import Vocabulary


@dataclass(frozen=True)
class Choice:
    kind: str  # "start", "what", "question", "goodbye", "answer", "unknown"
    entry_id: str | None = None
    answer: bool | None = None


class Menu:
    def __init__(self, library: Library, vocabulary: Vocabulary):
        self.library = library
        self.vocabulary = vocabulary
        self.names: dict[str, str] = {}
        normalise = vocabulary.normalise
        for entry in library.entries():
            for name in (entry.title, entry.id.replace("-", " "), *entry.aliases):
                key = normalise(name)
                if key and key not in self.names:
                    self.names[key] = entry.id
        menu = vocabulary.menu
        self.prefixes = sorted({normalise(p) for p in menu.start_prefixes}, key=len, reverse=True)
        self.what = {normalise(p) for p in menu.what}
        self.goodbye = {normalise(p) for p in menu.goodbye}
        self.question = set(vocabulary.phrases(Command.QUESTION))

    def grammar(self) -> list[str]:
        """Every phrase the recogniser should listen for at the menu (stop silences it)."""
        phrases = set(self.what) | self.goodbye | self.question | set(self.vocabulary.stop_phrases())
        for name in self.names:
            phrases.add(name)
            phrases.update(f"{prefix} {name}" for prefix in self.prefixes)
        return sorted(phrases)

    def _strip_prefix(self, said: str) -> str:
        for prefix in self.prefixes:
            if said.startswith(prefix + " "):
                return said[len(prefix) + 1:]
        return said

    def match(self, text: str, fuzzy: bool = True) -> Choice:
        said = self.vocabulary.normalise(text)
        if said in self.goodbye:
            return Choice("goodbye")
        if said in self.what:
            return Choice("what")
        if said in self.question:
            return Choice("question")
        answer = self.vocabulary.answer(said)
        if answer is not None:
            return Choice("answer", answer=answer)
        name = self._strip_prefix(said)
        if name in self.names:
            return Choice("start", self.names[name])
        padded = f" {name} "
        found = [key for key in self.names if f" {key} " in padded]
        if found:
            return Choice("start", self.names[max(found, key=len)])
        if fuzzy:
            close = difflib.get_close_matches(name, list(self.names), n=1, cutoff=0.75)
            if close:
                return Choice("start", self.names[close[0]])
        return Choice("unknown")
