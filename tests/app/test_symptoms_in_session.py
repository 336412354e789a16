"""Symptoms said mid-session, in whole virtual-clock sessions fed typed (script/keyboard) text.

The runner checks every utterance for red flags, then symptoms (knowledge/symptoms.py),
before any command; the engine pauses at once and does what the symptom table says
(content/data/en/symptoms.yaml). Sessions with a profile use the care set-up of
tests/care/test_session_care.py, so pain checks and McKenzie 1 as the fallback exist.
"""

from __future__ import annotations

from typing import Any, Callable

import pytest

from companion.content.phrases import load_phrases
from companion.engine.clock import VirtualClock
from companion.engine.pain import HIGH_PAIN
from companion.engine.plan import HoldStep, QuestionStep
from companion.engine.session import Session
from companion.knowledge.redflags import detect
from companion.knowledge.symptoms import default_symptom_detector
from companion.language.heard import Heard
from companion.app.runner import Runner
from companion.language.vocabulary import load_vocabulary
from companion.speech.ports import Recognition
from tests.care.test_session_care import care_session
from tests.conftest import Collector, make_session, run_virtual

PH = load_phrases()
M1, M2, M3 = "mckenzie-1-prone-lying", "mckenzie-2-prone-on-elbows", "mckenzie-3-prone-press-up"
FINDINGS = {row.id: row for row in default_symptom_detector().spec.findings}
# What the profile's pain checks are answered with (before and after each exercise).
CALM = {"pain-score": "2", "pain-place": "back"}


def said(records: list[dict[str, Any]]) -> list[str]:
    return [r["text"] for r in records if r.get("kind") == "say"]


def kinds(records: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in records if r.get("kind") == kind]


def finding_say(finding: str) -> str:
    return " ".join(FINDINGS[finding].say.split())


def assert_never_moves_back(records: list[dict[str, Any]]) -> None:
    indices = [r["index"] for r in kinds(records, "step_started")]
    assert indices == sorted(indices), f"the step index went back: {indices}"


def hold_start(library, entry_id: str, routine_id: str | None = None) -> float:
    """When the (first) hold of ``routine_id`` begins in a plain run of ``entry_id``."""
    records = run_virtual(library, entry_id)
    current = None
    for r in records:
        if r["kind"] == "exercise_started":
            current = r["routine_id"]
        if r["kind"] == "step_started" and r["step_kind"] == "hold" and routine_id in (None, current):
            return r["t"]
    raise AssertionError(f"no hold in {entry_id}")


class Drive:
    """Play a care session forward on the virtual clock, answering its questions by tag, then say things."""

    def __init__(self, runner: Runner, out: Collector, answers: dict[str, str] | None = None):
        self.runner, self.out, self.answers = runner, out, dict(CALM if answers is None else answers)
        self.session: Session = runner.session
        runner.advance_to(0.0)

    def until(self, done: Callable[[Session], bool], limit: float = 4000.0) -> None:
        session = self.session
        while not session.finished and not done(session) and session.now < limit:
            step = session.current_step
            if isinstance(step, QuestionStep) and session.awaiting and not session.paused:
                key = f"{step.tag}:{step.data.get('when', '')}"
                self.hear(self.answers.get(key, self.answers.get(step.tag, "no")))
                continue
            deadline = session.next_deadline()
            if deadline is None:
                return
            self.runner.advance_to(deadline)

    def in_hold_of(self, routine_id: str, seconds: float) -> None:
        """Play on until ``seconds`` into the hold of ``routine_id``."""
        self.until(lambda s: isinstance(s.current_step, HoldStep) and s.current_step.routine_id == routine_id)
        self.runner.advance_to(self.session.now + seconds)

    def hear(self, text: str, after: float = 1.0) -> None:
        self.runner.hear(Heard(self.session.now + after, text, "keyboard"))

    def finish(self) -> None:
        self.until(lambda s: False)


# -- pain spreading ------------------------------------------------------------------


def test_pain_going_down_the_leg_mid_hold_pauses_asks_and_goes_on_with_mckenzie_1(library):
    runner, out = care_session(library, M2, screen=False)
    drive = Drive(runner, out)
    drive.in_hold_of(M2, 30.0)
    said_at = drive.session.now + 1
    drive.hear("the pain is going down my leg")
    # Paused at once: the symptom is logged, everything goes quiet, and the question is asked.
    at = [i for i, r in enumerate(out.records) if r.get("kind") == "heard"][-1]
    after = out.records[at:]
    assert after[0]["symptom"] == "spreading-leg" and after[0]["command"] is None
    assert out.records[at - 1] == {"kind": "_interrupt"}  # what was being said is cut off first
    symptom = kinds(after, "symptom")[0]
    assert (symptom["finding"], symptom["action"], symptom["routine_id"]) == ("spreading-leg", "ask-spread", M2)
    assert any(r["kind"] == "state" and r["text"] == "paused" and r["t"] == said_at for r in after)
    assert said(after) == [finding_say("spreading-leg")]
    assert drive.session.paused and drive.session.awaiting == "yesno"
    # The hold's clock stands still while the question waits.
    runner.advance_to(said_at + 300)
    assert not [r for r in out.records if r.get("t", 0) > said_at and r["kind"] in ("say", "beep")]
    drive.hear("yes")
    records = out.records
    assert PH.symptom_spread_stop in said(records)
    stop = kinds(records, "pain_stop")
    assert [(s["routine_id"], s["then"]) for s in stop] == [(M2, "gentlest")]
    assert PH.symptom_then_gentlest.format(title=library.routines[M1].title) in said(records)
    drive.finish()
    records = out.records
    started = [r["routine_id"] for r in kinds(records, "exercise_started")]
    assert started == [M2, M1], "the rest of the session is McKenzie 1"
    assert [r["routine_id"] for r in kinds(records, "exercise_done")] == [M1]
    assert records[-1]["text"] == "completed"
    assert_never_moves_back(records)


def test_in_the_mckenzie_programme_where_mckenzie_1_was_done_already_spreading_pain_ends_it(library):
    """The plan's fallback (McKenzie 1) is used only when it is not in the plan already, as after
    a pain check (engine/session.py _stop_exercise): in mckenzie-extension it came first."""
    runner, out = care_session(library, "mckenzie-extension", screen=False)
    drive = Drive(runner, out)
    drive.in_hold_of(M2, 30.0)
    drive.hear("pain down my leg")
    drive.hear("yes")
    assert [(s["routine_id"], s["then"]) for s in kinds(out.records, "pain_stop")] == [(M2, "end")]
    assert out.records[-1]["text"] == "pain"
    assert [r["routine_id"] for r in kinds(out.records, "exercise_done")] == [M1]
    assert_never_moves_back(out.records)


def test_pain_spreading_where_there_is_no_mckenzie_fallback_ends_the_session(library):
    start = hold_start(library, M1)
    records = run_virtual(library, M1, [(start + 40, "it's spreading into my buttock"), (start + 45, "yes")])
    assert kinds(records, "symptom")[0]["finding"] == "spreading-leg"
    assert [(s["routine_id"], s["then"]) for s in kinds(records, "pain_stop")] == [(M1, "end")]
    assert PH.symptom_then_end in said(records)
    assert records[-1]["kind"] == "finished" and records[-1]["text"] == "pain"
    assert not kinds(records, "exercise_done")


def test_a_no_to_the_spreading_question_resumes_the_hold_where_it_paused(library):
    start = hold_start(library, M1)
    plain = run_virtual(library, M1)
    records = run_virtual(library, M1, [(start + 40, "my leg is tingling"), (start + 100, "no")])
    assert kinds(records, "symptom")[0]["finding"] == "tingling"
    assert PH.symptom_cleared in said(records)
    assert any(text.startswith("Carrying on with the hold.") for text in said(records))

    def hold_length(recs):
        beeps = [r["t"] for r in kinds(recs, "beep")]
        return beeps[1] - beeps[0]

    assert hold_length(records) == pytest.approx(hold_length(plain) + 60)  # the 60 s of the question, no more
    assert records[-1]["text"] == "completed"
    assert [r["routine_id"] for r in kinds(records, "exercise_done")] == [M1]


def test_saying_the_symptom_again_while_asked_counts_as_yes(library):
    start = hold_start(library, M1)
    records = run_virtual(library, M1, [(start + 10, "pain down my leg"), (start + 12, "its going down my leg")])
    assert records[-1]["text"] == "pain"
    assert [r["answer"] for r in kinds(records, "answered")] == ["yes"]


# -- ending the session --------------------------------------------------------------


@pytest.mark.parametrize("text, finding", [
    ("I feel dizzy", "dizziness"),
    ("my chest hurts", "chest-pain"),
    ("i cant catch my breath", "breathlessness"),
])
def test_dizziness_chest_pain_or_breathlessness_end_the_session_with_advice(library, text, finding):
    start = hold_start(library, "wall-standing")
    records = run_virtual(library, "wall-standing", [(start + 30, text)])
    assert kinds(records, "symptom")[0]["finding"] == finding
    advice = [r for r in records if r.get("kind") == "say" and r["text"] == finding_say(finding)]
    assert advice and advice[0]["say"] == "warning"
    assert "sit or lie down" in finding_say(finding) or "sit up" in finding_say(finding)
    assert records[-1]["kind"] == "finished" and records[-1]["text"] == "symptom"
    assert not kinds(records, "exercise_done")


# -- worse pain ------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["my back hurts more", "my back is worse", "it's getting worse", "more pain"])
def test_worse_pain_asks_for_a_score_and_never_moves_back_a_step(library, text):
    start = hold_start(library, "wall-standing")
    records = run_virtual(library, "wall-standing", [(start + 30, text), (start + 40, "3")])
    heard = kinds(records, "heard")
    assert heard[0]["symptom"] == "worse-pain" and heard[0]["command"] is None  # never the "go back" command
    assert finding_say("worse-pain") in said(records)
    assert [(p["when"], p["score"]) for p in kinds(records, "pain")] == [("during", 3)]
    assert PH.symptom_score_ok in said(records)
    assert records[-1]["text"] == "completed"
    assert_never_moves_back(records)


def test_a_high_score_with_no_earlier_one_stops_the_exercise(library):
    start = hold_start(library, "wall-standing")
    records = run_virtual(library, "wall-standing", [(start + 30, "my back hurts more"), (start + 40, str(HIGH_PAIN))])
    assert PH.symptom_high in said(records)
    assert records[-1]["text"] == "pain"
    assert_never_moves_back(records)


def test_worse_pain_rising_by_two_over_the_score_before_goes_on_with_mckenzie_1(library):
    runner, out = care_session(library, M2, screen=False)
    drive = Drive(runner, out)
    drive.in_hold_of(M2, 20.0)
    index = drive.session.status().step_index
    drive.hear("my back hurts more")
    assert drive.session.awaiting == "number"
    drive.hear("back")  # not a number: asked again, and never "go back"
    assert said(out.records)[-1] == PH.answer_number and drive.session.status().step_index == index
    drive.hear("4")  # 2 before the exercise: a rise of 2
    assert PH.symptom_rise.format(rise=2) in said(out.records)
    assert [(s["routine_id"], s["then"]) for s in kinds(out.records, "pain_stop")] == [(M2, "gentlest")]
    drive.finish()
    assert [r["routine_id"] for r in kinds(out.records, "exercise_started")] == [M2, M1]
    assert_never_moves_back(out.records)


def test_worse_pain_rising_by_one_carries_on(library):
    runner, out = care_session(library, "mckenzie-extension", screen=False)
    drive = Drive(runner, out)
    drive.in_hold_of(M2, 20.0)
    drive.hear("the pain is getting stronger")
    drive.hear("3")
    assert PH.symptom_score_ok in said(out.records) and not kinds(out.records, "pain_stop")
    drive.finish()
    assert [r["routine_id"] for r in kinds(out.records, "exercise_done")] == [M1, M2, M3]
    assert_never_moves_back(out.records)


# -- what changes nothing, and stop --------------------------------------------------


@pytest.mark.parametrize("text", ["my leg is not tingling", "I don't feel dizzy", "no pain in my legs",
                                  "my back feels better"])
def test_negated_symptoms_change_nothing(library, text):
    start = hold_start(library, "wall-standing")
    plain = run_virtual(library, "wall-standing")
    records = run_virtual(library, "wall-standing", [(start + 30, text)])
    assert not kinds(records, "symptom") and not kinds(records, "state")
    assert PH.unknown in said(records)
    assert records[-1]["text"] == "completed" and records[-1]["t"] == plain[-1]["t"]


@pytest.mark.parametrize("text", ["stop", "stop my leg is tingling", "it hurts more", "ouch my leg"])
def test_stop_still_stops_and_is_never_a_symptom_question(library, text):
    start = hold_start(library, M1)
    records = run_virtual(library, M1, [(start + 30, text)])
    assert not kinds(records, "symptom")
    assert kinds(records, "heard")[0]["command"] == "stop"
    assert records[-1]["text"] == "stopped"


def test_stop_while_a_symptom_question_waits_stops(library):
    start = hold_start(library, M1)
    records = run_virtual(library, M1, [(start + 30, "pain down my leg"), (start + 35, "stop")])
    assert records[-1]["text"] == "stopped"


def test_a_symptom_said_after_i_have_a_question_is_still_acted_on(library):
    start = hold_start(library, "wall-standing")
    records = run_virtual(library, "wall-standing", [(start + 30, "I have a question"), (start + 32, "I feel dizzy")])
    assert records[-1]["text"] == "symptom"


def test_a_symptom_said_during_a_pain_check_is_asked_about_first(library):
    runner, out = care_session(library, M1, screen=False)
    drive = Drive(runner, out)
    drive.until(lambda s: isinstance(s.current_step, QuestionStep) and s.current_step.tag == "pain-score")
    drive.hear("my leg is tingling")
    assert drive.session.awaiting == "yesno"
    drive.hear("no")  # back to the pain check, which still waits for its score
    assert drive.session.awaiting == "number" and drive.session.current_step.tag == "pain-score"


# -- by voice ----------------------------------------------------------------------------


def test_a_symptom_heard_by_voice_pauses_but_not_over_the_companions_own_voice(library):
    out = Collector()
    runner = Runner(make_session(library, M1), VirtualClock(), load_vocabulary(), [out])
    start = hold_start(library, M1)
    runner.advance_to(start + 30)
    heard = Recognition("the pain is going down my leg", 0.9, "test")
    runner.hear(Heard(start + 30, heard.text, "voice", heard, over_speech=True))
    assert not runner.session.paused and not kinds(out.records, "symptom")
    runner.hear(Heard(start + 31, heard.text, "voice", Recognition(heard.text, 0.1, "test")))  # too unsure
    assert not runner.session.paused
    runner.hear(Heard(start + 32, heard.text, "voice", heard))
    assert runner.session.paused and runner.session.awaiting == "yesno"
    assert kinds(out.records, "heard")[-1]["symptom"] == "spreading-leg"


# -- the comfort points ------------------------------------------------------------------


def comfort_point(records: list[dict[str, Any]]) -> dict[str, Any]:
    return next(r for r in records if r.get("kind") == "say" and r.get("say") == "question")


@pytest.mark.parametrize("routine_id", [M1, M2])
def test_mckenzie_comfort_points_ask_about_the_buttock_or_leg_and_a_yes_stops(library, routine_id):
    question = comfort_point(run_virtual(library, routine_id))
    assert question["text"] == PH.check_leg
    records = run_virtual(library, routine_id, [(question["t"] + 2, "yes")])
    assert [r["finding"] for r in kinds(records, "symptom")] == ["spreading-leg"]
    assert PH.symptom_spread_stop in said(records)
    assert [(s["routine_id"], s["then"]) for s in kinds(records, "pain_stop")] == [(routine_id, "end")]
    assert records[-1]["text"] == "pain"


def test_a_no_at_the_leg_question_carries_on(library):
    question = comfort_point(run_virtual(library, M1))
    records = run_virtual(library, M1, [(question["t"] + 2, "no")])
    assert PH.comfort_yes in said(records) and records[-1]["text"] == "completed"
    assert [r["routine_id"] for r in kinds(records, "exercise_done")] == [M1]


def test_a_yes_at_the_leg_question_after_mckenzie_2_goes_on_with_mckenzie_1(library):
    runner, out = care_session(library, M2, screen=False)
    drive = Drive(runner, out)
    drive.in_hold_of(M2, 1.0)
    drive.until(lambda s: s.awaiting == "yesno")
    assert said(out.records)[-1] == PH.check_leg
    drive.hear("yes")
    drive.finish()
    assert [r["routine_id"] for r in kinds(out.records, "exercise_started")] == [M2, M1]
    assert [(s["routine_id"], s["then"]) for s in kinds(out.records, "pain_stop")] == [(M2, "gentlest")]
    assert_never_moves_back(out.records)


def test_the_neck_drill_asks_about_the_shoulder_arm_and_hand(library):
    question = comfort_point(run_virtual(library, "neck-gaze-rotation"))
    assert question["text"] == PH.check_arm
    records = run_virtual(library, "neck-gaze-rotation", [(question["t"] + 1, "yes")])
    assert [r["finding"] for r in kinds(records, "symptom")] == ["spreading-arm"]
    assert records[-1]["text"] == "pain"


def test_other_routines_still_ask_are_you_comfortable(library):
    assert comfort_point(run_virtual(library, "wall-standing"))["text"] == PH.comfort_check


def test_the_neck_drills_pain_check_asks_where_along_the_arm(library):
    runner, out = care_session(library, "neck-gaze-rotation", screen=False)
    drive = Drive(runner, out, {"pain-score": "3", "pain-place:before": "neck", "pain-place:after": "my shoulder"})
    drive.finish()
    assert PH.pain_place_arm in said(out.records)
    assert [(p["when"], p["place"]) for p in kinds(out.records, "pain")] == [("before", "neck"), ("after", "shoulder")]
    assert PH.pain_spread_arm in said(out.records)
    assert out.records[-1]["text"] == "pain"


# -- the table: every finding does what symptoms.yaml says -------------------------------


def example_for(finding: str) -> str:
    """The first example of ``finding`` that is not also an urgent red flag (those are checked first)."""
    return next(e for e in FINDINGS[finding].examples if detect(e) is None)


@pytest.mark.parametrize("finding", sorted(FINDINGS))
def test_every_row_of_the_symptom_table_does_its_action(library, finding):
    row = FINDINGS[finding]
    out = Collector()
    runner = Runner(make_session(library, "wall-standing"), VirtualClock(), load_vocabulary(), [out])
    start = hold_start(library, "wall-standing")
    runner.advance_to(start + 30)
    runner.hear(Heard(start + 30, example_for(finding), "keyboard"))
    session = runner.session
    assert kinds(out.records, "symptom")[0]["finding"] == finding
    assert said(out.records)[-1] == finding_say(finding)
    assert session.paused or session.finished  # every finding pauses at once
    expected = {"end": (True, None), "ask-spread": (False, "yesno"), "ask-score": (False, "number"),
                "pause": (False, None)}[row.action]
    assert (session.finished, session.awaiting) == expected
    if row.action == "pause":  # stays paused until resume
        runner.advance_to(start + 200)
        assert session.paused
        runner.hear(Heard(start + 201, "resume", "keyboard"))
        assert not session.paused


def test_the_text_transcript_shows_the_symptom(library):
    import io

    from companion.app.outputs import TextPrinter

    stream = io.StringIO()
    printer = TextPrinter(stream, live=False)
    start = hold_start(library, "wall-standing")
    for record in run_virtual(library, "wall-standing", [(start + 30, "I feel dizzy")]):
        if not record["kind"].startswith("_"):
            printer.write(record)
    text = stream.getvalue()
    assert "YOU SAID: 'I feel dizzy'  ->  symptom: dizziness" in text
    assert "SYMPTOM: dizziness" in text and "SESSION SYMPTOM" in text


@pytest.mark.parametrize("text, field", [("the pain is going down my leg", "symptom"),
                                         ("I can't control my bladder", None)])
def test_a_spoken_symptom_or_red_flag_is_logged_with_the_model_that_heard_it(library, text, field):
    """A misheard symptom or red flag is traced back to its recognition, as a misheard command is."""
    out = Collector()
    runner = Runner(make_session(library, "wall-standing"), VirtualClock(), load_vocabulary(), [out])
    runner.advance_to(30.0)
    recognition = Recognition(text, 0.95, "fused", details={"decided_by": "whisper transcript"})
    runner.hear(Heard(31.0, text, "voice", recognition))
    heard = [r for r in out.records if r.get("kind") == "heard"][-1]
    assert heard["text"] == text and heard["heard_by"] == "whisper transcript" and heard["confidence"] == 0.95
    assert field is None or heard[field]
    if field is None:
        assert detect(text) is not None and heard["source"] == "question"
