"""What one utterance means in the dialogue state the session is in.

Every input (microphone, keyboard, script) comes through here, so the word
"pause" follows one path: :class:`Heard` -> :class:`Interpreter` -> an engine
event. Spoken input goes through the confidence policy
(:mod:`companion.language.understanding`) first; typed input is taken as meant.
While a pain score or place is asked, a place word is where it hurts, not a command.
(Bare "back" is no command at all: "my back hurts more" is a symptom, found first by the runner.)
"""

from __future__ import annotations

from dataclasses import dataclass

from companion.engine.events import (AnswerEvent, Command, CommandEvent, Event, NumberEvent, PlaceEvent,
                                     Unrecognised)
from companion.language.heard import Heard
from companion.language.understanding import Understanding
from companion.language.vocabulary import Vocabulary


@dataclass(frozen=True)
class Meaning:
    """An utterance understood: the event to feed (None: ignore it), the command's name, and why."""

    event: Event | None
    command: str | None
    how: str


class Interpreter:
    def __init__(self, vocabulary: Vocabulary, understanding: Understanding | None = None):
        self.vocabulary = vocabulary
        self.understanding = understanding or Understanding(vocabulary)

    def is_stop(self, text: str) -> bool:
        match = self.vocabulary.match(text)
        return match is not None and match.command is Command.STOP

    def interpret(self, heard: Heard, at: float, awaiting: str | None, speaking: bool = False,
                  speaking_text: str = "") -> Meaning:
        """``awaiting`` is the answer the session waits for ("yesno", "number", "place", "arm-place" or None);
        ``speaking`` whether the companion was talking when this was heard."""
        if heard.recognition is not None:
            return self._spoken(heard, at, awaiting, speaking, speaking_text)
        match = self.vocabulary.match(heard.text)
        if awaiting == "number" and (number := self.vocabulary.number(heard.text)) is not None:
            return Meaning(NumberEvent(at, number, heard.text), None, "number")
        if awaiting in ("place", "arm-place") and (place := self._place(heard.text, awaiting)) and \
                not (match and match.command is Command.STOP):
            return Meaning(PlaceEvent(at, place, heard.text), None, "place")
        if match:
            return Meaning(CommandEvent(at, match.command, heard.text), match.command.value, "command")
        answer = self.vocabulary.answer(heard.text)
        if answer is not None:
            return Meaning(AnswerEvent(at, answer, heard.text), None, "answer")
        return Meaning(Unrecognised(at, heard.text), None, "not a command")

    def _spoken(self, heard: Heard, at: float, awaiting: str | None, speaking: bool, speaking_text: str) -> Meaning:
        recognition = heard.recognition
        decision = self.understanding.decide(recognition, speaking=speaking,
                                             speaking_text=speaking_text if speaking else "")
        is_stop = decision.command is Command.STOP
        if awaiting in ("place", "arm-place") and not speaking and not is_stop and \
                recognition.confidence >= self.understanding.policy.ask and \
                (place := self._place(heard.text, awaiting)):
            return Meaning(PlaceEvent(at, place, heard.text), None, "place")
        if decision.kind == "ignore":
            return Meaning(None, None, decision.reason)
        if decision.kind == "answer":
            return Meaning(AnswerEvent(at, decision.answer, heard.text), None, "answer")
        if decision.kind == "number":
            return Meaning(NumberEvent(at, decision.number, heard.text), None, "number")
        confirm = decision.kind == "confirm"
        event = CommandEvent(at, decision.command, heard.text, confirm=confirm,
                             name=self.vocabulary.name(decision.command))
        return Meaning(event, decision.command.value, decision.kind)

    def _place(self, text: str, awaiting: str) -> str | None:
        return self.vocabulary.arm_place(text) if awaiting == "arm-place" else self.vocabulary.place(text)

    def sure_enough(self, heard: Heard) -> bool:
        """A spoken pain score or place this sure is taken as said; below, it is read back first."""
        return heard.recognition is None or heard.recognition.confidence >= self.understanding.policy.act
