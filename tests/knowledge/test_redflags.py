"""The red-flag detector on typed text, recogniser transcripts, misheard words and negation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from companion.knowledge.redflags import LEVELS, SOON, URGENT, RedFlag, default_detector, detect

FLAG_IDS = {"bladder-bowel", "saddle-numbness", "leg-weakness", "fall", "fever", "weight-loss"}
SOON_IDS = {"night-pain"}


def test_the_api_is_small_and_the_advice_says_seek_care_now() -> None:
    flag = detect("I can't feel my bottom when I wipe and my back hurts.")
    assert isinstance(flag, RedFlag)
    assert [f.name for f in dataclasses.fields(RedFlag)] == ["id", "name", "advice", "heard", "level"]
    assert flag.id == "saddle-numbness" and flag.level == URGENT
    assert "urgent" in flag.advice.lower() and "now" in flag.advice.lower()
    assert detect("how should I pick up a heavy box") is None
    assert {f.id for f in default_detector().spec.flags if f.level == URGENT} == FLAG_IDS
    assert {f.id for f in default_detector().spec.flags if f.level == SOON} == SOON_IDS


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


# -- the issue "clinical safety that holds in a real session": paraphrased red flags -----------------


@pytest.mark.parametrize("text, flag", [
    ("Trouble passing water since my back went", "bladder-bowel"),
    ("i have difficulty peeing since my back pain started", "bladder-bowel"),
    ("its hard to wee and my lower back is killing me", "bladder-bowel"),
    ("Back hurts and I feel hot and shivery", "fever"),
    ("my back aches and ive got the shivers", "fever"),
    ("im burning up and my neck is stiff", "fever"),
    ("ive lost about a stone without trying and my back hurts", "weight-loss"),
])
def test_paraphrased_red_flags_are_urgent(text: str, flag: str) -> None:
    got = detect(text)
    assert got is not None and got.id == flag and got.level == URGENT, f"{text!r}: got {got}"


@pytest.mark.parametrize("text", [
    "Can a bladder problem cause back pain?",
    "I have trouble getting off the toilet seat with my bad back",
    "i have trouble bending to put my socks on",
    "should i use a hot water bottle on my back",
    "does a hot shower help my back",
])
def test_difficulty_and_heat_words_alone_are_not_red_flags(text: str) -> None:
    assert detect(text, LEVELS) is None, text


# -- "see a doctor soon": night pain --------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "Pain wakes me at night",
    "my back pain keeps me awake most nights",
    "the ache in my lower back wakes me up around three every morning",
    "i cant sleep for the pain in my back",
    "Should I worry that my back pain is worse at night?",
    "i was woken by the pain in my neck",
])
def test_night_pain_is_a_see_a_doctor_soon_flag(text: str) -> None:
    got = detect(text, LEVELS)
    assert got is not None and got.id == "night-pain" and got.level == SOON, f"{text!r}: got {got}"
    assert "doctor" in got.advice and "next few days" in got.advice


def test_detect_alone_finds_only_urgent_flags_so_listeners_that_end_a_session_are_unchanged() -> None:
    assert detect("Pain wakes me at night") is None
    assert detect("Pain wakes me at night", (SOON,)).id == "night-pain"


def test_an_urgent_flag_wins_over_a_see_a_doctor_soon_one() -> None:
    text = "my back pain wakes me every night and i have a fever"
    assert detect(text, LEVELS).id == "fever"
    assert detect(text, (SOON, URGENT)).id == "fever"


@pytest.mark.parametrize("text", [
    "I woke up with terrible back pain, what should I do first?",
    "I fell asleep on the sofa and woke up with a stiff back",
    "Is it bad to sleep in the same position all night?",
    "How should I sleep with a bad back?",
    "my back pain doesnt wake me at night",
    "I can't sleep on my back, which position is best?",
    "the alarm wakes me at six and my back is stiff",
    "I do my back exercises every night before bed",
])
def test_sleep_questions_are_not_night_pain(text: str) -> None:
    assert detect(text, LEVELS) is None, text


def test_every_red_flag_quote_is_verbatim_on_its_lines() -> None:
    source = Path(__file__).resolve().parents[3] / "shared/source/back-pain-articles.txt"
    if not source.is_file():
        pytest.skip(f"source text not found at {source}; quotes cannot be checked without it")
    lines = source.read_text(encoding="utf-8").splitlines()
    for flag in default_detector().spec.flags:
        for src in flag.sources:
            first, _, last = src.lines.partition("-")
            window = "\n".join(lines[int(first) - 1: int(last or first)])
            assert src.quote in window, f"{flag.id}: quote is not on line(s) {src.lines}: {src.quote!r}"
