"""The routine engine on a virtual clock: timing, commands, status answers."""

from __future__ import annotations

import time

import pytest

from companion.content.library import Library
from companion.content.schema import Routine
from companion.engine.cues import Beep, Say, SessionFinished, StepStarted
from companion.engine.events import AnswerEvent, Command, CommandEvent, Tick, Unrecognised
from companion.engine.plan import PlanBuilder, RepsStep
from companion.engine.session import Session
from tests.conftest import make_session, run_virtual, says


def run_to_end(session: Session, start: float = 0.0, answer: bool = False) -> list:
    """Every cue to the end; ``answer``: say at once, to each comfort or symptom check, that all is well."""
    cues = session.start(start)
    while (deadline := session.next_deadline()) is not None:
        if answer and session.awaiting_answer:
            cues += carry_on(session)
            continue
        cues += session.feed(Tick(deadline))
    return cues


def carry_on(session: Session) -> list:
    """The answer to a hold's check that lets it go on: "yes" I am comfortable, "no" pain has not spread."""
    return session.feed(AnswerEvent(session.now, session.question == session.phrases.comfort_check))


def first(cues, cls, **match):
    for cue in cues:
        if isinstance(cue, cls) and all(getattr(cue, k) == v for k, v in match.items()):
            return cue
    raise AssertionError(f"no {cls.__name__} {match} in cues")


def hold_start(records) -> float:
    return next(r["t"] for r in records if r["kind"] == "beep" and r["text"] == "start")


# -- timing -----------------------------------------------------------------------


def test_five_minute_wall_stand_runs_in_well_under_a_second_with_exact_cue_times(library: Library):
    started = time.perf_counter()
    session = make_session(library, "wall-standing")
    cues = run_to_end(session, answer=True)  # "yes" at once to every "Are you comfortable?"
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0

    begin = first(cues, Beep, tone="start").at
    end = first(cues, Beep, tone="end").at
    assert end - begin == pytest.approx(300.0)
    said = [c for c in cues if isinstance(c, Say) and begin <= c.at <= end]
    spoken = {round(c.at - begin, 3): c.text for c in said if c.kind.value == "count"}
    asked = [round(c.at - begin, 3) for c in said if c.kind.value == "question"]
    assert asked == [60.0, 120.0, 180.0, 240.0]  # "Are you comfortable?" every minute, as the routine says
    assert spoken[60.0].startswith("4 minutes left")
    assert spoken[120.0].startswith("3 minutes left")
    assert spoken[180.0].startswith("2 minutes left")
    assert spoken[240.0].startswith("1 minute left")
    assert spoken[270.0] == "30 seconds left."
    assert [spoken[295.0 + i] for i in range(5)] == ["5", "4", "3", "2", "1"]
    assert isinstance(cues[-1], SessionFinished) and cues[-1].reason == "completed"


def test_unanswered_comfort_checks_lapse_quietly_and_never_stretch_the_hold(library: Library, phrases):
    """Nobody answers: the hold counts exactly its 300 s, each check is said once and lapses without a
    word (no re-ask, no "carrying on" over a person holding still), in virtual milliseconds."""
    started = time.perf_counter()
    records = run_virtual(library, "wall-standing")
    assert time.perf_counter() - started < 1.0
    begin = hold_start(records)
    end = next(r["t"] for r in records if r["kind"] == "beep" and r["text"] == "end")
    assert end - begin == pytest.approx(300.0)
    texts = [r["text"] for r in records if r["kind"] == "say" and begin <= r["t"] <= end]
    assert texts.count(phrases.comfort_check) == 4
    assert texts.count(phrases.again_comfort) == texts.count(phrases.question_dropped) == 0
    first_asked = next(r["t"] for r in records if r.get("text") == phrases.comfort_check)
    assert first_asked - begin == pytest.approx(60.0)
    assert records[-1]["kind"] == "finished" and records[-1]["text"] == "completed"


def test_deadlines_do_not_drift_when_the_caller_wakes_late(library: Library):
    """Ticks that arrive late still stamp cues at their planned times, and later cues stay on plan."""
    exact = run_to_end(make_session(library, "wall-standing"))
    late = make_session(library, "wall-standing")
    cues = late.start(0.0)
    while (deadline := late.next_deadline()) is not None:
        cues += late.feed(Tick(deadline + 0.37))  # every wake-up is 370 ms late
    assert [(c.at, c.text) for c in cues if isinstance(c, Say)] == [
        (c.at, c.text) for c in exact if isinstance(c, Say)]


def test_time_never_runs_backwards(library: Library):
    session = make_session(library, "wall-standing")
    session.start(0.0)
    session.feed(Tick(100.0))
    cues = session.feed(CommandEvent(50.0, Command.HELP))
    assert all(c.at >= 100.0 for c in cues)


# -- pause and resume --------------------------------------------------------------


def test_pause_during_a_hold_resumes_where_it_left_off(library: Library):
    plain = run_virtual(library, "wall-standing")
    begin = hold_start(plain)
    records = run_virtual(library, "wall-standing", [(begin + 30, "pause"), (begin + 130, "resume")])
    spoken = says(records)
    assert (begin + 30, "Paused. Say go when you are ready.") in spoken
    # 270 s were left when paused; 100 s of pause shifts every later cue by exactly 100 s.
    assert any(t == pytest.approx(begin + 130) and text == "Carrying on with the hold. 4 minutes 30 seconds to go."
               for t, text in spoken)
    assert any(t == pytest.approx(begin + 160) and text.startswith("4 minutes left") for t, text in spoken)
    assert records[-1]["t"] == pytest.approx(plain[-1]["t"] + 100)


def test_nothing_is_said_while_paused(library: Library):
    records = run_virtual(library, "wall-standing", [(5, "pause"), (600, "resume")])
    between = [r for r in records if r["kind"] == "say" and 5 < r["t"] < 600]
    assert between == []


def test_pause_twice_and_resume_when_not_paused_are_answered(library: Library, phrases):
    records = run_virtual(library, "wall-standing", [(1, "resume"), (2, "pause"), (3, "pause"), (4, "resume")])
    texts = [text for _, text in says(records)]
    assert phrases.not_paused in texts and phrases.already_paused in texts


# -- stop --------------------------------------------------------------------------


def _interesting_times(library: Library, entry_id: str) -> list[float]:
    cues = run_to_end(make_session(library, entry_id))
    times = sorted({c.at for c in cues})[:-1]  # the last instant is the end of the session
    return times[::max(1, len(times) // 40)] + [times[-1], times[-1] + 0.01]


@pytest.mark.parametrize("entry_id", ["wall-standing", "flying-swallow", "desk-break", "mckenzie-5-lying-flexion"])
def test_stop_from_every_state_ends_at_once_and_nothing_follows(library: Library, phrases, entry_id):
    for at in _interesting_times(library, entry_id):
        for paused in (False, True):
            session = make_session(library, entry_id)
            session.start(0.0)
            session.feed(Tick(at))
            if paused:
                session.feed(CommandEvent(at, Command.PAUSE))
            cues = session.feed(CommandEvent(at, Command.STOP))
            assert isinstance(cues[-1], SessionFinished) and cues[-1].reason == "stopped"
            assert cues[-1].at == at
            assert Say(at, phrases.stopped, cues[-2].kind) == cues[-2]
            assert session.next_deadline() is None
            assert session.feed(Tick(at + 1000)) == []
            assert session.feed(CommandEvent(at + 1001, Command.RESUME)) == []


def test_stop_during_a_spoken_cue_is_honoured_at_the_same_instant(library: Library):
    records = run_virtual(library, "wall-standing", [(0.0, "stop")])
    assert records[-1] == {"t": 0.0, "who": "companion", "kind": "finished", "text": "stopped", "reason": "stopped"}


# -- next, back, repeat ---------------------------------------------------------------


def test_next_during_the_safety_note_does_not_skip_it(library: Library, phrases):
    session = make_session(library, "wall-standing")
    cues = session.start(0.0)
    while session.current_step.kind != "warning":
        cues = session.feed(Tick(session.next_deadline()))
    at = session.now
    cues = session.feed(CommandEvent(at, Command.NEXT))
    assert [c.text for c in cues if isinstance(c, Say)] == [phrases.cannot_skip_warning]
    assert session.current_step.kind == "warning"
    remaining = []
    while session.current_step.kind == "warning":
        remaining += session.feed(Tick(session.next_deadline()))
    assert any(isinstance(c, Say) and "uncomfortable" in c.text for c in remaining)


def test_next_skips_the_current_step_and_back_returns(library: Library):
    session = make_session(library, "wall-standing")
    session.start(0.0)
    session.feed(Tick(20.0))
    index = session.status().step_index
    cues = session.feed(CommandEvent(20.0, Command.NEXT))
    assert first(cues, StepStarted).index == index + 1
    cues = session.feed(CommandEvent(21.0, Command.BACK))
    assert first(cues, StepStarted).index == index
    assert first(cues, Say).at == 21.0


def test_back_skips_over_the_safety_note(library: Library):
    session = make_session(library, "wall-standing")
    session.start(0.0)
    while session.current_step.kind != "position":
        session.feed(Tick(session.next_deadline()))
    cues = session.feed(CommandEvent(session.now, Command.BACK))
    assert session.current_step.kind == "intro"
    assert not any(isinstance(c, Say) and c.kind.value == "warning" for c in cues)


def test_back_at_the_first_step_restarts_it(library: Library, phrases):
    session = make_session(library, "wall-standing")
    session.start(0.0)
    cues = session.feed(CommandEvent(1.0, Command.BACK))
    assert Say(1.0, phrases.first_step, cues[0].kind) in cues
    assert session.status().step_index == 0


def test_repeat_says_the_current_instruction_again_without_moving(library: Library):
    session = make_session(library, "wall-standing")
    session.start(0.0)
    while session.current_step.kind != "hold":
        session.feed(Tick(session.next_deadline()))
    session.feed(Tick(session.now + 100))
    before = session.status()
    cues = session.feed(CommandEvent(session.now, Command.REPEAT))
    assert [c.text for c in cues] == [session.current_step.main.text]
    assert session.status().step_index == before.step_index
    assert session.next_deadline() is not None


def test_next_at_the_last_step_completes_the_session(library: Library):
    session = make_session(library, "wall-standing")
    session.start(0.0)
    while session.status().step_index < len(session.plan.steps) - 1:
        session.feed(Tick(session.next_deadline()))
    cues = session.feed(CommandEvent(session.now, Command.NEXT))
    assert isinstance(cues[-1], SessionFinished) and cues[-1].reason == "completed"


def test_next_while_paused_moves_on_and_resumes(library: Library):
    session = make_session(library, "wall-standing")
    session.start(0.0)
    session.feed(CommandEvent(2.0, Command.PAUSE))
    session.feed(CommandEvent(9.0, Command.NEXT))
    assert not session.paused
    assert session.next_deadline() is not None


# -- sets, rests, sides ------------------------------------------------------------


def test_flying_swallow_has_three_sets_of_fifteen_with_five_second_counted_holds(library: Library):
    records = run_virtual(library, "flying-swallow")
    steps = [r for r in records if r["kind"] == "step_started"]
    sets = [s for s in steps if s["step_kind"] == "reps"]
    rests = [s for s in steps if s["step_kind"] == "rest"]
    assert [s["text"].split(":")[0] for s in sets] == ["Set 1 of 3", "Set 2 of 3", "Set 3 of 3"]
    assert len(rests) == 2
    reps_said = [text for _, text in says(records) if text[:3].rstrip(". ").isdigit() and ". " in text]
    assert len(reps_said) == 45
    # The first second is said "Hold: 1", so the count is not heard as the rep number running on.
    counts = [text for _, text in says(records) if text in {"Hold: 1", "1", "2", "3", "4", "5"}]
    assert counts == ["Hold: 1", "2", "3", "4", "5"] * 45


def sided_routine() -> Routine:
    return Routine.model_validate({
        "id": "side-test", "title": "Side test", "purpose": "Tests sides.",
        "steps": [{"reps": {"count": 2, "sets": 2, "sides": ["left", "right"], "move": "Lift.",
                            "rest_between_sets": 10}}],
        "sources": [{"lines": "1", "quote": "test"}],
    })


def test_left_and_right_sides_alternate_within_each_set(phrases):
    routine = sided_routine()
    plan = PlanBuilder({routine.id: routine}, phrases).for_entry(routine)
    reps = [s for s in plan.steps if isinstance(s, RepsStep)]
    assert [(s.set_number, s.side) for s in reps] == [(1, "left"), (1, "right"), (2, "left"), (2, "right")]
    cues = run_to_end(Session(plan, phrases))
    said = [c.text for c in cues if isinstance(c, Say)]
    assert "Set 1 of 2. Left side." in said and "Set 2 of 2. Right side." in said
    assert sum(1 for s in plan.steps if s.kind == "rest") == 3


# -- pace ----------------------------------------------------------------------------


def step_lengths(session: Session, kind: str) -> list[float]:
    cues = run_to_end(session)
    starts = [c for c in cues if isinstance(c, StepStarted)]
    out = []
    for a, b in zip(starts, starts[1:]):
        if a.kind == kind:
            out.append(round(b.at - a.at, 3))
    return out


def test_slower_pace_lengthens_tempo_but_never_a_fixed_hold(library: Library):
    normal = step_lengths(make_session(library, "flying-swallow"), "reps")
    slow = step_lengths(make_session(library, "flying-swallow", pace=1.5), "reps")
    assert all(s > n for s, n in zip(slow, normal))
    session = make_session(library, "flying-swallow", pace=2.0)
    cues = run_to_end(session)
    counts = [c for c in cues if isinstance(c, Say) and c.text in {"Hold: 1", "1", "2", "3", "4", "5", "6"}]
    assert {c.text for c in counts} == {"Hold: 1", "2", "3", "4", "5"}  # the 5-second hold stays 5 seconds


def test_a_ranged_hold_grows_with_pace_up_to_its_stated_maximum(library: Library):
    def hold_length(pace: float) -> float:
        cues = run_to_end(make_session(library, "mckenzie-1-prone-lying", pace=pace), answer=True)
        return first(cues, Beep, tone="end").at - first(cues, Beep, tone="start").at

    assert hold_length(1.0) == pytest.approx(120)
    assert hold_length(1.25) == pytest.approx(150)
    assert hold_length(2.0) == pytest.approx(180)  # 2-3 minutes: never more than 3
    assert hold_length(0.75) == pytest.approx(120)  # and never less than 2
    assert hold_length(1.0) == hold_length(0.75)


def test_pace_changes_within_bounds_and_says_so_at_the_limit(library: Library, phrases):
    session = make_session(library, "wall-standing")
    session.start(0.0)
    for _ in range(10):
        session.feed(CommandEvent(1.0, Command.SLOWER))
    assert session.pace == 2.0
    cues = session.feed(CommandEvent(1.0, Command.SLOWER))
    assert cues[0].text == phrases.slowest
    for _ in range(10):
        session.feed(CommandEvent(1.0, Command.FASTER))
    assert session.pace == 0.75
    assert session.feed(CommandEvent(1.0, Command.FASTER))[0].text == phrases.fastest


def test_slower_applies_from_the_next_rep(library: Library):
    session = make_session(library, "knees-to-chest")
    session.start(0.0)
    while session.current_step.kind != "reps":
        session.feed(Tick(session.next_deadline()))
    def rep_times(cues):
        return [c.at for c in cues if isinstance(c, Say) and c.text[:2].rstrip(".").isdigit()]
    before = []
    for _ in range(10):
        before += session.feed(Tick(session.next_deadline()))
    session.feed(CommandEvent(session.now, Command.SLOWER))
    after = []
    while session.current_step.kind == "reps":
        after += session.feed(Tick(session.next_deadline()))

    def gaps(times):
        return [round(b - a, 2) for a, b in zip(times, times[1:])]

    normal = gaps(rep_times(before))[1:]  # rep 1 says the long instruction, so skip its gap
    slowed = gaps(rep_times(after))
    assert normal and slowed
    assert min(slowed) > max(normal)


# -- status answers ---------------------------------------------------------------------


def answer(session: Session, command: Command) -> str:
    cues = session.feed(CommandEvent(session.now, command))
    return " ".join(c.text for c in cues if isinstance(c, Say))


def test_how_many_left_counts_reps_and_sets(library: Library):
    session = make_session(library, "flying-swallow")
    session.start(0.0)
    while session.current_step.kind != "reps":
        session.feed(Tick(session.next_deadline()))
    said = []
    while len([s for s in said if s[:2].rstrip(".").isdigit() and ". " in s]) < 4:
        said += [c.text for c in session.feed(Tick(session.next_deadline())) if isinstance(c, Say)]
    # Rep 4 has just been announced: reps 1-3 are done.
    assert answer(session, Command.HOW_MANY_LEFT) == "12 left in this set. 2 more after this one."


def test_how_many_left_in_a_hold_gives_the_time(library: Library):
    session = make_session(library, "wall-standing")
    session.start(0.0)
    while session.current_step.kind != "hold" or session._phase_index == 0:
        session.feed(Tick(session.next_deadline()))
    begin = session.now
    while session.now < begin + 100:  # "yes" to "Are you comfortable?" at 60 s, at once
        carry_on(session) if session.awaiting_answer else session.feed(Tick(min(session.next_deadline(), begin + 100)))
    assert answer(session, Command.HOW_MANY_LEFT) == "3 minutes 20 seconds left in this hold."


def test_whats_next_how_long_left_and_purpose(library: Library):
    session = make_session(library, "desk-break")
    session.start(0.0)
    assert answer(session, Command.WHATS_NEXT).startswith("Next: ")
    total = session.status().session_left
    text = answer(session, Command.HOW_LONG_LEFT)
    minutes = int(total // 60)
    assert text.startswith(f"About {minutes} minutes")
    assert answer(session, Command.PURPOSE) == library.get("desk-break").purpose
    assert answer(session, Command.HOW_MANY_LEFT) == "2 more after this one."


def test_help_depends_on_state(library: Library, phrases):
    session = make_session(library, "wall-standing")
    session.start(0.0)
    assert answer(session, Command.HELP) == phrases.help_running
    session.feed(CommandEvent(1.0, Command.PAUSE))
    assert answer(session, Command.HELP) == phrases.help_paused


def test_unrecognised_speech_gets_a_gentle_hint_and_changes_nothing(library: Library, phrases):
    session = make_session(library, "wall-standing")
    session.start(0.0)
    before = session.next_deadline()
    cues = session.feed(Unrecognised(0.5, "what a lovely day"))
    assert [c.text for c in cues] == [phrases.unknown]
    assert session.next_deadline() == before


# -- then-links and programmes --------------------------------------------------------------


def test_exercise_five_is_followed_by_exercise_three(library: Library):
    records = run_virtual(library, "mckenzie-5-lying-flexion")
    started = [r["routine_id"] for r in records if r["kind"] == "exercise_started"]
    assert started == ["mckenzie-5-lying-flexion", "mckenzie-3-prone-press-up"]


def test_programme_runs_its_routines_in_order(library: Library):
    records = run_virtual(library, "mckenzie-extension")
    started = [r["routine_id"] for r in records if r["kind"] == "exercise_started"]
    assert started == ["mckenzie-1-prone-lying", "mckenzie-2-prone-on-elbows", "mckenzie-3-prone-press-up"]
