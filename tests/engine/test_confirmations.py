"""Asking before acting on unsure commands, yes/no answers, voice volume and question mode.

A question of the session's own holds the routine until it is answered; unanswered, it is
asked once more in a short form, then dropped (engine/session.py ANSWER_SECONDS).
"""

from __future__ import annotations

import time

import pytest

from companion.engine.cues import (Beep, QuestionRequested, Say, SessionFinished, StateChanged, StepStarted,
                                   VoiceChanged)
from companion.engine.events import AnswerEvent, Command, CommandEvent, NumberEvent, Tick, Unrecognised
from companion.engine.session import AGAIN_SECONDS, ANSWER_SECONDS
from tests.conftest import make_session


def started(library, at=20.0):
    session = make_session(library, "wall-standing")
    session.start(0.0)
    session.feed(Tick(at))
    return session


def texts(cues):
    return [c.text for c in cues if isinstance(c, Say)]


def test_unsure_next_is_asked_about_and_yes_does_it(library, phrases):
    session = started(library)
    index = session.status().step_index
    cues = session.feed(CommandEvent(20.0, Command.NEXT, "next", confirm=True))
    assert texts(cues) == [phrases.confirm_next]
    assert session.status().step_index == index
    cues = session.feed(AnswerEvent(22.0, True, "yes"))
    assert any(isinstance(c, StepStarted) and c.index == index + 1 for c in cues)


def test_no_cancels_and_an_answer_after_the_question_was_dropped_is_not_taken(library, phrases):
    session = started(library)
    index = session.status().step_index
    session.feed(CommandEvent(20.0, Command.NEXT, "next", confirm=True))
    assert texts(session.feed(AnswerEvent(21.0, False, "no"))) == [phrases.confirm_cancelled]
    session.feed(CommandEvent(22.0, Command.BACK, "back", confirm=True))
    late = session.feed(AnswerEvent(22.0 + 60, True, "yes"))
    assert phrases.again_back in texts(late) and phrases.question_dropped in texts(late)
    assert phrases.nothing_to_answer in texts(late)
    assert session.status().step_index >= index


def test_unsure_stop_pauses_at_once_then_asks(library, phrases):
    session = started(library)
    cues = session.feed(CommandEvent(20.0, Command.STOP, "stop", confirm=True))
    assert session.paused and not session.finished
    assert texts(cues) == [phrases.confirm_stop]
    # Nothing more is said while we wait, until it is time to ask again.
    assert session.next_deadline() == pytest.approx(20.0 + session.timing.speech(phrases.confirm_stop)
                                                    + ANSWER_SECONDS)
    cues = session.feed(AnswerEvent(23.0, True, "yes"))
    assert isinstance(cues[-1], SessionFinished) and cues[-1].reason == "stopped"


def test_unsure_stop_then_resume_carries_on(library):
    session = started(library)
    session.feed(CommandEvent(20.0, Command.STOP, "stop", confirm=True))
    session.feed(CommandEvent(24.0, Command.RESUME, "resume"))
    assert not session.paused and not session.finished


def test_a_clear_command_replaces_a_pending_question(library):
    session = started(library)
    session.feed(CommandEvent(20.0, Command.NEXT, "next", confirm=True))
    session.feed(CommandEvent(21.0, Command.PAUSE, "pause"))
    assert session.paused
    assert "did not ask" in texts(session.feed(AnswerEvent(22.0, True, "yes")))[0]


def test_louder_and_quieter_ask_the_speaker_and_change_nothing_else(library, phrases):
    session = started(library)
    deadline = session.next_deadline()
    cues = session.feed(CommandEvent(20.0, Command.LOUDER, "louder"))
    assert VoiceChanged(20.0, 1) in cues and phrases.louder in texts(cues)
    cues = session.feed(CommandEvent(20.0, Command.QUIETER, "quieter"))
    assert VoiceChanged(20.0, -1) in cues
    assert session.next_deadline() == deadline


def test_question_pauses_and_asks_for_it(library, phrases):
    session = started(library)
    cues = session.feed(CommandEvent(20.0, Command.QUESTION, "i have a question"))
    assert session.paused
    assert phrases.ask_question in texts(cues)
    assert any(isinstance(c, QuestionRequested) for c in cues)


# -- a question holds the routine -----------------------------------------------------------


def wait_for(session, phrases, question, again):
    """When ``question`` (said at ``session.now``) is asked again, and when it is dropped, if unanswered."""
    speech = session.timing.speech
    asked_again = session.now + speech(question) + ANSWER_SECONDS
    return asked_again, asked_again + speech(again) + AGAIN_SECONDS


def test_an_unsure_command_holds_the_routine_asks_once_more_then_carries_on(library, phrases):
    session = started(library)
    plain = started(library)
    ahead = plain.feed(Tick(80.0))
    assert [c for c in ahead if isinstance(c, Say)], "the routine would have said something by 80 s"
    question = phrases.confirm_other.format(command="pause")
    cues = session.feed(CommandEvent(20.0, Command.PAUSE, "pause", confirm=True, name="pause"))
    assert texts(cues) == [question]
    again_at, dropped_at = wait_for(session, phrases, question, phrases.again_other.format(command="Pause"))
    assert session.next_deadline() == pytest.approx(again_at)
    assert session.feed(Tick(again_at - 0.01)) == []  # no next cue while it waits
    cues = session.feed(Tick(again_at))
    assert texts(cues) == ["Pause? Yes or no."] and session.awaiting == "yesno"
    assert session.question == "Pause? Yes or no."
    assert session.feed(Tick(dropped_at - 0.01)) == []
    cues = session.feed(Tick(dropped_at))
    assert texts(cues) == [phrases.question_dropped]
    assert not session.paused and session.awaiting is None and session.question == ""
    # The routine goes on where it was held: every cue comes exactly the held time later.
    held = dropped_at - 20.0
    rest = session.feed(Tick(80.0 + held))
    assert [(round(c.at - held, 6), c.text) for c in rest if isinstance(c, Say)] == [
        (round(c.at, 6), c.text) for c in ahead if isinstance(c, Say)]


def test_an_answer_to_the_short_form_still_counts(library, phrases):
    session = started(library)
    session.feed(CommandEvent(20.0, Command.NEXT, "next", confirm=True))
    again_at, _ = wait_for(session, phrases, phrases.confirm_next, phrases.again_next)
    assert texts(session.feed(Tick(again_at))) == [phrases.again_next]
    index = session.status().step_index
    cues = session.feed(AnswerEvent(again_at + 2, True, "yes"))
    assert any(isinstance(c, StepStarted) and c.index == index + 1 for c in cues)


def test_an_unanswered_unsure_stop_stays_paused_and_says_how_to_go_on(library, phrases):
    session = started(library)
    session.feed(CommandEvent(20.0, Command.STOP, "stop", confirm=True))
    again_at, dropped_at = wait_for(session, phrases, phrases.confirm_stop, phrases.again_stop)
    cues = session.feed(Tick(dropped_at + 100))
    assert texts(cues) == [phrases.again_stop, phrases.question_dropped_paused]
    assert [c.at for c in cues if isinstance(c, Say)] == pytest.approx([again_at, dropped_at])
    assert session.paused and not session.finished and session.awaiting is None
    assert session.next_deadline() is None  # paused: nothing more until resume
    session.feed(CommandEvent(dropped_at + 101, Command.RESUME, "resume"))
    assert not session.paused


def test_status_while_a_question_waits_is_answered_and_the_question_keeps_waiting(library, phrases):
    session = started(library)
    session.feed(CommandEvent(20.0, Command.NEXT, "next", confirm=True))
    before = session.status(20.0).session_left
    cues = session.feed(CommandEvent(25.0, Command.HOW_LONG_LEFT, "how long is left"))
    said = texts(cues)
    assert len(said) == 1 and said[0].startswith("About")
    assert session.awaiting == "yesno" and session.question == phrases.confirm_next
    assert session.status(25.0).session_left == before  # the routine is held: no time went by
    # The wait starts again once the answer to "how long" has been said.
    assert session.next_deadline() == pytest.approx(25.0 + session.timing.speech(said[0]) + ANSWER_SECONDS)
    index = session.status().step_index
    cues = session.feed(AnswerEvent(27.0, True, "yes"))
    assert any(isinstance(c, StepStarted) and c.index == index + 1 for c in cues)


def test_other_words_while_a_question_waits_get_the_hint_and_it_keeps_waiting(library, phrases):
    session = started(library)
    session.feed(CommandEvent(20.0, Command.NEXT, "next", confirm=True))
    assert texts(session.feed(Unrecognised(21.0, "hmm"))) == [phrases.answer_yes_no]
    assert texts(session.feed(NumberEvent(22.0, 3))) == [phrases.answer_yes_no]
    assert session.awaiting == "yesno"


def test_a_clear_pause_while_a_question_holds_the_routine_pauses_it_where_it_was_held(library):
    session = started(library)
    left = session.status(20.0).session_left
    session.feed(CommandEvent(20.0, Command.NEXT, "next", confirm=True))
    session.feed(CommandEvent(24.0, Command.PAUSE, "pause"))
    assert session.paused and session.awaiting is None and session.next_deadline() is None
    assert session.status(60.0).session_left == pytest.approx(left)
    cues = session.feed(CommandEvent(70.0, Command.RESUME, "resume"))
    assert any(isinstance(c, StateChanged) and c.state == "running" for c in cues)
    assert session.status(70.0).session_left == pytest.approx(left)


def test_a_comfort_check_never_stretches_a_multi_minute_hold_and_its_answer_still_counts(library, phrases):
    """The wall stand's 5-minute hold: its check at 1 minute is answered while the hold runs on (the
    hold time is a limit, never stretched), and an unanswered check lapses without a word."""
    session = make_session(library, "wall-standing")
    clock = time.perf_counter()
    cues = session.start(0.0)
    while not session.awaiting_answer:
        cues += session.feed(Tick(session.next_deadline()))
    begin = next(c.at for c in cues if isinstance(c, Beep) and c.tone == "start")
    asked = session.now
    assert asked - begin == pytest.approx(60.0) and session.question == phrases.comfort_check
    left = session.status().step_total - session.status().step_elapsed
    cues = session.feed(Tick(asked + 7.0))
    assert session.status(asked + 7).step_total - session.status(asked + 7).step_elapsed == \
        pytest.approx(left - 7.0)  # the hold timer runs on
    cues = session.feed(AnswerEvent(asked + 7.0, True, "yes"))
    assert texts(cues) == [phrases.comfort_yes] and session.awaiting is None
    lapsed = []
    while (deadline := session.next_deadline()) is not None:
        before = session.awaiting_answer
        new = session.feed(Tick(deadline))
        if before and not session.awaiting_answer:
            lapsed.append(new)
        cues += new
    end = next(c.at for c in cues if isinstance(c, Beep) and c.tone == "end")
    assert end - begin == pytest.approx(300.0)  # exactly the hold, checks or no checks
    assert lapsed and all(phrases.question_dropped not in texts(c) for c in lapsed)
    assert time.perf_counter() - clock < 1.0


def test_a_pain_score_said_while_a_command_is_asked_about_answers_the_pain_question(library, phrases):
    from tests.care.test_session_care import care_session

    runner, _ = care_session(library, "wall-standing", screen=False)
    session = runner.session
    runner.advance_to(0.0)
    while session.awaiting != "number":
        runner.advance_to(session.next_deadline())
    step = session.status().step_index
    asked = session.feed(CommandEvent(session.now + 1, Command.NEXT, "next", confirm=True))
    assert texts(asked) == [phrases.confirm_next] and session.awaiting == "yesno"
    session.feed(NumberEvent(session.now + 1, 3, "three"))
    assert session.awaiting != "yesno" and session.status().step_index == step + 1
    assert session.pain[("wall-standing", "before")]["score"] == 3
