"""The home menu's words: start an exercise by name, ask what is due or what there is, ask a question, or leave.

"What's due" (the menu's ``what`` words) asks for what is due today; the help command's
words ("help", "what can I say") for every exercise there is.

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
    kind: str  # "start", "what" (what is due), "options" (every exercise), "question", "goodbye", "answer", "unknown"
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
        self.options = set(vocabulary.phrases(Command.HELP)) - self.what

    def grammar(self, answers: bool = False) -> list[str]:
        """Every phrase the recogniser should listen for at the menu (stop silences it); ``answers``:
        yes and no too, while the menu asks something ("Shall we start ...?")."""
        phrases = set(self.what) | self.options | self.goodbye | self.question | set(self.vocabulary.stop_phrases())
        if answers:
            phrases |= {p for p in self.vocabulary.grammar("answer") if self.vocabulary.answer(p) is not None}
        for name in self.names:
            phrases.add(name)
            phrases.update(f"{prefix} {name}" for prefix in self.prefixes)
        return sorted(phrases)

    def _strip_prefix(self, said: str) -> str:
        for prefix in self.prefixes:
            if said.startswith(prefix + " "):
                return said[len(prefix) + 1:]
        return said

    def entry_for(self, title: str) -> str | None:
        """The id of the routine or programme called ``title``, if any."""
        return self.names.get(self.vocabulary.normalise(title))

    def match(self, text: str, fuzzy: bool = True, answering: bool = False) -> Choice:
        """``answering``: the menu has asked a yes/no question, so an answer comes before the menu's
        own words ("no thanks" is no, not goodbye)."""
        said = self.vocabulary.normalise(text)
        answer = self.vocabulary.answer(said)
        if answering and answer is not None:
            return Choice("answer", answer=answer)
        if said in self.goodbye:
            return Choice("goodbye")
        if said in self.what:
            return Choice("what")
        if said in self.options:
            return Choice("options")
        if said in self.question:
            return Choice("question")
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
