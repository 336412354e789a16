"""What one utterance means in the dialogue state the session is in.

Every input (microphone, keyboard, script) comes through here, so the word
"pause" follows one path: :class:`Heard` -> :class:`Interpreter` -> an engine
event. Spoken input goes through the confidence policy
(:mod:`companion.language.understanding`) first; typed input is taken as meant.
While a pain score or place is asked, a place word is where it hurts, not a command.
(Bare "back" is no command at all: "my back hurts more" is a symptom, found first by the runner.)
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from companion.engine.events import (AnswerEvent, Command, CommandEvent, Event, NumberEvent, PlaceEvent,
                                     Unrecognised)
from companion.language.heard import Heard
from companion.language.understanding import Understanding
from companion.language.vocabulary import Vocabulary
from companion.speech.ports import Recognition


@dataclass(frozen=True)
class Meaning:
    """An utterance understood: the event to feed (None: ignore it), the command's name, and why."""

    event: Event | None
    command: str | None
    how: str


# The answers that are read back when unsure ("I heard: thigh. Is that right?"), so a guess may be asked about.
READ_BACK = frozenset({"number", "place", "arm-place"})


class Interpreter:
    def __init__(self, vocabulary: Vocabulary, understanding: Understanding | None = None):
        self.vocabulary = vocabulary
        self.understanding = understanding or Understanding(vocabulary)

    def is_stop(self, text: str) -> bool:
        match = self.vocabulary.match(text)
        return match is not None and match.command is Command.STOP

    def interpret(self, heard: Heard, at: float, awaiting: str | None, speaking: bool = False,
                  speaking_text: str = "", question: str = "") -> Meaning:
        """``awaiting`` is the answer the session waits for ("yesno", "number", "place", "arm-place" or None);
        ``speaking`` whether the companion was talking when this was heard, and ``speaking_text`` what it
        was saying; ``question`` the yes/no question it waits on (a yes or no said over it answers it)."""
        if heard.recognition is not None:
            return self._spoken(heard, at, awaiting, speaking, speaking_text, question)
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

    def with_guess(self, heard: Heard, awaiting: str | None) -> Heard:
        """An utterance that gave no answer, taken as its recogniser's best guess (``details["guess"]``)
        where that guess answers what the session waits for and the answer is read back when unsure.

        A person asked where it hurts who says "thigh" hears "I heard: thigh. Is that right?" rather
        than silence; a wrong guess costs one "no". A yes or no, a command or a stop is never guessed.
        "No answer" is nothing heard, or a word or two transcribed that answer nothing here ("my eye"
        for espeak-ng's "my thigh"); the caller still checks that transcript for red flags and symptoms."""
        recognition = heard.recognition
        if recognition is None or awaiting not in READ_BACK or not recognition.details.get("guess"):
            return heard
        if recognition.text and not (recognition.details.get("free_form") and self._no_answer(recognition.text,
                                                                                                 awaiting)):
            return heard
        guess = str(recognition.details["guess"])
        answers = self.vocabulary.number(guess) is not None if awaiting == "number" else self._place(guess, awaiting)
        if not answers:
            return heard
        match = self.vocabulary.match(guess)
        if match is not None and match.command is Command.STOP:
            return heard
        decided = recognition.details.get("decided_by", "")
        taken = replace(recognition, text=guess, confidence=self.understanding.policy.ask,
                        details={**recognition.details, "free_form": False,
                                 "decided_by": f"{decided}; its best guess, read back"})
        return replace(heard, text=guess, recognition=taken)

    def _no_answer(self, text: str, awaiting: str) -> bool:
        """``text`` (a transcript) neither answers what is awaited nor says a command."""
        vocabulary = self.vocabulary
        answer = vocabulary.sentence_number(text) if awaiting == "number" else self._place(text, awaiting)
        return answer is None and vocabulary.sentence_command(text) is None

    def _spoken(self, heard: Heard, at: float, awaiting: str | None, speaking: bool, speaking_text: str,
                question: str) -> Meaning:
        recognition = heard.recognition
        if recognition.details.get("free_form"):
            return self._sentence(heard, at, awaiting, speaking, speaking_text, question)
        decision = self.understanding.decide(recognition, speaking=speaking,
                                             speaking_text=speaking_text if speaking else "",
                                             question=question)
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

    def _sentence(self, heard: Heard, at: float, awaiting: str | None, speaking: bool, speaking_text: str,
                  question: str) -> Meaning:
        """A whole sentence transcribed by the free-speech model (Whisper), not a phrase of the grammar.

        It is read strictly: an answer to what the session waits for, then a command that is the
        whole sentence (or a stop anywhere in it), then a question for the knowledge base
        (``how`` = "question"); any other sentence is chatter and changes nothing. Symptoms and
        red flags in it are the runner's, found before this.
        """
        recognition, text = heard.recognition, heard.text
        vocabulary, policy = self.vocabulary, self.understanding.policy
        raw = str(recognition.details.get("whisper", {}).get("transcript", text))
        if recognition.confidence < policy.ask:
            return Meaning(None, None, f"free speech too unsure ({recognition.confidence:.2f})")
        if not speaking:
            if awaiting == "yesno" and (answer := vocabulary.sentence_answer(text)) is not None:
                return Meaning(AnswerEvent(at, answer, text), None, "answer")
            if awaiting == "number" and (number := vocabulary.sentence_number(text)) is not None:
                return Meaning(NumberEvent(at, number, text), None, "number")
            if awaiting in ("place", "arm-place") and (place := self._place(text, awaiting)):
                return Meaning(PlaceEvent(at, place, text), None, "place")
        match = vocabulary.sentence_command(text)
        if match is not None and awaiting is not None and match.command not in (Command.STOP, Command.RESUME):
            # While an answer is awaited only stop and resume work, as the grammar of that state has it.
            match = None
        if match is not None:
            phrase = Recognition(match.phrase, recognition.confidence, recognition.engine, recognition.decode_ms,
                                 {**recognition.details, "free_form": False, "sentence": text})
            return self._spoken(Heard(heard.at, match.phrase, heard.source, phrase, heard.over_speech), at, awaiting,
                                speaking, speaking_text, question)
        if speaking:
            return Meaning(None, None, "a sentence said over the companion's voice")
        if vocabulary.is_question(raw):
            return Meaning(None, None, "question")
        return Meaning(None, None, "free speech that asks for nothing")

    def _place(self, text: str, awaiting: str) -> str | None:
        return self.vocabulary.arm_place(text) if awaiting == "arm-place" else self.vocabulary.place(text)

    def sure_enough(self, heard: Heard) -> bool:
        """A spoken pain score or place this sure is taken as said; below, it is read back first."""
        return heard.recognition is None or heard.recognition.confidence >= self.understanding.policy.act
