"""Whole sentences transcribed by Whisper are read strictly: answers, whole-sentence commands, questions, chatter."""

from __future__ import annotations

import pytest

from companion.engine.events import AnswerEvent, Command, CommandEvent, NumberEvent, PlaceEvent
from companion.language.heard import Heard
from companion.language.interpret import Interpreter
from companion.language.vocabulary import load_vocabulary
from companion.speech.ports import Recognition


@pytest.fixture(scope="module")
def interpreter():
    return Interpreter(load_vocabulary())


def sentence(text: str, confidence: float = 0.8, raw: str | None = None) -> Heard:
    details = {"free_form": True, "whisper": {"transcript": raw or text}}
    return Heard(1.0, text, "voice", Recognition(text, confidence, "fused", details=details))


@pytest.mark.parametrize("said, command", [
    ("ok can we pause please", Command.PAUSE), ("could you go slower please", Command.SLOWER),
    ("i want to stop", Command.STOP), ("just a moment", Command.PAUSE), ("how long is left", Command.HOW_LONG_LEFT),
])
def test_a_command_that_is_the_whole_sentence_counts(interpreter, said, command):
    meaning = interpreter.interpret(sentence(said), 1.0, None)
    assert isinstance(meaning.event, CommandEvent) and meaning.event.command is command


@pytest.mark.parametrize("said", ["i am going to the shop later", "dont stop", "can you go and get the post",
                                  "turn the telly up a bit for your dad"])
def test_chatter_with_command_words_in_it_changes_nothing(interpreter, said):
    meaning = interpreter.interpret(sentence(said), 1.0, None)
    assert meaning.event is None and meaning.how != "question"


@pytest.mark.parametrize("raw", ["Why do my legs tingle when I sit?", "how should I lift a box",
                                 "Is it bad to sit all day?"])
def test_a_question_is_recognised_as_one(interpreter, raw):
    text = " ".join(raw.lower().replace("?", "").split())
    assert interpreter.interpret(sentence(text, raw=raw), 1.0, None).how == "question"


def test_answers_scores_and_places_in_a_sentence(interpreter):
    assert interpreter.interpret(sentence("no its fine"), 1.0, "yesno").event == AnswerEvent(1.0, False, "no its fine")
    number = interpreter.interpret(sentence("about a 5 i think"), 1.0, "number").event
    assert isinstance(number, NumberEvent) and number.value == 5
    place = interpreter.interpret(sentence("mostly in my calf"), 1.0, "place").event
    assert isinstance(place, PlaceEvent) and place.place == "below-knee"


def test_an_unsure_transcript_or_one_said_over_its_voice_is_not_acted_on(interpreter):
    assert interpreter.interpret(sentence("pause", confidence=0.05), 1.0, None).event is None
    over = interpreter.interpret(sentence("why do my legs tingle"), 1.0, None, speaking=True)
    assert over.event is None and over.how != "question"
