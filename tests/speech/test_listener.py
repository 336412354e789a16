"""The listening loop: endpointing on a frame stream, results onto the queue, a lost microphone."""

from __future__ import annotations

import queue

from companion.engine.clock import RealClock
from companion.engine.events import Command
from companion.language.heard import Heard
from companion.app.runner import Runner
from companion.speech.audio.segmenter import FRAME_BYTES, Segmenter, split_frames
from companion.speech.listener import Listener
from companion.speech.ports import AudioSource, Recognition, Recognizer
from bench.testset import add_noise
from companion.language.vocabulary import load_vocabulary
from tests.conftest import Collector, make_session


class ScriptedRecognizer(Recognizer):
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

    from bench.testset import EspeakUnavailable, synthesize

    try:
        return synthesize("pause for a moment please" if seconds > 0.6 else "yes")
    except EspeakUnavailable as exc:
        pytest.skip(f"espeak-ng is needed to make speech for the endpointer: {exc}")


def test_one_utterance_between_quiet_parts_gives_one_result():
    recognizer = ScriptedRecognizer("pause")
    segmenter = Segmenter(recognizer, load_vocabulary().meaning)
    quiet = add_noise(b"\0" * 32000, 0, seed=1, signal_power=16.0)
    speech = tone_burst(0.8)
    results = [u for f in split_frames(quiet + speech + quiet) if (u := segmenter.feed(f))]
    assert len(results) == 1 and results[0].recognition.text == "pause"
    # the speech, a little of the quiet before it (pre-roll) and the hangover after (a sentence's, as
    # this one lasts over SENTENCE_SECONDS); not all the quiet
    assert 0.8 * len(speech) < recognizer.fed < len(speech) + 0.9 * 16000 * 2
    assert results[0].speech_end > results[0].speech_start


def test_grammar_changes_apply_from_the_next_utterance():
    recognizer = ScriptedRecognizer("yes")
    segmenter = Segmenter(recognizer, load_vocabulary().meaning)
    segmenter.use_phrases(["yes", "no"])
    quiet = add_noise(b"\0" * 16000, 0, seed=1, signal_power=16.0)
    for frame in split_frames(quiet + tone_burst(0.5) + quiet):
        segmenter.feed(frame)
    assert recognizer.phrases == ["yes", "no"]
    segmenter.use_phrases(None)  # free speech for a question
    for frame in split_frames(tone_burst(0.5) + quiet):
        segmenter.feed(frame)
    assert recognizer.phrases is None


class UnpluggedMicrophone(AudioSource):
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

    def heard(at, recognition, over_speech) -> None:
        inbox.put(Heard(at, recognition.text, "voice", recognition, over_speech=over_speech))

    listener = Listener(UnpluggedMicrophone(), ScriptedRecognizer(""), runner.clock, heard,
                        load_vocabulary().meaning, on_lost=lost)
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


class PartialRecognizer(ScriptedRecognizer):
    """Also reports a partial hypothesis, as PocketSphinx and Vosk do while audio streams in."""

    def __init__(self, text: str, partial: str | None = None):
        super().__init__(text)
        self._partial = text if partial is None else partial
        self.phrases = ["stop", "stop now", "go on", "go back", "yes"]

    @property
    def partial(self) -> str:
        return self._partial

    @partial.setter
    def partial(self, text: str) -> None:
        self._partial = text


def _frames_until_result(segmenter: Segmenter, pcm: bytes) -> tuple[list, int]:
    """Results, and the frame index of the first one."""
    results, first = [], -1
    for index, frame in enumerate(split_frames(pcm)):
        if (u := segmenter.feed(frame)):
            results.append(u)
            first = index if first < 0 else first
    return results, first


def test_a_settled_phrase_ends_sooner_than_one_that_could_still_change():
    quiet = add_noise(b"\0" * 32000, 0, seed=1, signal_power=16.0)
    speech = tone_burst(0.5)
    vocabulary = load_vocabulary()
    settled = Segmenter(PartialRecognizer("stop"), meaning=vocabulary.meaning)
    open_ended = Segmenter(PartialRecognizer("go on", partial="go"), meaning=vocabulary.meaning)
    _, early = _frames_until_result(settled, quiet + speech + quiet)
    _, late = _frames_until_result(open_ended, quiet + speech + quiet)
    # "stop" (and every phrase starting with it) means stop: 0.12 s of quiet is enough;
    # "go" may become "go on" or "go back": the full 0.21 s hangover applies
    assert late - early == round((0.21 - 0.12) / 0.03)


def test_the_rest_of_an_early_ended_phrase_is_not_a_new_command():
    quiet = add_noise(b"\0" * 32000, 0, seed=1, signal_power=16.0)
    gap = add_noise(b"\0" * int(0.3 * 32000), 0, seed=2, signal_power=16.0)
    word = tone_burst(0.5)
    vocabulary = load_vocabulary()
    recognizer = PartialRecognizer("stop")
    segmenter = Segmenter(recognizer, meaning=vocabulary.meaning)
    results, _ = _frames_until_result(segmenter, quiet + word + gap + word + quiet)
    assert [u.recognition.text for u in results] == ["stop", "stop"]  # a second stop still counts

    recognizer = PartialRecognizer("stop")
    segmenter = Segmenter(recognizer, meaning=vocabulary.meaning)
    results = []
    for index, frame in enumerate(split_frames(quiet + word + gap + word + quiet)):
        if (u := segmenter.feed(frame)):
            results.append(u)
            recognizer.text = recognizer.partial = "yes"  # what follows "stop" is heard as something else
    assert [u.recognition.text for u in results] == ["stop"]

    segmenter = Segmenter(PartialRecognizer("yes"), meaning=vocabulary.meaning)
    results, _ = _frames_until_result(segmenter, quiet + word + quiet + word + quiet)
    assert len(results) == 2  # a second word a second later is a new utterance


def test_free_speech_waits_through_pauses_inside_a_sentence():
    quiet = add_noise(b"\0" * 32000, 0, seed=1, signal_power=16.0)
    pause = add_noise(b"\0" * int(0.4 * 32000), 0, seed=2, signal_power=16.0)
    word = tone_burst(0.5)
    segmenter = Segmenter(ScriptedRecognizer("why do my legs tingle"), load_vocabulary().meaning)
    segmenter.use_phrases(None)
    results, _ = _frames_until_result(segmenter, quiet + word + pause + word + quiet)
    assert len(results) == 1
    commands = Segmenter(ScriptedRecognizer("yes"), load_vocabulary().meaning)
    results, _ = _frames_until_result(commands, quiet + word + pause + word + quiet)
    assert len(results) == 2


class FakeSounddevice:
    """Stands in for the sounddevice module: a device that opens, fails, or hangs."""

    def __init__(self, mode: str):
        import threading as _threading

        self.mode, self.release = mode, _threading.Event()

    def query_devices(self, device=None, kind=None):
        if self.mode == "none":
            raise ValueError("No input device matching -1")
        return {"name": "fake"}

    def RawInputStream(self, **kwargs):  # noqa: N802 - sounddevice's name
        outer = self

        class Stream:
            active = True

            def start(self):
                if outer.mode == "hang-open":
                    outer.release.wait(10)

            def abort(self):
                if outer.mode == "hang-close":
                    outer.release.wait(10)

            def close(self):
                pass

        return Stream()


def _fake_sounddevice(monkeypatch, mode: str) -> FakeSounddevice:
    import sys

    from companion.speech.audio import microphone

    fake = FakeSounddevice(mode)
    monkeypatch.setitem(sys.modules, "sounddevice", fake)
    monkeypatch.setattr(microphone, "OPEN_TIMEOUT", 0.2)
    return fake


def test_no_input_device_says_what_is_missing_and_how_to_go_on(monkeypatch):
    import pytest

    from companion.speech.audio.microphone import Microphone, MicrophoneUnavailable

    _fake_sounddevice(monkeypatch, "none")
    with pytest.raises(MicrophoneUnavailable, match="no microphone was found .* --keyboard"):
        Microphone()


def test_a_sound_server_that_never_answers_does_not_hang_the_companion(monkeypatch):
    import time

    import pytest

    from companion.speech.audio.microphone import Microphone, MicrophoneUnavailable

    fake = _fake_sounddevice(monkeypatch, "hang-open")
    started = time.monotonic()
    with pytest.raises(MicrophoneUnavailable, match="did not answer within"):
        Microphone()
    assert time.monotonic() - started < 2.0
    fake.release.set()


def test_closing_a_stuck_device_returns_promptly(monkeypatch):
    import time

    from companion.speech.audio.microphone import Microphone

    fake = _fake_sounddevice(monkeypatch, "hang-close")
    microphone = Microphone()
    started = time.monotonic()
    microphone.close()
    assert time.monotonic() - started < 2.0
    fake.release.set()


class PauseRecorder(ScriptedRecognizer):
    """Records when it is told the voice paused or came back, in frames fed so far."""

    def __init__(self, text: str):
        super().__init__(text)
        self.told: list[tuple[bool, int]] = []

    def voice_paused(self, paused):
        self.told.append((paused, self.fed))


def test_the_recogniser_is_told_when_the_voice_pauses_and_when_it_comes_back():
    # So Whisper's encoder can run while the hangover is waited out (companion.speech.asr.fused).
    recognizer = PauseRecorder("yes")
    segmenter = Segmenter(recognizer, load_vocabulary().meaning)
    quiet = add_noise(b"\0" * 32000, 0, seed=1, signal_power=16.0)
    gap = add_noise(b"\0" * int(32000 * 0.25), 0, seed=2, signal_power=16.0)  # shorter than the hangover
    word = tone_burst(0.3)
    results = [u for f in split_frames(quiet + word + gap + word + quiet) if (u := segmenter.feed(f))]
    assert len(results) == 1
    told = [paused for paused, _ in recognizer.told]
    assert told == [True, False, True]
    # The last pause is told before the hangover ends, while the utterance is still being fed.
    assert recognizer.told[-1][1] < recognizer.fed
