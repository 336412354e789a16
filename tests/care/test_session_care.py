"""Care in a session: red-flag screening, pain check-ins and their rules, caregiver confirmations."""

from __future__ import annotations

from typing import Any

import pytest

from companion.care.profiles import CAREGIVER_PRESET, Profile
from companion.care.screening import load_screening
from companion.engine.clock import VirtualClock
from companion.content.phrases import load_phrases
from companion.engine.plan import PlanBuilder
from companion.engine.session import Session
from companion.language.heard import Heard
from companion.app.runner import Runner
from companion.language.vocabulary import load_vocabulary
from tests.conftest import Collector

from companion.care.session_setup import Setup, care_for


def care_session(library, entry_id: str, *, screen=True, pain=True, profile: Profile | None = None,
                 acute=False):
    """A care session on the virtual clock; ``acute`` keeps the day's acute question after the screening."""
    from dataclasses import replace

    setup = Setup(user="ann", profile=profile or Profile("ann"))
    setup.care = care_for(setup, screen=screen, library=library, entry=library.get(entry_id))
    if not acute:
        setup.care = replace(setup.care, acute_question="", acute_refusal="")
    if not pain:
        setup.care = replace(setup.care, pain_checks=False)
    phrases = load_phrases()
    plan = PlanBuilder(library.routines, phrases, care=setup.care).for_entry(library.get(entry_id))
    session = Session(plan, phrases, {r.id: r.title for r in library.routines.values()},
                      pace=setup.profile.pace, pain_texts=load_screening().pain.model_dump())
    out = Collector()
    return Runner(session, VirtualClock(), load_vocabulary(), [out]), out


def answer_all(runner: Runner, answers: dict[str, Any], limit: float = 4000.0) -> None:
    """Play the session forward, answering each question as ``answers`` says (by kind or tag)."""
    session, t = runner.session, 0.0
    runner.advance_to(0.0)
    while not session.finished and t < limit:
        step = session.current_step
        if session.awaiting and getattr(step, "tag", None):
            key = f"{step.tag}:{step.data.get('when', step.data.get('flag_id', ''))}"
            reply = answers.get(key, answers.get(step.tag))
            if reply is None:
                return
            runner.hear(Heard(session.now + 1, str(reply), "keyboard"))
            t = session.now
            continue
        deadline = session.next_deadline()
        if deadline is None:
            return
        runner.advance_to(deadline)
        t = deadline


def said(out: Collector) -> list[str]:
    return [r["text"] for r in out.records if r.get("kind") == "say"]


def test_all_no_to_screening_continues_to_the_exercise(library):
    runner, out = care_session(library, "wall-standing", pain=False, acute=True)
    answer_all(runner, {"screen": "no", "acute": "no"})
    answers = [r for r in out.records if r.get("kind") == "answered"]
    assert len(answers) == 7 and all(r["answer"] == "no" for r in answers)
    assert [r["tag"] for r in answers] == ["screen"] * 6 + ["acute"]  # the acute question comes last
    assert out.records[-1]["text"] == "completed"
    assert load_screening().all_clear in said(out)


@pytest.mark.parametrize("flag", [q.flag_id for q in load_screening().questions])
def test_any_yes_in_screening_ends_before_any_exercise_cue(library, flag):
    runner, out = care_session(library, "wall-standing", pain=False)
    answer_all(runner, {"screen": "no", f"screen:{flag}": "yes"})
    assert out.records[-1]["kind"] == "finished" and out.records[-1]["text"] == "red-flag"
    assert any(r.get("kind") == "red_flag" and r["flag_id"] == flag for r in out.records)
    steps = [r.get("step_kind") for r in out.records if r.get("kind") == "step_started"]
    assert set(steps) <= {"screening", "question"}  # nothing of the exercise itself was said
    advice = next(q.advice for q in load_screening().questions if q.flag_id == flag)
    assert advice in said(out)


def pain_run(library, before, after):
    runner, out = care_session(library, "knees-to-chest", screen=False)
    answer_all(runner, {"pain-score:before": before[0], "pain-place:before": before[1],
                        "pain-score:after": after[0], "pain-place:after": after[1]})
    return out


def test_pain_spreading_down_the_leg_stops(library):
    out = pain_run(library, (3, "back"), (3, "thigh"))
    assert out.records[-1]["text"] == "pain"
    assert load_screening().pain.worse_spread in said(out)
    pains = [(r["when"], r["score"], r["place"]) for r in out.records if r.get("kind") == "pain"]
    assert pains == [("before", 3, "back"), ("after", 3, "thigh")]


def test_pain_rising_by_two_stops(library):
    out = pain_run(library, (3, "back"), (5, "back"))
    assert out.records[-1]["text"] == "pain"
    assert load_screening().pain.worse_rise.format(rise=2) in said(out)


def test_pain_moving_towards_the_back_is_a_good_sign(library):
    out = pain_run(library, (4, "below the knee"), (4, "my bottom"))
    assert out.records[-1]["text"] == "completed"
    assert load_screening().pain.better_central in said(out)


def test_pain_up_by_one_carries_on(library):
    out = pain_run(library, (3, "back"), (4, "back"))
    assert out.records[-1]["text"] == "completed"


def test_caregiver_preset_confirms_each_part_and_repeats_unanswered_questions(library, phrases):
    profile = Profile("gran", **CAREGIVER_PRESET)
    runner, out = care_session(library, "flying-swallow", screen=False, pain=False, profile=profile)
    answer_all(runner, {"ready": "she says yes"})
    readies = [r for r in out.records if r.get("kind") == "say" and r["text"] == phrases.ready]
    assert len(readies) == 3  # one per set
    assert out.records[-1]["text"] == "completed"
    # Unanswered, the question is said again once (repeat_cues = 1), then the companion waits.
    runner, out = care_session(library, "flying-swallow", screen=False, pain=False, profile=profile)
    answer_all(runner, {})
    runner.advance_to(runner.session.now + 120)  # nobody answers for two minutes
    asked = [r["t"] for r in out.records if r.get("kind") == "say" and r["text"] == phrases.ready]
    assert len(asked) == 2 and asked[1] - asked[0] == pytest.approx(20.0)
    assert runner.session.next_deadline() is None and not runner.session.finished


def test_caregiver_pace_is_slower_but_holds_stay_in_range(library):
    profile = Profile("gran", **CAREGIVER_PRESET)
    runner, out = care_session(library, "mckenzie-1-prone-lying", screen=False, pain=False, profile=profile)
    answer_all(runner, {"ready": "yes"})
    beeps = [r["t"] for r in out.records if r.get("kind") == "beep"]
    assert beeps[1] - beeps[0] == pytest.approx(180.0)  # 120 s x 1.5, capped at the source's 3 minutes


def test_back_answers_where_it_hurts_instead_of_going_back(library):
    from companion.speech.ports import Recognition

    runner, out = care_session(library, "knees-to-chest", screen=False)
    session = runner.session
    runner.advance_to(0.0)
    while session.awaiting != "number":
        runner.advance_to(session.next_deadline())
    runner.hear(Heard(session.now + 1, "four", "keyboard"))
    assert session.awaiting == "place"
    runner.hear(Heard(session.now + 1, "back", "voice", Recognition("back", 0.95)))
    assert [(r["score"], r["place"]) for r in out.records if r.get("kind") == "pain"] == [(4, "back")]


def test_a_pain_stop_in_a_mckenzie_exercise_goes_back_to_the_gentlest(library):
    runner, out = care_session(library, "mckenzie-3-prone-press-up", screen=False)
    answer_all(runner, {"pain-score:before": 2, "pain-place:before": "back",
                        "pain-score:after": 2, "pain-place:after": "buttock"})
    pain = load_screening().pain
    assert pain.worse_spread in said(out)
    assert pain.then_gentlest.format(title="McKenzie 1: lying face down") in said(out)
    assert any(r.get("kind") == "pain_stop" and r["then"] == "gentlest" for r in out.records)
    started = [r["routine_id"] for r in out.records if r.get("kind") == "exercise_started"]
    assert started == ["mckenzie-3-prone-press-up", "mckenzie-1-prone-lying"]
    assert out.records[-1]["text"] == "completed"


def at_the_place_question(library):
    """A care session played on (a typed score of 3) until it asks where the pain is."""
    runner, out = care_session(library, "knees-to-chest", screen=False)
    session = runner.session
    runner.advance_to(0.0)
    for _ in range(20):
        if session.awaiting == "place":
            break
        if session.awaiting == "number":
            runner.hear(Heard(session.now + 1, "three", "keyboard"))
        else:
            runner.advance_to(session.next_deadline())
    return runner, out


def test_a_place_only_guessed_at_is_read_back_and_taken_on_a_yes(library):
    """Whisper writes espeak-ng's "thigh" as "bye": nothing is heard, but its best guess is asked about."""
    from companion.speech.ports import Recognition

    runner, out = at_the_place_question(library)
    session = runner.session
    assert session.awaiting == "place"
    rejected = Recognition("", 0.0, "fused", details={"decided_by": "whisper rejects", "guess": "thigh"})
    runner.hear(Heard(session.now + 1, "", "voice", rejected))
    said = [r["text"] for r in out.records if r["kind"] == "say"]
    assert said[-1] == runner.phrases.check_heard.format(value=runner.vocabulary.place_name("thigh"))
    assert session.awaiting == "place"  # held until the read-back is answered
    runner.hear(Heard(session.now + 2, "yes", "voice", Recognition("yes", 0.95, "fused")))
    answers = [r.get("answer") for r in out.records if r["kind"] == "heard"]
    assert answers[-1] == "yes" and session.awaiting != "place"
    guessed = next(r for r in out.records if r["kind"] == "heard" and r.get("answer") == "thigh")
    assert guessed["heard_by"] == "whisper rejects; its best guess, read back" and guessed["confidence"] == 0.2


def test_a_guess_never_hides_a_symptom_in_the_words_transcribed(library):
    """A transcript that answers nothing gives way to the grammar's guess, but is still checked for safety."""
    from companion.speech.ports import Recognition

    runner, out = at_the_place_question(library)
    session = runner.session
    dizzy = Recognition("i feel dizzy", 0.8, "fused", details={"free_form": True, "guess": "thigh",
                                                                "decided_by": "whisper transcript"})
    runner.hear(Heard(session.now + 1, "i feel dizzy", "voice", dizzy))
    assert not [r for r in out.records if r.get("answer") == "thigh"]
    assert [r["finding"] for r in out.records if r["kind"] == "symptom"] == ["dizziness"]
    assert session.finished and out.records[-1]["reason"] == "symptom"
