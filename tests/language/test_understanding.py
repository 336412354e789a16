"""The policy that turns a recognition into act / ask / ignore."""

from __future__ import annotations

import pytest

from companion.engine.events import Command
from companion.speech.ports import Recognition
from companion.language.understanding import Policy, Understanding
from companion.language.vocabulary import load_vocabulary


@pytest.fixture(scope="module")
def policy():
    return Understanding(load_vocabulary(), Policy(act=0.8, ask=0.4, harmless=0.5, stop=0.6))


def heard(text, confidence):
    return Recognition(text, confidence, "test")


@pytest.mark.parametrize("text, confidence, kind, command", [
    ("next", 0.9, "command", Command.NEXT),
    ("next", 0.5, "confirm", Command.NEXT),
    ("next", 0.2, "ignore", None),
    ("stop", 0.7, "command", Command.STOP),
    ("stop", 0.45, "confirm", Command.STOP),
    ("stop", 0.1, "ignore", None),
    ("help", 0.55, "command", Command.HELP),
    ("how many are left", 0.45, "ignore", None),
    ("", 0.99, "ignore", None),
])
def test_thresholds(policy, text, confidence, kind, command):
    decision = policy.decide(heard(text, confidence))
    assert decision.kind == kind and decision.command == command


def test_yes_no_and_numbers(policy):
    assert policy.decide(heard("yes", 0.9)).answer is True
    assert policy.decide(heard("she says no", 0.9)).answer is False
    assert policy.decide(heard("seven", 0.9)).number == 7
    assert policy.decide(heard("seven", 0.1)).kind == "ignore"


def test_only_stop_counts_while_the_companion_speaks(policy):
    assert policy.decide(heard("next", 0.99), speaking=True).kind == "ignore"
    assert policy.decide(heard("stop", 0.9), speaking=True).command is Command.STOP


def test_its_own_stop_is_ignored_while_it_says_stop(policy):
    said = "If this is uncomfortable, say stop."
    assert policy.decide(heard("stop", 0.99), speaking=True, speaking_text=said).kind == "ignore"
    assert policy.decide(heard("halt", 0.9), speaking=True, speaking_text=said).command is Command.STOP


def test_an_unsure_stop_over_its_own_voice_is_ignored(policy):
    assert policy.decide(heard("stop now", 0.5), speaking=True).kind == "ignore"
    assert policy.decide(heard("stop now", 0.5), speaking=False).kind == "confirm"


def test_with_the_echo_cancelled_a_stop_over_its_voice_counts_as_between_sentences():
    cancelled = Understanding(load_vocabulary(), Policy(act=0.8, ask=0.4, harmless=0.5, stop=0.6),
                              echo_cancelled=lambda: True)
    said = "If this is uncomfortable, say stop."
    assert cancelled.decide(heard("stop now", 0.5), speaking=True).kind == "confirm"  # pause at once, then ask
    assert cancelled.decide(heard("stop", 0.9), speaking=True, speaking_text=said).command is Command.STOP
    assert cancelled.decide(heard("stop", 0.3), speaking=True).kind == "ignore"  # still below the floor
    assert cancelled.decide(heard("next", 0.99), speaking=True).kind == "ignore"  # and still only stop counts


def test_a_canceller_still_learning_the_room_keeps_the_strict_rule():
    learning = Understanding(load_vocabulary(), Policy(act=0.8, ask=0.4, harmless=0.5, stop=0.6),
                             echo_cancelled=lambda: False)
    assert learning.decide(heard("stop now", 0.5), speaking=True).kind == "ignore"


def test_a_decision_names_what_was_understood_or_none_when_ignored():
    from companion.language.understanding import Decision

    assert Decision("confirm", Command.NEXT).label == "next"
    assert Decision("answer", answer=False).label == "no"
    assert Decision("number", number=0).label == "number:0"
    assert Decision("ignore", reason="too unsure").label is None


def test_a_place_answer_for_the_neck_uses_the_arm_places():
    from companion.engine.events import PlaceEvent
    from companion.language.heard import Heard
    from companion.language.interpret import Interpreter
    from companion.language.vocabulary import load_vocabulary

    interpreter = Interpreter(load_vocabulary())
    meaning = interpreter.interpret(Heard(1.0, "my shoulder", "keyboard"), 1.0, "arm-place")
    assert isinstance(meaning.event, PlaceEvent) and meaning.event.place == "shoulder"
    meaning = interpreter.interpret(Heard(1.0, "my thigh", "keyboard"), 1.0, "place")
    assert meaning.event.place == "thigh"
    assert interpreter.interpret(Heard(1.0, "stop", "keyboard"), 1.0, "arm-place").command == "stop"


def _rejected(guess: str) -> Recognition:
    return Recognition("", 0.0, "fused", details={"decided_by": "whisper rejects", "guess": guess})


@pytest.mark.parametrize("awaiting, guess, taken", [
    ("place", "thigh", True), ("arm-place", "my neck", True), ("number", "three", True),
    ("place", "three", False),  # not an answer to this question
    ("place", "stop", False), ("number", "stop", False),  # a stop is never guessed
    ("yesno", "yes", False),  # a yes or no is not read back, so never guessed
    (None, "pause", False),  # nor is a command
])
def test_a_guess_is_taken_only_as_an_answer_that_is_read_back(awaiting, guess, taken):
    from companion.language.heard import Heard
    from companion.language.interpret import Interpreter

    interpreter = Interpreter(load_vocabulary())
    heard = Heard(1.0, "", "voice", _rejected(guess))
    after = interpreter.with_guess(heard, awaiting)
    if not taken:
        assert after is heard
        return
    assert after.text == guess and after.recognition.confidence == Policy().ask
    assert after.recognition.details["decided_by"] == "whisper rejects; its best guess, read back"
    assert not interpreter.sure_enough(after)  # so it is read back: "I heard: thigh. Is that right?"
    meaning = interpreter.interpret(after, 1.0, awaiting)
    assert meaning.event is not None and meaning.how in ("place", "number")


@pytest.mark.parametrize("transcript, taken", [("my eye", True), ("bye", True), ("my leg", False), ("stop please", False)])
def test_a_word_or_two_transcribed_that_answer_nothing_give_way_to_the_guess(transcript, taken):
    """espeak-ng's "my thigh" transcribed "my eye": no place, so the grammar's best guess is read back."""
    from companion.language.heard import Heard
    from companion.language.interpret import Interpreter

    free = Recognition(transcript, 0.74, "fused", details={"free_form": True, "guess": "thigh",
                                                            "decided_by": "whisper transcript"})
    heard = Heard(1.0, transcript, "voice", free)
    after = Interpreter(load_vocabulary()).with_guess(heard, "place")
    assert (after.text, after.recognition.confidence) == (("thigh", Policy().ask) if taken else (transcript, 0.74))


def test_a_recognition_that_heard_something_keeps_it_over_its_guess():
    from companion.language.heard import Heard
    from companion.language.interpret import Interpreter

    heard = Heard(1.0, "my leg", "voice", Recognition("my leg", 0.5, "fused", details={"guess": "thigh"}))
    assert Interpreter(load_vocabulary()).with_guess(heard, "place") is heard


# -- an answer said over its own yes/no question ------------------------------------------------

CONFIRM = "Did you say pause? Say yes or no."
COMFORT = "Are you comfortable?"


def test_a_yes_or_no_over_its_own_question_answers_it_once_its_voice_is_cancelled():
    cancelled = Understanding(load_vocabulary(), echo_cancelled=lambda: True)
    decision = cancelled.decide(heard("yes", 0.5), speaking=True, speaking_text=CONFIRM, question=CONFIRM)
    assert decision.kind == "answer" and decision.answer is True
    assert cancelled.decide(heard("no", 0.5), speaking=True, speaking_text=CONFIRM, question=CONFIRM).answer is False
    # Not while it says something else, nor with no question waiting: then only stop counts, as before.
    assert cancelled.decide(heard("yes", 0.9), speaking=True, speaking_text="Rest for 30 seconds.",
                            question=CONFIRM).kind == "ignore"
    assert cancelled.decide(heard("yes", 0.9), speaking=True, speaking_text=CONFIRM).kind == "ignore"
    assert cancelled.decide(heard("next", 0.99), speaking=True, speaking_text=CONFIRM,
                            question=CONFIRM).kind == "ignore"
    assert cancelled.decide(heard("yes", 0.1), speaking=True, speaking_text=CONFIRM,
                            question=CONFIRM).kind == "ignore"  # below the answer floor


def test_without_a_canceller_its_own_say_yes_or_no_never_answers_itself():
    raw = Understanding(load_vocabulary())
    for answer in ("yes", "yeah", "no", "nope"):
        decision = raw.decide(heard(answer, 0.99), speaking=True, speaking_text=CONFIRM, question=CONFIRM)
        assert decision.kind == "ignore" and "saying that answer" in decision.reason, answer
    # A question without those words: a sure answer over it counts, an unsure one may be its own voice.
    assert raw.decide(heard("no", 0.95), speaking=True, speaking_text=COMFORT, question=COMFORT).answer is False
    assert raw.decide(heard("yes", 0.5), speaking=True, speaking_text=COMFORT, question=COMFORT).kind == "ignore"
    # Stop over it is still stop.
    assert raw.decide(heard("stop", 0.99), speaking=True, speaking_text=COMFORT,
                      question=COMFORT).command is Command.STOP


def test_an_answer_between_sentences_is_unchanged_by_a_question():
    raw = Understanding(load_vocabulary())
    assert raw.decide(heard("yes", 0.4), question=CONFIRM).answer is True


def test_the_interpreter_passes_the_question_on():
    from companion.engine.events import AnswerEvent
    from companion.language.heard import Heard
    from companion.language.interpret import Interpreter

    interpreter = Interpreter(load_vocabulary(), Understanding(load_vocabulary(), echo_cancelled=lambda: True))
    said = Heard(3.0, "yes", "voice", heard("yes", 0.8))
    meaning = interpreter.interpret(said, 3.0, "yesno", speaking=True, speaking_text=CONFIRM, question=CONFIRM)
    assert isinstance(meaning.event, AnswerEvent) and meaning.event.answer is True
    assert interpreter.interpret(said, 3.0, "yesno", speaking=True, speaking_text=CONFIRM).event is None
