"""Judge one recording exactly as a live session would, in a named dialogue state.

``companion listen --state`` and the benchmarks use this, so a figure measured
on files is a figure for sessions: the same grammar for the state
(:mod:`companion.language.grammars`), the same safety checks first (red flags,
then symptoms, as :class:`companion.app.runner.Runner` does), and the same
interpreter and confidence policy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from companion.content.library import Library
from companion.engine.events import AnswerEvent, CommandEvent, NumberEvent, PlaceEvent, Unrecognised
from companion.knowledge.redflags import detect
from companion.knowledge.symptoms import detect_symptom
from companion.language.grammars import grammar_for
from companion.language.heard import Heard
from companion.language.interpret import Interpreter
from companion.language.menu import Menu
from companion.language.vocabulary import Vocabulary
from companion.speech.ports import Recognition

# The dialogue states a recording can be heard in, and what the session would be awaiting there.
# "all" (every command, answer and number, nothing awaited) is for tools that do not know the state.
STATES: dict[str, str | None] = {"commands": None, "yes-no": "yesno", "number": "number", "place": "place",
                                 "free": None, "menu": None, "all": None}
_CONTEXT = {"commands": "commands", "yes-no": "answer", "number": "number", "place": "place", "free": "question",
            "all": "all"}


@dataclass
class Judge:
    """What a recording means in each state; built once, used for many files."""

    vocabulary: Vocabulary
    library: Library | None = None

    def __post_init__(self) -> None:
        self.interpreter = Interpreter(self.vocabulary)
        self._menu: Menu | None = None

    @property
    def menu(self) -> Menu:
        if self._menu is None:
            if self.library is None:
                from companion.content.library import load_library

                self.library = load_library()
            self._menu = Menu(self.library, self.vocabulary)
        return self._menu

    def grammar(self, state: str) -> list[str] | None:
        """The phrases listened for in ``state``; None is free speech."""
        if state == "menu":
            return self.menu.grammar()
        return grammar_for(_CONTEXT[state], self.vocabulary)

    def judge(self, recognition: Recognition, state: str) -> dict[str, Any]:
        """``{"transcript", "command", "decision", "reason", "confidence", "decode_ms", "engine", "evidence"}``.

        ``decision`` is "act" (it would happen at once), "confirm" (it would be
        asked about first) or "ignore" (no reply at all). ``command`` names what
        was understood: a command ("stop"), "yes"/"no", "number:3", "place:thigh",
        "red-flag:<id>", "symptom:<id>", "question" or "start:<routine>".
        """
        said = recognition
        recognition = self.interpreter.with_guess(Heard(0.0, "", "voice", said), STATES[state]).recognition
        text = recognition.text
        row: dict[str, Any] = {"transcript": text, "command": None, "decision": "ignore", "reason": "",
                               "confidence": round(recognition.confidence, 4), "decode_ms": recognition.decode_ms,
                               "engine": recognition.engine, "evidence": recognition.details}
        policy = self.interpreter.understanding.policy
        if not text:
            row["reason"] = "nothing was heard that could be a phrase here"
            return row
        heard = Heard(0.0, text, "voice", recognition)
        awaiting = STATES[state]
        meaning = None
        if state not in ("free", "menu"):
            meaning = self.interpreter.interpret(heard, 0.0, awaiting)
        # As the runner does: a guessed answer is not what the words said, and those are checked first.
        is_answer = meaning is not None and isinstance(meaning.event, (AnswerEvent, NumberEvent, PlaceEvent)) \
            and recognition is said
        if said.confidence >= policy.ask and not is_answer:
            if (flag := detect(said.text)) is not None:
                return {**row, "command": f"red-flag:{flag.id}", "decision": "act", "reason": "red flag"}
            stop = meaning is not None and meaning.command == "stop"
            if not stop and (symptom := detect_symptom(said.text)) is not None:
                return {**row, "command": f"symptom:{symptom.id}", "decision": "act", "reason": "symptom"}
        if state == "free":
            if recognition.confidence >= policy.ask:
                return {**row, "command": "question", "decision": "act", "reason": "free speech"}
            return {**row, "reason": "too unsure to answer"}
        if state == "menu":
            return self._menu_choice(row, recognition)
        assert meaning is not None
        event = meaning.event
        row["reason"] = meaning.how
        if meaning.how == "question" and recognition.confidence >= policy.ask:
            return {**row, "command": "question", "decision": "act"}
        if event is None or isinstance(event, Unrecognised):
            return row
        if isinstance(event, AnswerEvent):
            return {**row, "command": "yes" if event.answer else "no", "decision": "act"}
        if isinstance(event, NumberEvent):
            sure = self.interpreter.sure_enough(heard)
            return {**row, "command": f"number:{event.value}", "decision": "act" if sure else "confirm"}
        if isinstance(event, PlaceEvent):
            sure = self.interpreter.sure_enough(heard)
            return {**row, "command": f"place:{event.place}", "decision": "act" if sure else "confirm"}
        if isinstance(event, CommandEvent):
            return {**row, "command": meaning.command, "decision": "confirm" if event.confirm else "act"}
        return row

    def _menu_choice(self, row: dict[str, Any], recognition: Recognition) -> dict[str, Any]:
        policy = self.interpreter.understanding.policy
        if recognition.confidence < policy.ask:
            return {**row, "reason": "too unsure"}
        choice = self.menu.match(recognition.text, fuzzy=False)
        if choice.kind == "unknown":
            return {**row, "reason": "not a menu phrase"}
        label = {"start": f"start:{choice.entry_id}", "answer": "yes" if choice.answer else "no"}.get(
            choice.kind, choice.kind)
        decision = "act" if recognition.confidence >= policy.act or choice.kind != "start" else "confirm"
        return {**row, "command": label, "decision": decision, "reason": choice.kind}
