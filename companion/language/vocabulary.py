"""Text -> command, from the phrase list in ``content/data/<lang>/vocabulary.yaml``.

One matcher serves typed commands, scripts and (later) speech transcripts.
Matching is by whole normalised phrases: the utterance is the phrase, or
contains it as whole words. When two commands could match, the longest phrase
wins, except that an un-negated stop phrase always wins: saying "stop" must
never be out-voted by other words in the same sentence. What a word is comes
from the language in use (:mod:`companion.language.normalise`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field

from companion.content.locale import data_file
from companion.engine.events import Command
from companion.engine.pain import ARM_PLACE_ORDER, PLACE_ORDER
from companion.language.normalise import Normaliser, active_normaliser
from companion.speech.ports import LanguageHints


class _CommandWords(BaseModel):
    model_config = ConfigDict(extra="forbid")
    changes_state: bool
    phrases: list[str] = Field(min_length=1)


class MenuWords(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start_prefixes: list[str]
    what: list[str]
    goodbye: list[str]


class _VocabularyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    commands: dict[Command, _CommandWords]
    menu: MenuWords
    answers: dict[str, list[str]]
    numbers: list[str] = Field(min_length=11, max_length=11)
    places: dict[str, list[str]]
    arm_places: dict[str, list[str]] = Field(default_factory=dict)
    negations: list[str] = Field(default_factory=list)
    fillers: list[str] = Field(default_factory=list)
    question_words: list[str] = Field(default_factory=list)
    question_prompt: str = ""


@dataclass(frozen=True)
class Match:
    command: Command
    phrase: str
    exact: bool


class Vocabulary:
    """The phrase table, and the one place that turns words into a command."""

    def __init__(self, commands: dict[Command, _CommandWords], negations: list[str],
                 answers: dict[str, list[str]] | None = None, numbers: list[str] | None = None,
                 menu: MenuWords | None = None, places: dict[str, list[str]] | None = None,
                 normaliser: Normaliser | None = None, arm_places: dict[str, list[str]] | None = None,
                 fillers: list[str] | None = None, question_words: list[str] | None = None,
                 question_prompt: str = ""):
        """``normaliser`` cuts text into words; by default the way the language in use does."""
        self.normalise = normaliser or active_normaliser()
        self.question_prompt = question_prompt  # the words a transcriber should expect in a question
        norm = self.normalise
        self.menu = menu or MenuWords(start_prefixes=[], what=[], goodbye=[])
        self._place_names = {place: ws[0] for place, ws in (arm_places or {}).items() if ws}
        self._place_names.update({place: ws[0] for place, ws in (places or {}).items() if ws})
        self._names = {cmd: words.phrases[0] for cmd, words in commands.items()}
        self.place_words = {norm(w): place for place, ws in (places or {}).items() for w in ws}
        self.arm_place_words = {norm(w): place for place, ws in (arm_places or {}).items() for w in ws}
        self._answers = {norm(p): key == "yes" for key, ps in (answers or {}).items() for p in ps}
        self._numbers = {norm(word): value for value, word in enumerate(numbers or [])}
        self._phrases: dict[Command, tuple[str, ...]] = {
            cmd: tuple(norm(p) for p in words.phrases) for cmd, words in commands.items()
        }
        self._state_changing = {cmd for cmd, words in commands.items() if words.changes_state}
        self._negations = tuple(norm(n) for n in negations)
        self._fillers = tuple(sorted({norm(f) for f in fillers or ()} - {""}, key=len, reverse=True))
        self._question_words = frozenset(norm(w) for w in question_words or ())
        seen: dict[str, Command] = {}
        for cmd, phrases in self._phrases.items():
            for phrase in phrases:
                if phrase in seen and seen[phrase] != cmd:
                    raise ValueError(f"phrase '{phrase}' is listed for both {seen[phrase].value} and {cmd.value}")
                seen[phrase] = cmd
        self._command_of = seen

    def answer(self, text: str) -> bool | None:
        """True for yes, False for no, None when ``text`` is neither (whole utterance only)."""
        return self._answers.get(self.normalise(text))

    def number(self, text: str) -> int | None:
        """0..10 from "seven" or "7" (whole utterance only)."""
        said = self.normalise(text)
        if said.isdecimal() and 0 <= int(said) <= 10:
            return int(said)
        return self._numbers.get(said)

    def place(self, text: str) -> str | None:
        """'my calf' -> 'below-knee'; whole utterance, or the longest place phrase inside it."""
        return self._find_place(text, self.place_words)

    def arm_place(self, text: str) -> str | None:
        """'my wrist' -> 'hand': where neck pain is felt, like :meth:`place` for the back."""
        return self._find_place(text, self.arm_place_words)

    def _find_place(self, text: str, words: dict[str, str]) -> str | None:
        said = self.normalise(text)
        if said in words:
            return words[said]
        found = [p for p in words if f" {p} " in f" {said} "]
        return words[max(found, key=len)] if found else None

    def grammar(self, context: str = "all") -> list[str]:
        """The phrases a recogniser should listen for in a dialogue ``context``.

        "commands" during a session, "answer" while a yes/no question is open
        (answers, plus stop and resume, which always work), "all" for tools.
        A smaller grammar is a more accurate one: "yes" cannot be heard as
        "faster" when "faster" is not in it.
        """
        if context == "commands":
            return sorted(self.all_phrases())
        if context == "answer":
            return sorted({*self._answers, *self._phrases[Command.STOP], *self._phrases[Command.RESUME]})
        if context == "number":
            return sorted({*self._numbers, *self._phrases[Command.STOP], *self._phrases[Command.RESUME]})
        return sorted({*self.all_phrases(), *self._answers, *self._numbers})

    def stop_phrases(self) -> list[str]:
        return list(self._phrases[Command.STOP])

    def hints(self) -> LanguageHints:
        """What a recogniser should know of this language (see :class:`LanguageHints`)."""
        groups: dict[str, set[str]] = {}
        for phrase in [*self._command_of, *self._answers]:
            groups.setdefault(self.meaning(phrase), set()).add(phrase)
        return LanguageHints(frozenset(self.stop_phrases()), self.question_prompt,
                             tuple(frozenset(group) for _, group in sorted(groups.items()) if len(group) > 1))

    def phrases(self, command: Command) -> tuple[str, ...]:
        return self._phrases.get(command, ())

    def name(self, command: Command) -> str:
        """How the language names ``command`` when asking about it: its first phrase as written ("pause")."""
        return self._names.get(command, command.value)

    def place_name(self, place: str) -> str:
        """How the language names a pain place (its first phrase as written), for reading it back."""
        return self._place_names.get(place, place)

    def all_phrases(self) -> dict[str, Command]:
        return dict(self._command_of)

    def meaning(self, phrase: str) -> str:
        """What a whole phrase stands for: a command ("stop"), "yes"/"no", "number:N", else the phrase.

        Phrases with the same meaning are interchangeable; the endpointer uses
        this to know when the words heard so far are enough.
        """
        said = self.normalise(phrase)
        command = self._command_of.get(said)
        if command is not None:
            return command.value
        if said in self._answers:
            return "yes" if self._answers[said] else "no"
        if said in self._numbers:
            return f"number:{self._numbers[said]}"
        return said

    def changes_state(self, command: Command) -> bool:
        return command in self._state_changing

    def match(self, text: str) -> Match | None:
        """The command ``text`` asks for, or None when it names none (or is negated)."""
        said = self.normalise(text)
        if not said:
            return None
        padded = f" {said} "
        found: list[Match] = []
        for cmd, phrases in self._phrases.items():
            for phrase in phrases:
                if said == phrase:
                    found.append(Match(cmd, phrase, exact=True))
                    continue
                at = padded.find(f" {phrase} ")
                if at >= 0 and not self._negated(padded[:at]):
                    found.append(Match(cmd, phrase, exact=False))
        if not found:
            return None
        stops = [m for m in found if m.command is Command.STOP]
        if stops:
            return max(stops, key=lambda m: (m.exact, len(m.phrase)))
        return max(found, key=lambda m: (m.exact, len(m.phrase)))

    # -- whole sentences (free speech transcribed by Whisper) ---------------------

    def core(self, text: str) -> str:
        """``text`` without the politeness around it: "ok can we pause please" -> "pause" (never empty)."""
        words = self.normalise(text).split()
        changed = True
        while changed:
            changed = False
            for filler in (f.split() for f in self._fillers):
                if len(words) > len(filler) and words[:len(filler)] == filler:
                    words, changed = words[len(filler):], True
                if len(words) > len(filler) and words[-len(filler):] == filler:
                    words, changed = words[:-len(filler)], True
        return " ".join(words)

    def sentence_command(self, text: str) -> Match | None:
        """The command a transcribed sentence asks for, stricter than :meth:`match`.

        A sentence is full of words that are also commands ("I want to go to the shop"), so a
        command counts only when it is the whole sentence once the politeness is taken off
        ("could you pause please"). A stop is the exception, as everywhere: anywhere in the
        sentence, unless negated ("I want to stop", but not "don't stop").
        """
        for said in (self.normalise(text), self.core(text)):
            if said in self._command_of:
                return Match(self._command_of[said], said, exact=True)
        found = self.match(text)
        if found is not None and found.command is Command.STOP:
            return found
        return None

    def sentence_answer(self, text: str) -> bool | None:
        """Yes or no from a sentence that starts with one ("no, it is fine" -> False)."""
        words = self.core(text).split()
        for length in range(min(3, len(words)), 0, -1):
            answer = self._answers.get(" ".join(words[:length]))
            if answer is not None:
                return answer
        return None

    def sentence_number(self, text: str) -> int | None:
        """The one pain score in a sentence ("about a 5", "maybe three"), or None if none or several."""
        found = {n for w in self.normalise(text).split() if (n := self.number(w)) is not None}
        return found.pop() if len(found) == 1 else None

    def is_question(self, text: str) -> bool:
        """A transcript that asks something: it ends with a question mark, or starts with a question word."""
        if text.rstrip().endswith("?"):
            return True
        words = self.core(text).split()
        return bool(words) and words[0] in self._question_words

    def _negated(self, before: str) -> bool:
        words = before.split()
        return any(words[-len(n.split()):] == n.split() for n in self._negations)


def load_vocabulary(path: Path | None = None) -> Vocabulary:
    """The vocabulary of the language in use (or of the file at ``path``)."""
    return _load_vocabulary(path or data_file("vocabulary.yaml"))


@lru_cache(maxsize=4)
def _load_vocabulary(path: Path) -> Vocabulary:
    """Load and validate the phrase file (cached: it is read once per process)."""
    data = _VocabularyFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    missing = [cmd.value for cmd in Command if cmd not in data.commands]
    if missing:
        raise ValueError(f"{path}: commands without phrases: {', '.join(missing)}")
    norm = active_normaliser()
    empty = sorted(p for words in data.commands.values() for p in words.phrases if not norm(p))
    if empty:
        raise ValueError(f"{path}: phrases with no words left after normalising: {empty}")
    overlap = set(map(norm, (p for ps in data.answers.values() for p in ps))) & {
        norm(p) for words in data.commands.values() for p in words.phrases}
    if overlap:
        raise ValueError(f"{path}: phrases are both answers and commands: {sorted(overlap)}")
    unknown_places = set(data.places) - set(PLACE_ORDER)
    if unknown_places:
        raise ValueError(f"{path}: unknown pain places {sorted(unknown_places)}; use {', '.join(PLACE_ORDER)}")
    unknown_places = set(data.arm_places) - set(ARM_PLACE_ORDER)
    if unknown_places:
        raise ValueError(f"{path}: unknown arm_places {sorted(unknown_places)}; use {', '.join(ARM_PLACE_ORDER)}")
    return Vocabulary(data.commands, data.negations, data.answers, data.numbers, data.menu, data.places,
                      norm, data.arm_places, data.fillers, data.question_words, data.question_prompt)
