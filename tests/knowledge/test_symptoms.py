"""The symptom detector: what said mid-session is a symptom, and what is not.

It reads content/data/en/symptoms.yaml with the red flags' own machinery (concepts,
negation window, scope breakers, misheard words); what each finding does in a session
is tested in tests/app/test_symptoms_in_session.py (one test per row of the table).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from companion.content.locale import data_file
from companion.knowledge.base import check_knowledge
from companion.knowledge.redflags import ConceptMatcher, RedFlagDetector
from companion.knowledge.symptoms import Symptom, default_symptom_detector, detect_symptom, load_symptoms

FINDINGS = {"chest-pain": "end", "breathlessness": "end", "weakness": "end", "dizziness": "end", "nausea": "pause",
            "spreading-leg": "ask-spread", "spreading-arm": "ask-spread", "spreading-unplaced": "ask-spread",
            "tingling": "ask-spread",
            "numbness": "ask-spread", "worse-pain": "ask-score"}


def test_the_api_is_small_and_shares_the_red_flag_machinery():
    found = detect_symptom("The pain is going down my leg.")
    assert isinstance(found, Symptom)
    assert [f.name for f in dataclasses.fields(Symptom)] == ["id", "name", "action", "say", "heard"]
    assert found.id == "spreading-leg" and found.action == "ask-spread" and found.say.endswith("yes or no.")
    detector = default_symptom_detector()
    assert isinstance(detector, ConceptMatcher) and issubclass(RedFlagDetector, ConceptMatcher)


def test_the_table_has_every_finding_with_its_action():
    assert {row.id: row.action for row in default_symptom_detector().spec.findings} == FINDINGS


@pytest.mark.parametrize("text, finding", [
    # the issue's own examples
    ("Pain down my leg", "spreading-leg"),
    ("my leg is tingling", "tingling"),
    ("it's spreading into my buttock", "spreading-leg"),
    ("I feel dizzy", "dizziness"),
    ("My back hurts more", "worse-pain"),
    ("my back is worse", "worse-pain"),
    # typed, and as a recogniser writes it
    ("The pain is shooting down the back of my thigh.", "spreading-leg"),
    ("its going down into my foot", "spreading-leg"),
    ("the pain is going down my life", "spreading-leg"),  # Whisper at 20 dB (bench/live.py)
    ("the pain is going down my", "spreading-unplaced"),  # the last word lost
    ("it hurts all the way down my back", "spreading-unplaced"),
    ("pins and needles in my fingers", "tingling"),
    ("my hand has gone numb", "numbness"),
    ("my arm feels weak", "weakness"),
    ("the pain is spreading into my shoulder blade", "spreading-arm"),
    ("it is getting worse", "worse-pain"),
    ("more pain now", "worse-pain"),
    ("i feel a bit light headed", "dizziness"),
    ("i think im going to faint", "dizziness"),
    ("my chest is tight", "chest-pain"),
    ("pain in my chest", "chest-pain"),
    ("im really short of breath", "breathlessness"),
    ("i feel sick", "nausea"),
    # misheard words
    ("i have pins and needle in my foot", "tingling"),
    ("i feel dizy", "dizziness"),
    ("im nausious", "nausea"),
    # the most serious finding wins
    ("my leg is tingling and i feel dizzy", "dizziness"),
    ("my leg hurts more", "spreading-leg"),
])
def test_detects(text, finding):
    got = detect_symptom(text)
    assert got is not None and got.id == finding, f"{text!r}: got {got}"


@pytest.mark.parametrize("text", [
    # negated, and conditional
    "my leg is not tingling",
    "the pain is not going down my leg",
    "no pain in my legs",
    "I don't feel dizzy",
    "it isn't getting worse",
    "no chest pain",
    "what should I do if my leg starts tingling",
    "is it bad if I feel dizzy",
    # commands and answers stay what they are
    "stop", "go back", "previous", "how many are left", "what is this for", "yes", "no", "seven", "back",
    "one more time", "how many more", "slower please", "keep going",
    # everyday talk during an exercise
    "I lift my legs off the floor", "my legs are tired", "I feel the stretch in my back",
    "my back feels better", "I'm sick of this exercise", "the bottom of my back is stiff",
    "I can't feel the stretch", "keep your shoulders soft",
])
def test_does_not_detect(text):
    got = detect_symptom(text)
    assert got is None, f"{text!r}: got {got}"


def test_a_scope_breaker_ends_the_negation():
    assert detect_symptom("I'm not dizzy but my leg is tingling").id == "tingling"


def test_the_shipped_symptom_file_is_part_of_check():
    assert load_symptoms().problems == []
    assert check_knowledge() == []


def broken(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(data_file("symptoms.yaml").read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "symptoms.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("change, field, message", [
    (lambda d: d["findings"][0]["patterns"][0].__setitem__("all", ["no-such-concept"]),
     "findings[0].patterns[0].all[0]", "unknown concept 'no-such-concept'"),
    (lambda d: d["findings"][3]["examples"].append("I feel fine"),
     "findings[3].examples[4]", "must be detected as 'dizziness', but it gives nothing"),
    (lambda d: d["findings"][3]["not_examples"].append("I feel dizzy now"),
     "findings[3].not_examples[3]", "must not be a symptom, but it is detected as 'dizziness'"),
    (lambda d: d["findings"][1].__setitem__("id", "chest-pain"), "findings[1].id", "duplicate finding id"),
    (lambda d: d["findings"][0].__setitem__("action", "panic"), "findings[0].action", ""),
])
def test_a_broken_symptom_file_reports_file_line_field(tmp_path, change, field, message):
    path = broken(tmp_path, change)
    loaded = load_symptoms(path)
    assert loaded.detector is None, "a symptom file with problems must not give a detector"
    matching = [p for p in loaded.problems if p.field == field and message in p.message]
    assert matching, "\n".join(map(str, loaded.problems))
    assert matching[0].file == str(path) and matching[0].line > 1
