"""Text -> command: the phrase table shared by keyboard, scripts and speech."""

from __future__ import annotations

import pytest

from companion.engine.events import Command
from companion.language.normalise import normalise
from companion.language.vocabulary import load_vocabulary


@pytest.fixture(scope="module")
def vocab():
    return load_vocabulary()


def test_every_command_has_phrases_and_its_own_name_works(vocab):
    for command in Command:
        assert vocab.phrases(command), command
        assert vocab.match(vocab.phrases(command)[0]).command is command


@pytest.mark.parametrize("text, command", [
    ("Pause!", Command.PAUSE),
    ("  STOP  ", Command.STOP),
    ("that's enough", Command.STOP),
    ("That’s enough.", Command.STOP),
    ("ok, next please", Command.NEXT),
    ("skip", Command.NEXT),
    ("go back", Command.BACK),
    ("could you say that again", Command.REPEAT),
    ("how many are left?", Command.HOW_MANY_LEFT),
    ("What's next?", Command.WHATS_NEXT),
    ("how much longer", Command.HOW_LONG_LEFT),
    ("what is this exercise for", Command.PURPOSE),
    ("slow down please", Command.SLOWER),
    ("I'm ready", Command.RESUME),
])
def test_phrases_and_synonyms(vocab, text, command):
    assert vocab.match(text).command is command


def test_stop_wins_over_any_other_command_in_the_same_sentence(vocab):
    assert vocab.match("wait stop").command is Command.STOP
    assert vocab.match("next stop it hurts").command is Command.STOP


@pytest.mark.parametrize("text", ["don't stop", "do not pause", "no need to repeat", "I cannot pause"])
def test_negated_commands_do_nothing_or_only_what_is_not_negated(vocab, text):
    match = vocab.match(text)
    if text == "I cannot pause":  # "cannot" is one word, not a negation of the phrase
        assert match.command is Command.PAUSE
    else:
        assert match is None


@pytest.mark.parametrize("text", ["", "   ", "the weather is nice", "stopping by the shop", "nextdoor"])
def test_non_commands(vocab, text):
    assert vocab.match(text) is None


def test_normalise():
    assert normalise("That's   ENOUGH!!") == "thats enough"
    assert normalise("how-long left?") == "how long left"


def test_no_phrase_belongs_to_two_commands(vocab):
    phrases = vocab.all_phrases()
    assert len(phrases) == sum(len(vocab.phrases(c)) for c in Command)


@pytest.mark.parametrize("text", ["back", "my back hurts more", "my back is worse", "back one", "is this the last one",
                                  "lie on your back"])
def test_the_word_back_alone_is_never_the_back_command(vocab, text):
    """ "back" is where it hurts; "my back hurts more" is a symptom (knowledge/symptoms.py), never "go back"."""
    assert vocab.match(text) is None
    assert all("back" != phrase for phrase in vocab.phrases(Command.BACK))


@pytest.mark.parametrize("text", ["go back", "previous", "previous step", "go back one", "please go back"])
def test_going_back_is_said_in_so_many_words(vocab, text):
    assert vocab.match(text).command is Command.BACK


def test_back_is_still_a_pain_place_and_the_arm_has_its_own_places(vocab):
    assert vocab.place("my back") == "back" and vocab.place("back") == "back"
    assert [vocab.arm_place(t) for t in ("my neck", "shoulder blade", "my elbow", "my wrist", "nowhere")] == \
        ["neck", "shoulder", "arm", "hand", "none"]
    assert vocab.arm_place("my calf") is None
    assert vocab.place_name("shoulder") == "shoulder" and vocab.place_name("below-knee") == "below the knee"


def test_the_arm_place_grammar_lists_the_arm_places_stop_and_resume(vocab):
    from companion.language.grammars import grammar_for

    grammar = grammar_for("arm-place", vocab)
    assert {"neck", "shoulder", "my arm", "hand", "stop", "resume"} <= set(grammar)
    assert "thigh" not in grammar and "next" not in grammar


def test_the_hints_tell_a_recogniser_which_phrases_mean_the_same(vocab):
    """Two models writing one answer differently ("nope", "no") must be seen to agree (speech/asr/fused.py)."""
    hints = vocab.hints()
    assert hints.meaning("nope") == hints.meaning("no") == hints.meaning("no thanks")
    assert hints.meaning("yeah") == hints.meaning("yes") != hints.meaning("no")
    assert hints.meaning("stop it") == hints.meaning("halt") and "stop" in hints.stop_phrases
    assert hints.meaning("wall standing") == "wall standing"  # in no group: itself
