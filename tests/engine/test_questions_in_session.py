"""Comfort checks in holds, questions during a session, red flags said mid-session."""

from __future__ import annotations

from tests.conftest import run_virtual


def said(records):
    return [r["text"] for r in records if r["kind"] == "say"]


def hold_start(records):
    return next(r["t"] for r in records if r["kind"] == "beep" and r["text"] == "start")


def test_not_comfortable_ends_the_exercise(library, phrases):
    begin = hold_start(run_virtual(library, "wall-standing"))
    records = run_virtual(library, "wall-standing", [(begin + 61, "no")])
    assert phrases.comfort_no in said(records)
    assert records[-1]["text"] == "completed"
    assert any(r["kind"] == "answered" and r["tag"] == "comfort" for r in records)
    assert not any(r["kind"] == "exercise_done" for r in records)  # cut short: not counted as practised
    assert records[-1]["t"] < begin + 100  # the 5-minute hold was cut short


def test_comfortable_carries_on(library, phrases):
    begin = hold_start(run_virtual(library, "wall-standing"))
    records = run_virtual(library, "wall-standing", [(begin + 61, "yes")])
    assert phrases.comfort_yes in said(records)
    assert records[-1]["t"] > begin + 300


def test_question_then_status_is_answered_from_the_live_session(library, phrases):
    records = run_virtual(library, "flying-swallow", [(60, "I have a question"), (62, "how many are left")])
    texts = said(records)
    assert phrases.ask_question in texts
    status = next(r for r in records if r["kind"] == "say" and r["say"] == "status")
    assert status["text"].endswith("left in this set. 2 more after this one.")
    assert phrases.resumed in texts
    assert records[-1]["text"] == "completed"


def test_question_then_knowledge_answer_with_one_treatment_reminder(library):
    records = run_virtual(library, "wall-standing", [
        (20, "question"), (21, "how should I lift a heavy box"),
        (40, "question"), (41, "should I have surgery for a herniated disc"),
        (60, "question"), (61, "is surgery better than exercises for a disc"),
    ])
    answers = [r["text"] for r in records if r["kind"] == "say" and r["say"] == "status"]
    assert any("squat" in a.lower() for a in answers)
    reminded = [a for a in answers if "I don't replace a doctor" in a]
    assert len(reminded) == 1 and reminded[0].startswith("Surgery")  # once per session, on a treatment answer
    assert records[-1]["text"] == "completed"


def test_a_red_flag_question_ends_the_session_with_advice(library):
    records = run_virtual(library, "wall-standing", [(30, "question"),
                                                     (32, "I can't feel my bottom when I wipe")])
    assert records[-1]["kind"] == "finished" and records[-1]["text"] == "red-flag"
    assert any(r["kind"] == "red_flag" and r["flag_id"] == "saddle-numbness" for r in records)
    assert "emergency" in said(records)[-1]


def test_a_red_flag_said_any_time_ends_the_session(library):
    records = run_virtual(library, "wall-standing", [(30, "I've lost control of my bladder")])
    assert records[-1]["text"] == "red-flag"


def test_stop_still_stops_while_a_question_is_open(library):
    records = run_virtual(library, "wall-standing", [(30, "question"), (31, "stop")])
    assert records[-1]["text"] == "stopped"


def run_heard(library, entry_id, heard):
    """As run_virtual, with utterances as the microphone hands them on (a Recognition with its details)."""
    from companion.app.runner import Runner
    from companion.engine.clock import VirtualClock
    from companion.language.heard import Heard
    from companion.language.vocabulary import load_vocabulary
    from companion.speech.ports import Recognition
    from tests.conftest import Collector, make_session

    collector = Collector()
    script = [Heard(t, text, "voice", Recognition(text, 0.95, "fused", details=details)) for t, text, details in heard]
    Runner(make_session(library, entry_id), VirtualClock(), load_vocabulary(), [collector], script=script).run()
    return collector.records


def test_a_spoken_question_is_answered_from_the_reading_the_knowledge_base_knows(library):
    """Whisper at 20 dB wrote "how should we isolate with a bad back"; its next reading had "sleep"."""
    readings = {"readings": ["how should we isolate with a bad back", "how should i sleep with a bad back"]}
    records = run_heard(library, "wall-standing", [(20, "question", {}),
                                                   (21, "how should we isolate with a bad back", readings)])
    answers = [r["text"] for r in records if r["kind"] == "say" and r["say"] == "status"]
    assert any("position all night" in a for a in answers)  # the sleeping entry
    heard = next(r for r in records if r["kind"] == "heard" and r["source"] == "question")
    assert heard["text"] == "how should i sleep with a bad back"
    assert heard["transcript"] == "how should we isolate with a bad back"
    assert records[-1]["text"] == "completed"


def test_a_reading_of_a_spoken_question_that_names_a_red_flag_ends_the_session(library):
    readings = {"readings": ["my back hurts and i keep leaving urine", "my back hurts and i keep leaking urine"]}
    records = run_heard(library, "wall-standing", [(30, "question", {}),
                                                   (32, "my back hurts and i keep leaving urine", readings)])
    assert records[-1]["kind"] == "finished" and records[-1]["text"] == "red-flag"
    assert any(r["kind"] == "red_flag" and r["flag_id"] == "bladder-bowel" for r in records)
