"""The Judge: what a recording means in each dialogue state, as ``companion listen --state`` reports it."""

from __future__ import annotations

import pytest

from companion.app.hearing import Judge
from companion.language.vocabulary import load_vocabulary
from companion.speech.ports import Recognition


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge(load_vocabulary())


def guessed(phrase: str) -> Recognition:
    return Recognition("", 0.0, "fused", details={"decided_by": "whisper rejects", "guess": phrase})


def test_a_guess_at_a_place_is_asked_about_where_a_place_is_awaited(judge):
    row = judge.judge(guessed("thigh"), "place")
    assert (row["command"], row["decision"], row["transcript"]) == ("place:thigh", "confirm", "thigh")
    assert row["evidence"]["decided_by"] == "whisper rejects; its best guess, read back"


def test_a_guess_at_a_number_is_asked_about_where_a_score_is_awaited(judge):
    row = judge.judge(guessed("three"), "number")
    assert (row["command"], row["decision"]) == ("number:3", "confirm")


@pytest.mark.parametrize("state, phrase", [("commands", "pause"), ("yes-no", "yes"), ("place", "stop"),
                                           ("number", "thigh")])
def test_a_guess_draws_no_reply_anywhere_else(judge, state, phrase):
    row = judge.judge(guessed(phrase), state)
    assert row["command"] is None and row["decision"] == "ignore"


def test_a_transcript_that_describes_a_symptom_is_that_symptom_not_its_guess(judge):
    """As in a session (tests/care/test_session_care.py): the words are checked before the guess is taken."""
    dizzy = Recognition("i feel dizzy", 0.8, "fused", details={"free_form": True, "guess": "thigh",
                                                                "decided_by": "whisper transcript"})
    row = judge.judge(dizzy, "place")
    assert (row["command"], row["decision"]) == ("symptom:dizziness", "act")
