"""The listening loop: endpointing on a frame stream, results onto the queue, a lost microphone."""

from __future__ import annotations

import queue

from companion.clock import RealClock
from companion.engine.events import Command
from companion.io.inputs import Heard
from companion.runner import Runner
from companion.speech.listener import FRAME_BYTES, Listener, Segmenter, split_frames
from companion.speech.recognizer import Recognition
from companion.speech.testset import add_noise
from companion.vocabulary import load_vocabulary
from tests.conftest import Collector, make_session


class ScriptedRecognizer:
    """Says it heard ``text`` for every utterance; records what it was fed."""

    name = "scripted"

    def __init__(self, text: str):
        self.text, self.fed, self.phrases = text, 0, None

    def set_phrases(self, phrases):
        self.phrases = phrases

    def start(self):
        self.fed = 0

    def accept(self, pcm):
        self.fed += len(pcm)

    def finish(self):
        return Recognition(self.text, 0.95, self.name)


def tone_burst(seconds: float) -> bytes:
    """A spoken word (the VAD listens for speech, not tones); ``seconds`` is ignored beyond choosing it."""
    import pytest

    from companion.speech.testset import EspeakUnavailable, synthesize

    try:
        return synthesize("pause for a moment please" if seconds > 0.6 else "yes")
    except EspeakUnavailable as exc:
        pytest.skip(f"espeak-ng is needed to make speech for the endpointer: {exc}")


def test_one_utterance_between_quiet_parts_gives_one_result():
    recognizer = ScriptedRecognizer("pause")
    segmenter = Segmenter(recognizer)
    quiet = add_noise(b"\0" * 16000, 0, seed=1, signal_power=16.0)
    results = [u for f in split_frames(quiet + tone_burst(0.8) + quiet) if (u := segmenter.feed(f))]
    assert len(results) == 1 and results[0].recognition.text == "pause"
    assert 0.5 * 16000 * 2 < recognizer.fed < 1.6 * 16000 * 2
    assert results[0].speech_end > results[0].speech_start


def test_grammar_changes_apply_from_the_next_utterance():
    recognizer = ScriptedRecognizer("yes")
    segmenter = Segmenter(recognizer)
    segmenter.use_phrases(["yes", "no"])
    quiet = add_noise(b"\0" * 16000, 0, seed=1, signal_power=16.0)
    for frame in split_frames(quiet + tone_burst(0.5) + quiet):
        segmenter.feed(frame)
    assert recognizer.phrases == ["yes", "no"]
    segmenter.use_phrases(None)  # free speech for a question
    for frame in split_frames(tone_burst(0.5) + quiet):
        segmenter.feed(frame)
    assert recognizer.phrases is None


class UnpluggedMicrophone:
    """Delivers a little quiet, then stops as a microphone does when it is pulled out."""

    lost = None

    def frames(self):
        yield from split_frames(b"\0" * FRAME_BYTES * 10)
        self.lost = "the microphone stopped delivering sound (unplugged?)"

    def close(self):
        pass


def test_unplugging_the_microphone_pauses_the_session(library):
    out = Collector()
    runner = Runner(make_session(library, "wall-standing"), RealClock(), load_vocabulary(), [out])
    inbox: queue.Queue = runner.inbox

    def lost(reason: str) -> None:
        inbox.put(Heard(runner.clock.now(), reason, "device-lost"))

    listener = Listener(UnpluggedMicrophone(), ScriptedRecognizer(""), runner.clock, inbox, on_lost=lost)
    listener.start()
    listener.join(timeout=5)
    inbox.put(Heard(0.5, "stop", "keyboard"))  # end the test session after the pause
    runner.run()
    notices = [r["text"] for r in out.records if r["kind"] == "notice"]
    assert any("unplugged" in text and "Pausing" in text for text in notices)
    states = [r["text"] for r in out.records if r["kind"] == "state"]
    assert states[0] == "paused"
    assert out.records[-1]["text"] == "stopped"
    heard = [r for r in out.records if r["kind"] == "heard"]
    assert [r["command"] for r in heard] == [Command.STOP.value]  # the pause came from the device, not the user
