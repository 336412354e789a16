"""Speech out with flite: real synthesis, rate to duration, the choice of synthesiser, failures, playback."""

from __future__ import annotations

import array
import os
import shutil
import time
from pathlib import Path

import pytest

from companion.speech.audio.wav import resample
from companion.speech.tts import flite
from companion.speech.tts import speaker as sp
from companion.speech.tts.synthesis import SynthesisError, resampled
from tests.speech.fakes import FakeStream

SENTENCE = "Stand with your back to a wall. Let your shoulders touch it."


def no_which(name: str) -> None:
    """A machine where no program is installed (instead of uninstalling flite)."""
    return None


@pytest.fixture(scope="module")
def slt() -> flite.FliteSynthesiser:
    try:
        return flite.FliteSynthesiser("slt")
    except sp.SpeechUnavailable as exc:
        pytest.skip(f"flite is not installed here (apt-get install flite): {exc}")


@pytest.fixture(scope="module")
def espeak():
    try:
        return sp.open_engine(sp.Voice())
    except sp.SpeechUnavailable as exc:
        pytest.skip(f"espeak-ng is not installed here: {exc}")


@pytest.fixture
def espeak_voice_restored(espeak):
    """pyttsx3 has one engine per process: put its voice back for the tests that follow."""
    before = espeak.getProperty("voice")
    yield espeak
    espeak.setProperty("voice", before)


def fake_flite(folder: Path, body: str) -> str:
    """A stand-in ``flite`` program that lists slt and then does ``body`` when asked to speak."""
    program = folder / "flite"
    program.write_text('#!/bin/sh\nif [ "$1" = "-lv" ]; then echo "Voices available: kal slt"; exit 0; fi\n'
                       f"{body}\n")
    program.chmod(0o755)
    return str(program)


# -- synthesis ------------------------------------------------------------------------


def test_flite_speaks_a_sentence_as_16_bit_mono_at_16_khz(slt):
    speech = slt.synthesise(SENTENCE, 160)
    seconds = len(speech.pcm) / 2 / speech.rate
    assert speech.rate == 16000
    assert 2.0 < seconds < 7.0
    assert max(abs(v) for v in array.array("h", speech.pcm)) > 3000  # real speech, not near-silence


@pytest.mark.parametrize("voice", flite.VOICES)
def test_every_voice_speaks(slt, voice):
    if voice not in slt.voices:
        pytest.skip(f"this flite has no {voice} voice")
    speech = slt.synthesise("Breathe in.", 160, voice)
    assert len(speech.pcm) / 2 / speech.rate > 0.4


def test_the_rate_sets_the_duration(slt):
    """Twice the words per minute, half the time (flite's duration_stretch is linear)."""
    slow = slt.synthesise(SENTENCE, 100)
    fast = slt.synthesise(SENTENCE, 200)
    ratio = len(slow.pcm) / len(fast.pcm)
    assert 1.8 < ratio < 2.2


def test_the_rate_asked_for_is_about_the_words_per_minute_heard(slt):
    words = len(SENTENCE.split())
    for rate in (120, 200):
        speech = slt.synthesise(SENTENCE, rate)
        minutes = len(speech.pcm) / 2 / speech.rate / 60  # the whole sentence, as NATURAL_WPM was measured
        assert 0.75 * rate < words / minutes < 1.3 * rate  # one short sentence: within 25-30%


def test_duration_stretch_is_the_natural_rate_over_the_wanted_one():
    assert flite.duration_stretch(flite.NATURAL_WPM["slt"], "slt") == 1.0
    assert flite.duration_stretch(flite.NATURAL_WPM["rms"] // 2, "rms") == pytest.approx(2.0, abs=0.02)
    assert flite.duration_stretch(10) == flite.MAX_STRETCH and flite.duration_stretch(2000) == flite.MIN_STRETCH


def test_an_unknown_voice_name_in_a_sentence_falls_back_to_the_default_voice(slt):
    assert slt.synthesise("Breathe in.", 160, "klingon").pcm == slt.synthesise("Breathe in.", 160).pcm


def test_no_temporary_file_is_left_behind(slt, tmp_path, monkeypatch):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    monkeypatch.chdir(tmp_path)  # "-o -" would have written a file called "-" here
    slt.synthesise("Breathe in.", 160)
    real_exists = os.path.exists
    monkeypatch.setattr(flite.os.path, "exists", lambda p: False if p == "/dev/stdout" else real_exists(p))
    assert len(slt.synthesise("Breathe out.", 160).pcm) > 0  # through a temporary folder instead
    assert list(tmp_path.iterdir()) == []


def test_a_failing_flite_gives_a_one_line_error(tmp_path):
    synthesiser = flite.FliteSynthesiser("slt", program=fake_flite(tmp_path, 'echo "Segmentation fault" >&2; exit 139'))
    failed = r"flite failed \(exit code 139\) for 'Breathe in.': Segmentation fault"
    with pytest.raises(SynthesisError, match=failed) as caught:
        synthesiser.synthesise("Breathe in.", 160)
    assert "\n" not in str(caught.value)


def test_a_flite_that_writes_no_audio_is_an_error(tmp_path):
    synthesiser = flite.FliteSynthesiser("slt", program=fake_flite(tmp_path, 'printf "not a wav"'))
    with pytest.raises(SynthesisError, match="flite wrote no usable audio"):
        synthesiser.synthesise("Breathe in.", 160)


def test_a_voice_flite_does_not_have_is_refused(tmp_path):
    with pytest.raises(sp.SpeechUnavailable, match="flite has no voice called 'rms' \\(it has slt\\)"):
        flite.FliteSynthesiser("rms", program=fake_flite(tmp_path, "exit 0"))


def test_missing_flite_names_the_package():
    with pytest.raises(sp.SpeechUnavailable, match="flite is not installed. Fix: sudo apt-get install flite"):
        flite.FliteSynthesiser(which=no_which)


def test_resampling_is_the_band_limited_filter_of_the_wav_module():
    samples = array.array("h", (int(9000 * ((i * 7) % 23 - 11) / 11) for i in range(4000)))
    for src, dst in ((16000, 22050), (22050, 16000), (8000, 22050)):
        assert resampled(samples.tobytes(), src, dst) == resample(samples, src, dst).tobytes()


# -- which synthesiser ---------------------------------------------------------------------


def test_the_clearest_voice_is_flite_slt_where_flite_is_installed(slt):
    assert sp.clearest_voice() == "slt"
    assert sp.open_synthesiser().name == "flite"


def test_without_flite_the_factory_falls_back_to_espeak_ng(espeak, monkeypatch):
    assert sp.clearest_voice(which=no_which) == ""
    synthesiser = sp.open_synthesiser("", which=no_which)
    assert synthesiser.name == "espeak-ng"
    synthesiser.close()
    monkeypatch.setattr(sp, "open_output_stream", lambda rate=22050: FakeStream())
    output, problem = sp.open_speaker(which=no_which)
    assert problem is None and output.speaker.synthesiser.name == "espeak-ng"
    output.close()


def test_open_speaker_uses_flite_where_it_is_installed(slt, monkeypatch):
    monkeypatch.setattr(sp, "open_output_stream", lambda rate=22050: FakeStream())
    output, problem = sp.open_speaker()
    assert problem is None and output.speaker.synthesiser.name == "flite"
    assert output.speaker.synthesiser.voice == "slt"
    output.close()


def test_with_no_synthesiser_at_all_speech_is_off_with_both_fixes(monkeypatch):
    pyttsx3 = pytest.importorskip("pyttsx3")

    def broken_init(*args, **kwargs):
        raise OSError("libespeak.so.1: cannot open shared object file")

    monkeypatch.setattr(pyttsx3, "init", broken_init)
    output, problem = sp.open_speaker(which=no_which)
    assert output is None
    assert problem.startswith("Speech is off: the espeak-ng speech library could not be loaded")
    assert "apt-get install libespeak-ng1" in problem and "apt-get install flite" in problem


def test_a_profile_voice_picks_its_synthesiser(slt, espeak_voice_restored):
    assert sp.open_synthesiser("rms").name == "flite"
    assert sp.open_synthesiser("en-gb-x-rp").name == "espeak-ng"
    with pytest.raises(sp.SpeechUnavailable, match="no voice called 'klingon'.*flite's voices here: slt"):
        sp.open_synthesiser("klingon")


def test_a_profile_may_name_a_flite_voice(slt, espeak):
    from companion.care.profiles import Profile, ProfileError, set_value

    assert "slt" in sp.installed_voices() and "en-gb-x-rp" in sp.installed_voices()
    assert set_value(Profile("bob"), "voice", "slt").voice == "slt"
    with pytest.raises(ProfileError, match="no voice called 'klingon'"):
        set_value(Profile("bob"), "voice", "klingon")


# -- playback ----------------------------------------------------------------------------


def test_interrupt_silences_flite_within_100_ms(slt):
    stream = FakeStream()
    speaker = sp.SynthesisSpeaker(slt, stream=stream)
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
    assert stream.written - written <= int(sp.OUTPUT_RATE * sp.CHUNK_SECONDS) * 2  # at most one chunk in flight
    assert speaker.idle()
    speaker.close()


def test_flite_is_played_and_tapped_at_the_players_rate_with_its_length_kept(slt):
    stream = FakeStream()
    speaker = sp.SynthesisSpeaker(slt, stream=stream)
    tapped: list[tuple[bytes, int]] = []
    speaker.add_tap(lambda pcm, rate: tapped.append((pcm, rate)))
    speaker.say("Breathe in.")
    speaker.close()
    spoken = slt.synthesise("Breathe in.", speaker.rate)
    assert tapped and all(rate == sp.OUTPUT_RATE == 22050 for _, rate in tapped)
    played = sum(len(pcm) for pcm, _ in tapped) / 2 / sp.OUTPUT_RATE
    assert played > len(spoken.pcm) / 2 / spoken.rate - 0.001  # the sentence (plus silence keeping the card fed)


def test_a_profile_naming_an_espeak_voice_switches_synthesiser_mid_session(slt, espeak_voice_restored):
    stream = FakeStream()
    speaker = sp.SynthesisSpeaker(slt, stream=stream)
    speaker.set_voice(150, 0.8, "en-gb-x-rp")
    speaker.say("Breathe in.")
    speaker.close()
    assert speaker.synthesiser.name == "espeak-ng" and stream.written > 0


def test_a_voice_that_cannot_start_keeps_the_voice_in_use(slt):
    def cannot(name):
        raise sp.SpeechUnavailable("the espeak-ng speech library could not be loaded (test)")

    stream = FakeStream()
    speaker = sp.SynthesisSpeaker(slt, stream=stream, open_other=cannot)
    speaker.set_voice(150, 0.8, "en-gb-x-rp")
    speaker.say("Breathe in.")
    speaker.close()
    assert speaker.synthesiser is slt and stream.written > 0


def test_a_failing_sentence_is_skipped_and_the_next_one_spoken(slt):
    class FailsOnce:
        name, voice = "flite", "slt"

        def __init__(self):
            self.calls = 0

        def synthesise(self, text, rate, voice=""):
            self.calls += 1
            if self.calls == 1:
                raise SynthesisError("flite failed (exit code 139) for 'x': Segmentation fault")
            return slt.synthesise(text, rate, voice)

        def close(self):
            pass

    stream = FakeStream()
    speaker = sp.SynthesisSpeaker(FailsOnce(), stream=stream)
    speaker.say("Lost.")
    speaker.say("Breathe in.")
    speaker.close()
    assert stream.written > 0 and speaker._current == "Breathe in."


def test_flite_program_is_found_on_the_path():
    assert flite.find_flite(no_which) is None
    assert flite.find_flite(lambda name: "/opt/flite/bin/" + name) == "/opt/flite/bin/flite"
    assert (flite.find_flite() is not None) == (shutil.which("flite") is not None)
