"""The session loop on the real clock: queue-fed input, stop cuts speech off, logs survive a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from companion.engine.clock import RealClock
from companion.language.heard import Heard
from companion.app.runner import Runner
from companion.language.vocabulary import load_vocabulary
from tests.conftest import Collector, make_session


class FakeSpeaker(Collector):
    """Records what would be spoken and when it was cut off."""


def test_stop_interrupts_outputs_before_the_engine_answers(library):
    outputs = FakeSpeaker()
    runner = Runner(make_session(library, "wall-standing"), RealClock(), load_vocabulary(), [outputs])
    runner.inbox.put(Heard(0.05, "stop", "keyboard"))
    started = time.monotonic()
    assert runner.run() == "stopped"
    assert time.monotonic() - started < 5
    kinds = [r["kind"] for r in outputs.records]
    stop_heard = next(i for i, r in enumerate(outputs.records) if r.get("command") == "stop")
    assert kinds[stop_heard - 1] == "_interrupt"
    assert kinds[-1] == "finished"


def test_real_clock_session_takes_commands_from_the_queue(library):
    outputs = Collector()
    runner = Runner(make_session(library, "wall-standing"), RealClock(), load_vocabulary(), [outputs])
    for at, text in ((0.05, "pause"), (0.1, "how long left"), (0.15, "resume"), (0.2, "stop")):
        runner.inbox.put(Heard(at, text, "keyboard"))
    runner.run()
    commands = [r["command"] for r in outputs.records if r["kind"] == "heard"]
    assert commands == ["pause", "how_long_left", "resume", "stop"]


def test_session_log_keeps_every_event_when_the_process_is_killed(tmp_path):
    """Start a real session with typed commands, SIGKILL it mid-hold, read the log.

    It waits for the lines the program prints, never for a fixed time, so a busy machine
    only makes it slower."""
    env = {**os.environ, "COMPANION_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "companion", "run", "wall-standing", "--keyboard", "--text"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )

    def wait_for(needle: str) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line or needle in line:
                return
        raise AssertionError(f"never printed {needle!r}")

    try:
        wait_for("WALL STANDING")
        proc.stdin.write("next\nnext\n")  # skip the intro; the safety note refuses to be skipped
        proc.stdin.flush()
        wait_for("YOU SAID: 'next'")
        wait_for("YOU SAID: 'next'")
        proc.stdin.write("how long left\n")
        proc.stdin.flush()
        wait_for("ANSWER")  # the answer to it is printed...
        proc.stdout.readline()  # ...and once the next record is, every output has the answer too
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    logs = list((tmp_path / "sessions").glob("*.jsonl"))
    assert len(logs) == 1
    assert oct(logs[0].stat().st_mode & 0o777) == "0o600"
    records = [json.loads(line) for line in logs[0].read_text().splitlines()]
    heard = [r["command"] for r in records if r["kind"] == "heard"]
    assert heard == ["next", "next", "how_long_left"]
    assert any(r["kind"] == "say" and r.get("say") == "status" for r in records)
    assert not any(r["kind"] == "finished" for r in records)


def test_an_utterance_begun_over_its_speech_counts_only_as_stop(library):
    """Understood after the sentence ended, but begun while the companion spoke: it may be its own
    voice, so the rules for speech heard while speaking apply."""
    from companion.engine.clock import VirtualClock
    from companion.speech.ports import Recognition

    out = Collector()
    runner = Runner(make_session(library, "wall-standing"), VirtualClock(), load_vocabulary(), [out])
    runner.advance_to(20.0)
    sure = Recognition("pause", 0.99, "test")
    runner.hear(Heard(20.0, "pause", "voice", sure, over_speech=True))
    assert not runner.session.paused
    runner.hear(Heard(21.0, "pause", "voice", sure))
    assert runner.session.paused


def test_while_the_voice_is_speaking_only_stop_counts_and_stop_cuts_it_off(library):
    """The runner asks the devices (its ``voice``) whether the companion is talking."""
    from companion.engine.clock import VirtualClock
    from companion.speech.ports import Recognition

    class Talking:
        def speaking(self) -> bool:
            return True

        def speaking_text(self) -> str:
            return "Now stay like this for five minutes."

    out = FakeSpeaker()
    runner = Runner(make_session(library, "wall-standing"), VirtualClock(), load_vocabulary(), [out],
                    voice=Talking())
    runner.advance_to(20.0)
    runner.hear(Heard(20.0, "pause", "voice", Recognition("pause", 0.99, "test")))
    assert not runner.session.paused
    runner.hear(Heard(21.0, "stop", "voice", Recognition("stop", 0.99, "test")))
    assert runner.session.finished and {"kind": "_interrupt"} in out.records


# -- an answer said over the companion's own question ----------------------------------------------


class Voice:
    """The devices' answer to "is it speaking, and what": set by the test."""

    def __init__(self) -> None:
        self.text = ""

    def speaking(self) -> bool:
        return bool(self.text)

    def speaking_text(self) -> str:
        return self.text


def asking_runner(library, cancelled: bool):
    from companion.engine.clock import VirtualClock
    from companion.language.understanding import Understanding
    from companion.speech.ports import Recognition

    vocabulary = load_vocabulary()
    voice, out = Voice(), FakeSpeaker()
    runner = Runner(make_session(library, "wall-standing"), VirtualClock(), vocabulary, [out], voice=voice,
                    understanding=Understanding(vocabulary, echo_cancelled=lambda: cancelled))
    runner.advance_to(20.0)
    unsure = Recognition("pause", 0.5, "test")
    runner.hear(Heard(20.0, "pause", "voice", unsure))  # "Did you say pause? Say yes or no."
    assert runner.session.awaiting == "yesno"
    return runner, voice, out


def test_a_yes_said_while_it_asks_its_question_answers_it_and_cuts_the_question_short(library):
    from companion.speech.ports import Recognition

    runner, voice, out = asking_runner(library, cancelled=True)
    voice.text = runner.session.question  # still saying it
    runner.hear(Heard(21.0, "yes", "voice", Recognition("yes", 0.8, "test")))
    assert runner.session.paused and runner.session.awaiting is None
    heard = [r for r in out.records if r["kind"] == "heard"][-1]
    assert heard["answer"] == "yes" and heard["decision"] == "answer"
    assert out.records[out.records.index(heard) - 1] == {"kind": "_interrupt"}


def test_without_a_canceller_its_own_yes_or_no_coming_back_answers_nothing(library):
    from companion.speech.ports import Recognition

    runner, voice, out = asking_runner(library, cancelled=False)
    voice.text = runner.session.question  # "...Say yes or no.": that "yes" may be its own
    runner.hear(Heard(21.0, "yes", "voice", Recognition("yes", 0.99, "test")))
    assert not runner.session.paused and runner.session.awaiting == "yesno"
    voice.text = ""  # once it has stopped speaking, the answer counts as ever
    runner.hear(Heard(22.0, "yes", "voice", Recognition("yes", 0.8, "test")))
    assert runner.session.paused


def test_an_answer_begun_over_its_question_and_understood_just_after_counts(library):
    from companion.language.understanding import ANSWER_GRACE_SECONDS
    from companion.speech.ports import Recognition

    runner, voice, out = asking_runner(library, cancelled=True)
    voice.text = runner.session.question
    runner.advance_to(21.0)
    assert runner.speaking()  # the runner sees it saying the question at 21 s...
    voice.text = ""  # ...then it stops
    yes = Recognition("yes", 0.8, "test")
    runner.clock.advance_to(21.0 + ANSWER_GRACE_SECONDS + 0.5)
    runner.hear(Heard(runner.clock.now(), "yes", "voice", yes, over_speech=True))
    assert runner.session.awaiting == "yesno"  # too long after: it may have been anything
    runner.advance_to(22.0 + ANSWER_GRACE_SECONDS)
    voice.text = runner.session.question
    assert runner.speaking()
    voice.text = ""
    runner.clock.advance_to(runner.clock.now() + 1.0)
    runner.hear(Heard(runner.clock.now(), "yes", "voice", yes, over_speech=True))
    assert runner.session.paused and runner.session.awaiting is None


def test_a_yes_over_any_other_sentence_is_still_ignored(library):
    from companion.speech.ports import Recognition

    runner, voice, out = asking_runner(library, cancelled=True)
    voice.text = "Now stay like this for five minutes."
    runner.hear(Heard(21.0, "yes", "voice", Recognition("yes", 0.99, "test")))
    assert runner.session.awaiting == "yesno" and not runner.session.paused


def test_the_routine_waits_for_the_answer_on_the_virtual_clock(library):
    """Nothing else is said while the question waits, however long the answer takes within its time."""
    from companion.speech.ports import Recognition

    runner, voice, out = asking_runner(library, cancelled=True)
    before = len(out.records)
    runner.advance_to(27.0)
    assert [r for r in out.records[before:] if r["kind"] == "say"] == []
    runner.hear(Heard(27.0, "no", "voice", Recognition("no", 0.9, "test")))
    assert [r["text"] for r in out.records[before:] if r["kind"] == "say"] == [
        runner.phrases.confirm_cancelled]


def test_the_log_says_which_model_heard_a_spoken_word(library):
    """A misheard command in a live session can only be traced if the log names the model behind it."""
    from companion.speech.ports import Recognition

    runner, voice, out = asking_runner(library, cancelled=True)
    runner.hear(Heard(22.0, "yes", "voice", Recognition("yes", 0.9, "fused", details={"decided_by": "keywords"})))
    heard = [r for r in out.records if r["kind"] == "heard"]
    assert heard[-1]["heard_by"] == "keywords"
    assert "heard_by" not in heard[0]  # the test recogniser before it gave no evidence
