"""Asking before acting on unsure commands, yes/no answers, voice volume and question mode."""

from __future__ import annotations

from companion.engine.cues import QuestionRequested, Say, SessionFinished, StepStarted, VoiceChanged
from companion.engine.events import AnswerEvent, Command, CommandEvent, Tick
from companion.engine.session import CONFIRM_WINDOW
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


def test_no_cancels_and_a_late_answer_is_not_taken(library, phrases):
    session = started(library)
    index = session.status().step_index
    session.feed(CommandEvent(20.0, Command.NEXT, "next", confirm=True))
    assert texts(session.feed(AnswerEvent(21.0, False, "no"))) == [phrases.confirm_cancelled]
    session.feed(CommandEvent(22.0, Command.BACK, "back", confirm=True))
    late = session.feed(AnswerEvent(22.0 + CONFIRM_WINDOW + 1, True, "yes"))
    assert phrases.nothing_to_answer in texts(late)
    assert session.status().step_index >= index


def test_unsure_stop_pauses_at_once_then_asks(library, phrases):
    session = started(library)
    cues = session.feed(CommandEvent(20.0, Command.STOP, "stop", confirm=True))
    assert session.paused and not session.finished
    assert texts(cues) == [phrases.confirm_stop]
    assert session.next_deadline() is None  # nothing more is said while we wait
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
