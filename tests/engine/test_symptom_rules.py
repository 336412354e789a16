"""The engine's side of symptoms: SymptomEvent in, a pause and a question (or an end) out.

Whole sessions with typed input are in tests/app/test_symptoms_in_session.py; here the
engine is fed events directly, to pin down its rules, and the pain rules are checked as
pure functions.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from companion.content.phrases import load_phrases
from companion.content.schema import Routine
from companion.engine.cues import (Answered, PainRecorded, Say, SayKind, SessionFinished, StateChanged, StepStarted,
                                   SymptomReported, cue_kind)
from companion.engine.events import (AnswerEvent, Command, CommandEvent, NumberEvent, PlaceEvent, SymptomEvent, Tick,
                                     Unrecognised)
from companion.engine.pain import ARM_PLACE_ORDER, HIGH_PAIN, judge, judge_during
from companion.engine.plan import HoldStep, PlanBuilder
from companion.engine.session import Session
from tests.conftest import make_session

PH = load_phrases()
SPREAD = SymptomEvent(0, "spreading-leg", "ask-spread", "Is the pain spreading down into your leg now?",
                      "pain down my leg")
SCORE = SymptomEvent(0, "worse-pain", "ask-score", "How much pain do you have now, from zero to ten?", "more pain")
END = SymptomEvent(0, "dizziness", "end", "Please stop now and sit or lie down.", "i feel dizzy")
PAUSE = SymptomEvent(0, "nausea", "pause", "Let's pause. Say resume when it has passed.", "i feel sick")


def at(event, t: float):
    return type(event)(t, *[getattr(event, f) for f in ("finding", "action", "say", "text")]) \
        if isinstance(event, SymptomEvent) else event


def in_hold(library, entry_id: str = "wall-standing", seconds: float = 30.0) -> Session:
    session = make_session(library, entry_id)
    session.start(0.0)
    while not isinstance(session.current_step, HoldStep) or session._phase_index == 0:
        session.feed(Tick(session.next_deadline()))
    session.feed(Tick(session.now + seconds))
    return session


def says(cues) -> list[str]:
    return [c.text for c in cues if isinstance(c, Say)]


def test_a_symptom_pauses_quietly_logs_and_asks(library):
    session = in_hold(library)
    now = session.now
    cues = session.feed(at(SPREAD, now + 1))
    assert isinstance(cues[0], SymptomReported) and cues[0].finding == "spreading-leg"
    assert cues[0].routine_id == "wall-standing" and cue_kind(cues[0]) == "symptom"
    assert any(isinstance(c, StateChanged) and c.state == "paused" for c in cues)
    assert says(cues) == [SPREAD.say]  # not "Paused. Say resume...": the question is what is said
    assert [c.kind for c in cues if isinstance(c, Say)] == [SayKind.QUESTION]
    assert session.paused and session.awaiting == "yesno" and session.next_deadline() is None


def test_the_question_waits_however_long_and_other_words_get_the_hint(library):
    session = in_hold(library)
    session.feed(at(SPREAD, session.now + 1))
    assert session.feed(Tick(session.now + 600)) == []
    assert says(session.feed(Unrecognised(session.now + 1, "hmm"))) == [PH.answer_yes_no]
    assert says(session.feed(PlaceEvent(session.now + 1, "thigh"))) == [PH.answer_yes_no]
    asked = session.feed(CommandEvent(session.now + 1, Command.NEXT, "next", confirm=True, name="next"))
    assert says(asked) == [PH.answer_yes_no]  # an unsure command does not open a second question
    assert session.awaiting == "yesno"


def test_no_resumes_and_the_hold_loses_no_time(library):
    session = in_hold(library)
    left = session.status().step_total - session.status().step_elapsed
    session.feed(at(SPREAD, session.now + 1))
    session.feed(Tick(session.now + 100))
    cues = session.feed(AnswerEvent(session.now + 1, False, "no"))
    assert Answered(session.now, "symptom", "no") in cues
    assert says(cues)[0] == PH.symptom_cleared and says(cues)[1].startswith("Carrying on with the hold.")
    assert not session.paused and session.awaiting is None
    assert session.status().step_total - session.status().step_elapsed == pytest.approx(left - 1)


def test_no_leaves_a_session_paused_that_was_paused_before(library):
    session = in_hold(library)
    session.feed(CommandEvent(session.now + 1, Command.PAUSE))
    session.feed(at(SPREAD, session.now + 1))
    cues = session.feed(AnswerEvent(session.now + 1, False, "no"))
    assert says(cues) == [PH.symptom_cleared, PH.confirm_cancelled_paused] and session.paused


def test_yes_stops_the_exercise_and_without_a_fallback_ends_the_session(library):
    session = in_hold(library)
    cues = session.feed(at(SPREAD, session.now + 1)) + session.feed(AnswerEvent(session.now + 1, True, "yes"))
    assert says(cues)[-2:] == [PH.symptom_spread_stop, PH.symptom_then_end]
    assert session.finished and cues[-1] == SessionFinished(session.now, "pain")


def test_resume_instead_of_an_answer_carries_on(library):
    session = in_hold(library)
    session.feed(at(SPREAD, session.now + 1))
    cues = session.feed(CommandEvent(session.now + 1, Command.RESUME))
    assert not session.paused and session.awaiting is None and says(cues)[0].startswith("Carrying on")


def test_an_unsure_stop_while_asked_is_still_a_stop(library):
    session = in_hold(library)
    session.feed(at(SPREAD, session.now + 1))
    assert says(session.feed(CommandEvent(session.now + 1, Command.STOP, "stop", confirm=True))) == [PH.confirm_stop]
    session.feed(AnswerEvent(session.now + 1, True, "yes"))
    assert session.finished


def test_end_says_the_advice_and_finishes(library):
    session = in_hold(library)
    cues = session.feed(at(END, session.now + 1))
    assert says(cues) == [END.say] and cues[-1] == SessionFinished(session.now, "symptom")
    assert [c.kind for c in cues if isinstance(c, Say)] == [SayKind.WARNING]


def test_pause_stays_paused_until_resume(library):
    session = in_hold(library)
    cues = session.feed(at(PAUSE, session.now + 1))
    assert says(cues) == [PAUSE.say] and session.paused and session.awaiting is None
    assert session.feed(Tick(session.now + 500)) == []
    session.feed(CommandEvent(session.now + 1, Command.RESUME))
    assert not session.paused


def test_a_score_is_judged_against_the_one_before_the_exercise(library):
    session = in_hold(library)
    session.pain[("wall-standing", "before")] = {"score": 3, "place": "back"}
    session.feed(at(SCORE, session.now + 1))
    assert session.awaiting == "number"
    assert says(session.feed(AnswerEvent(session.now + 1, True, "yes"))) == [PH.answer_number]
    cues = session.feed(NumberEvent(session.now + 1, 4, "4"))
    assert PainRecorded(session.now, "wall-standing", "during", 4, "back") in cues
    assert says(cues)[0] == PH.symptom_score_ok and not session.paused
    session.feed(at(SCORE, session.now + 1))
    cues = session.feed(NumberEvent(session.now + 1, 5, "5"))
    assert says(cues)[0] == PH.symptom_rise.format(rise=2) and session.finished


def test_a_score_never_moves_back_a_step(library):
    session = in_hold(library)
    index = session.status().step_index
    for value in (1, 2, 3):
        cues = session.feed(at(SCORE, session.now + 1)) + session.feed(NumberEvent(session.now + 1, value))
        assert not [c for c in cues if isinstance(c, StepStarted)]
        assert session.status().step_index == index


def test_the_pain_rules_during_an_exercise():
    assert judge_during(3, 5).kind == "rise" and judge_during(3, 5).rise == 2
    assert judge_during(3, 4).kind == "same"
    assert judge_during(None, HIGH_PAIN).kind == "high" and judge_during(-1, HIGH_PAIN).kind == "high"
    assert judge_during(None, HIGH_PAIN - 1).kind == "same"


def test_the_pain_rules_for_the_neck_use_the_arm_places():
    assert judge(3, "neck", 3, "shoulder", ARM_PLACE_ORDER).kind == "spread"
    assert judge(3, "arm", 3, "neck", ARM_PLACE_ORDER).kind == "centralised"
    assert judge(3, "none", 3, "neck", ARM_PLACE_ORDER).kind == "same"
    assert judge(3, "back", 3, "buttock").kind == "spread"  # the leg, as before


# -- the hold's own symptom check --------------------------------------------------------


def run_to_question(session: Session) -> list:
    cues = session.start(0.0)
    while not any(isinstance(c, Say) and c.kind is SayKind.QUESTION for c in cues):
        cues += session.feed(Tick(session.next_deadline()))
    return cues


def test_the_leg_check_counts_as_a_symptom_on_yes_and_carries_on_on_no(library):
    session = make_session(library, "mckenzie-2-prone-on-elbows")
    assert says(run_to_question(session))[-1] == PH.check_leg
    cues = session.feed(AnswerEvent(session.now + 1, True, "yes"))
    assert SymptomReported(session.now, "spreading-leg", "ask-spread", "mckenzie-2-prone-on-elbows") in cues
    assert session.finished
    session = make_session(library, "mckenzie-2-prone-on-elbows")
    run_to_question(session)
    assert says(session.feed(AnswerEvent(session.now + 1, False, "no"))) == [PH.comfort_yes]
    assert not session.finished and not session.paused


# -- the neck drill's calls --------------------------------------------------------------


@pytest.mark.parametrize("pace", [0.75, 1.0, 1.25, 1.5, 2.0])
def test_the_neck_drill_calls_always_alternate(library, pace):
    session = make_session(library, "neck-gaze-rotation", pace=pace)
    cues = session.start(0.0)
    while (deadline := session.next_deadline()) is not None:
        cues += session.feed(Tick(deadline))
    calls = [c.text for c in cues if isinstance(c, Say) and c.text in ("Turn left", "Turn right")]
    assert len(calls) > 10
    assert all(a != b for a, b in zip(calls, calls[1:])), calls


def test_a_long_hold_with_a_call_every_second_plans_quickly(phrases):
    routine = Routine.model_validate({
        "id": "long-calls", "title": "Long calls", "purpose": "Tests a long hold.",
        "steps": [{"hold": {"seconds": 1800, "cue": "Go.", "count": "minutes", "calls": ["In", "Out"],
                            "call_every": 1, "comfort_check_every": 60}}],
        "sources": [{"lines": "1", "quote": "test"}],
    })
    plan = PlanBuilder({routine.id: routine}, phrases).for_entry(routine)
    started = time.perf_counter()
    hold = next(s for s in plan.steps if isinstance(s, HoldStep))
    assert hold.estimate(1.0) > 1800
    assert time.perf_counter() - started < 5.0


# -- any mix of symptoms and answers keeps the engine sane --------------------------------

SYMPTOMS = [SPREAD, SCORE, END, PAUSE]
events = st.lists(
    st.tuples(
        st.floats(min_value=0, max_value=90, allow_nan=False),
        st.one_of(st.sampled_from(SYMPTOMS), st.sampled_from([True, False]), st.integers(0, 10),
                  st.sampled_from([c for c in Command if c is not Command.BACK]), st.just("tick")),
    ),
    max_size=30,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entry_id=st.sampled_from(["mckenzie-2-prone-on-elbows", "neck-gaze-rotation", "wall-standing"]),
       steps=events)
def test_symptoms_never_crash_never_move_back_and_end_once(library, entry_id, steps):
    session = make_session(library, entry_id)
    cues = session.start(0.0)
    now = 0.0
    for gap, what in steps:
        now += gap
        if what == "tick":
            event = Tick(now)
        elif isinstance(what, SymptomEvent):
            event = at(what, now)
        elif isinstance(what, bool):
            event = AnswerEvent(now, what)
        elif isinstance(what, int):
            event = NumberEvent(now, what)
        else:
            event = CommandEvent(now, what)
        cues += session.feed(event)
    while (deadline := session.next_deadline()) is not None:
        cues += session.feed(Tick(deadline))
    if not session.finished:
        cues += session.feed(CommandEvent(now + 1, Command.STOP))
    times = [c.at for c in cues]
    assert times == sorted(times)
    finished = [i for i, c in enumerate(cues) if isinstance(c, SessionFinished)]
    assert len(finished) == 1 and finished[0] == len(cues) - 1
    indices = [c.index for c in cues if isinstance(c, StepStarted)]
    assert indices == sorted(indices), "without 'go back' the step index never decreases"
