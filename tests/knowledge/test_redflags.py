"""The red-flag detector on typed text, recogniser transcripts, misheard words and negation."""

from __future__ import annotations

import dataclasses

import pytest

from companion.knowledge.redflags import RedFlag, default_detector, detect

FLAG_IDS = {"bladder-bowel", "saddle-numbness", "leg-weakness", "fall", "fever", "weight-loss"}


def test_the_api_is_small_and_the_advice_says_seek_care_now() -> None:
    flag = detect("I can't feel my bottom when I wipe and my back hurts.")
    assert isinstance(flag, RedFlag)
    assert [f.name for f in dataclasses.fields(RedFlag)] == ["id", "name", "advice", "heard"]
    assert flag.id == "saddle-numbness"
    assert "urgent" in flag.advice.lower() and "now" in flag.advice.lower()
    assert detect("how should I pick up a heavy box") is None
    assert {f.id for f in default_detector().spec.flags} == FLAG_IDS


@pytest.mark.parametrize("text, flag", [
    # typed
    ("I've lost control of my bladder.", "bladder-bowel"),
    ("Since Tuesday I can't control my bowels.", "bladder-bowel"),
    ("I have no control over my bladder", "bladder-bowel"),
    ("I can't feel my bottom when I wipe and my back hurts", "saddle-numbness"),
    ("My legs keep giving way.", "leg-weakness"),
    ("I slipped on the stairs and my back really hurts.", "fall"),
    ("I have osteoporosis and had a fall this morning.", "fall"),
    ("I've got a fever and my lower back aches.", "fever"),
    ("I've lost 6 kilos without trying and my back hurts.", "weight-loss"),
    # transcripts: lower case, no punctuation, run-on
    ("i cant feel my bottom when i wipe and my back hurts", "saddle-numbness"),
    ("my back went yesterday and now i cant pee", "bladder-bowel"),
    ("ive got pins and needles around my back passage", "saddle-numbness"),
    ("my back has been hurting for weeks and i didnt think much of it but since yesterday ive had a fever",
     "fever"),
    ("both my legs have gone numb", "leg-weakness"),
    ("i tripped over the dog and landed on my back", "fall"),
    # misheard words
    ("i cant control my bowl movements", "bladder-bowel"),
    ("i think i have a fiver and my back is killing me", "fever"),
    ("unexplained wait loss and back ache", "weight-loss"),
    ("my mum has osteo porosis and fell over", "fall"),
    ("i cant feel my bottom when i wife", "saddle-numbness"),
    # a red flag wins even inside an ordinary question
    ("how do i lift a box now that i wet myself when i bend", "bladder-bowel"),
])
def test_detects(text: str, flag: str) -> None:
    got = detect(text)
    assert got is not None and got.id == flag, f"{text!r}: got {got}"


@pytest.mark.parametrize("text", [
    # negation, typed and transcribed
    "I have no fever, just a stiff back.",
    "no fever no weight loss just back ache",
    "I don't have a fever but my back hurts",
    "i havent lost control of my bladder or anything",
    "there is no numbness between my legs",
    "i dont think i have a fever",
    "never had any numbness around my bottom",
    # words that look like red flags but are not
    "can a sneeze cause a slipped disc",
    "i slipped a disc last year, can i swim",
    "I fell asleep on the sofa and woke up stiff",
    "my leg goes numb when I sneeze, is that the disc?",
    "numbness in my buttock and down the back of my thigh",
    "will losing weight help my back pain",
    "does being overweight cause back pain",
    "is the flying swallow ok if my back muscles are weak",
    "can a bladder infection cause back pain",
    "does straining on the toilet make back pain worse",
    "can osteoporosis cause back pain",
])
def test_does_not_flag(text: str) -> None:
    got = detect(text)
    assert got is None, f"{text!r} was flagged as {got.id} (heard: {got.heard})"


@pytest.mark.parametrize("text", ["", "   ", "?!", "um"])
def test_empty_or_noise_is_not_a_red_flag(text: str) -> None:
    assert detect(text) is None


def test_a_scope_breaker_ends_negation() -> None:
    assert detect("no fever earlier but now i have a fever and my back aches").id == "fever"
    assert detect("no fever but i have lost control of my bladder").id == "bladder-bowel"


def test_heard_names_the_matching_phrases() -> None:
    flag = detect("my back is sore and i have a high temperature")
    assert flag.id == "fever" and "high temperature" in flag.heard and "back" in flag.heard


@pytest.mark.parametrize("text", ["what exercises help weak legs", "my knees are weak, can I do knees to chest"])
def test_errs_towards_flagging_leg_weakness(text: str) -> None:
    """Known and accepted: any mention of weak legs gets the urgent advice, even as a general question.

    Telling apart "my legs are weak (new, getting worse)" from "how do I strengthen weak legs"
    needs more than phrase matching; a false alarm costs a doctor's visit, a miss costs more.
    """
    assert detect(text).id == "leg-weakness"
