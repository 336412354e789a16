"""Speech out: real espeak-ng synthesis, playback into a fake stream, interruption, fallbacks."""

from __future__ import annotations

import array
import time

import pytest

from companion.speech.tts import speaker as sp
from tests.speech.fakes import FakeStream


@pytest.fixture(scope="module")
def engine():
    try:
        return sp.open_engine(sp.Voice())
    except sp.SpeechUnavailable as exc:
        pytest.skip(f"espeak-ng is not installed here: {exc}")


def test_synthesise_writes_real_audio(engine, tmp_path):
    frames = sp.synthesise(engine, "Hold this position for five minutes.", tmp_path / "a.wav")
    seconds = len(frames) / 2 / 22050
    assert 1.0 < seconds < 5.0


def test_a_slow_sentence_does_not_slow_the_speech_after_it(engine, tmp_path):
    """espeak-ng keeps an embedded rate for the rest of the process; synthesise() restates its own."""
    before = len(sp.synthesise(engine, "my thigh", tmp_path / "a.wav"))
    sp.synthesise(engine, "\x0190SThis sentence is spoken slowly.", tmp_path / "b.wav")
    after = len(sp.synthesise(engine, "my thigh", tmp_path / "c.wav"))
    assert abs(after - before) < 0.1 * before, (before, after)


def test_interrupt_silences_playback_within_100_ms(engine):
    stream = FakeStream()
    speaker = sp.Pyttsx3Speaker(engine=engine, stream=stream)
    speaker.say("Stand with your back to a wall. Let your upper back, your shoulders and your buttocks touch it.")
    speaker.say("This queued sentence must never be heard.")
    deadline = time.monotonic() + 5
    while stream.written == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert stream.written > 0, "playback never started"
    asked = time.monotonic()
    speaker.interrupt()
    written = stream.written
    time.sleep(0.3)
    assert stream.aborted_at - asked < 0.1
    assert stream.written - written <= int(22050 * sp.CHUNK_SECONDS) * 2  # at most one chunk in flight
    assert speaker.idle()
    speaker.close()


def test_missing_output_device_says_what_to_do(monkeypatch):
    import sounddevice

    def no_device(*args, **kwargs):
        raise sounddevice.PortAudioError("Error querying device -1")

    monkeypatch.setattr(sounddevice, "query_devices", no_device)
    with pytest.raises(sp.SpeechUnavailable, match="no audio output device"):
        sp.open_output_stream()


def test_unknown_voice_is_refused_not_silently_ignored(engine):
    with pytest.raises(sp.SpeechUnavailable, match="no voice called 'klingon'"):
        sp.open_engine(sp.Voice(voice="klingon"))


def test_missing_espeak_library_names_the_package(monkeypatch):
    import pyttsx3

    def broken_init(*args, **kwargs):
        raise OSError("libespeak.so.1: cannot open shared object file")

    monkeypatch.setattr(pyttsx3, "init", broken_init)
    with pytest.raises(sp.SpeechUnavailable, match="apt-get install libespeak-ng1"):
        sp.open_engine(sp.Voice())


def test_a_profile_voice_is_checked_against_the_installed_voices(engine):
    from companion.care.profiles import Profile, ProfileError, set_value

    assert set_value(Profile("bob"), "voice", "en-gb-x-rp").voice == "en-gb-x-rp"
    assert set_value(Profile("bob"), "voice", "default").voice == ""
    with pytest.raises(ProfileError, match="no voice called 'klingon'"):
        set_value(Profile("bob"), "voice", "klingon")
    assert sp._voice_id("en-gb-x-rp").endswith("en-gb-x-rp")


def test_taps_get_every_chunk_just_before_it_is_played(engine):
    """The echo canceller's reference: exactly what went to the sound card, in order."""
    stream = FakeStream()
    speaker = sp.Pyttsx3Speaker(engine=engine, stream=stream)
    tapped: list[tuple[bytes, int, int]] = []
    speaker.add_tap(lambda pcm, rate: tapped.append((pcm, rate, stream.written)))
    speaker.say("Breathe in.")
    speaker.close()
    assert tapped and all(rate == 22050 for _, rate, _ in tapped)
    assert sum(len(pcm) for pcm, _, _ in tapped) == stream.written
    written_before = [before for _, _, before in tapped]
    assert written_before == sorted(written_before) and written_before[0] == 0  # tapped before each write


def test_an_interruption_tells_the_taps_that_playback_was_cut(engine):
    stream = FakeStream()
    speaker = sp.Pyttsx3Speaker(engine=engine, stream=stream)
    cuts = []
    speaker.add_tap(lambda pcm, rate: None, lambda: cuts.append(True))
    speaker.say("Stand with your back to a wall and breathe slowly.")
    deadline = time.monotonic() + 5
    while stream.written == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    speaker.interrupt()
    assert cuts == [True]
    speaker.close()


def test_ducking_plays_quieter_until_undone(engine):
    """Someone talking over the companion: the chunks that follow are played (and tapped) at DUCK_GAIN."""
    stream = FakeStream()
    speaker = sp.Pyttsx3Speaker(engine=engine, stream=stream)
    peaks: list[int] = []
    speaker.add_tap(lambda pcm, rate: peaks.append(max(abs(v) for v in array.array("h", pcm))))
    speaker.duck(True)
    speaker.say("Breathe in slowly.")
    speaker.close()
    assert peaks and max(peaks) <= 32767 * sp.DUCK_GAIN + 1
    speaker2 = sp.Pyttsx3Speaker(engine=engine, stream=FakeStream())
    loud: list[int] = []
    speaker2.add_tap(lambda pcm, rate: loud.append(max(abs(v) for v in array.array("h", pcm))))
    speaker2.duck(True)
    speaker2.duck(False)
    speaker2.say("Breathe in slowly.")
    speaker2.close()
    assert max(loud) > 3 * max(peaks)


def test_between_sentences_the_sound_card_is_kept_fed_with_silence(engine):
    """A sound card that runs dry restarts with another delay (and ALSA complains on the terminal)."""
    stream = FakeStream()
    speaker = sp.Pyttsx3Speaker(engine=engine, stream=stream)
    speaker.say("Breathe in.")
    deadline = time.monotonic() + 5
    while not speaker.idle() or stream.written == 0:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    after_speech = stream.written
    time.sleep(0.6)
    assert stream.written - after_speech >= int(22050 * 0.3) * 2  # silence kept flowing (real time: 0.6 s)
    speaker.interrupt()
    stopped_at = stream.written
    time.sleep(0.2)
    assert stream.written == stopped_at  # after a stop, not even silence until there is more to say
    speaker.close()


class BrokenStream(FakeStream):
    """A device that went away: it will not start, and every write fails."""

    def start(self):
        raise RuntimeError("device unavailable")

    def write(self, data):
        raise RuntimeError("device unavailable")


def test_a_device_that_fails_loses_speech_not_the_speaker(engine):
    speaker = sp.Pyttsx3Speaker(engine=engine, stream=BrokenStream())
    speaker.say("Breathe in.")
    speaker.say("Breathe out.")
    deadline = time.monotonic() + 10
    while not speaker.idle():
        assert time.monotonic() < deadline, "the speaker never let go of its sentences"
        time.sleep(0.05)
    assert speaker._player.is_alive()
    started = time.monotonic()
    speaker.close()
    assert time.monotonic() - started < 8


class RecordingSynthesiser:
    """The real synthesiser, noting what it is asked to say and at which rate."""

    def __init__(self, synthesiser):
        self.synthesiser, self.name, self.voice, self.said = synthesiser, synthesiser.name, synthesiser.voice, []

    def synthesise(self, text, rate, voice=""):
        self.said.append((text, rate))
        return self.synthesiser.synthesise(text, rate, voice)

    def close(self):
        self.synthesiser.close()


def test_a_stop_drops_speech_but_keeps_volume_and_rate_changes(engine):
    """Volume is a gain on what is played; the rate goes to the synthesiser in order with the sentences."""
    recording = RecordingSynthesiser(sp.Pyttsx3Synthesiser(engine))
    stream = FakeStream()
    speaker = sp.SynthesisSpeaker(recording, stream=stream)
    peaks: list[int] = []
    speaker.add_tap(lambda pcm, rate: peaks.append(max(abs(v) for v in array.array("h", pcm))))
    speaker.say("Stand with your back to a wall and breathe slowly for a while.")
    speaker.say("This one is dropped.")
    deadline = time.monotonic() + 5
    while stream.written == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    quieter = speaker.change_volume(-1)
    slower = speaker.set_pace(2.0)
    speaker.interrupt()
    peaks.clear()
    speaker.say("Breathe in.")
    speaker.close()
    assert speaker.volume == quieter < 1.0 and slower < speaker.voice.rate
    assert "This one is dropped." not in [text for text, _ in recording.said]
    assert recording.said[-1] == ("Breathe in.", slower)
    assert peaks and max(peaks) <= 32767 * quieter + 1
