"""The synthetic spoken-command test set: formats, labels, SNRs, caching, determinism, WAV loading."""

from __future__ import annotations

import array
import math
import random
import shutil
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest

from bench import testset as ts
from companion.language.normalise import normalise
from companion.language.vocabulary import load_vocabulary

SR = 16000


def _espeak_or_skip() -> None:
    try:
        ts.espeak_version()
    except ts.EspeakUnavailable as exc:
        pytest.skip(f"espeak-ng is not available here: {exc}")


def _samples(pcm: bytes) -> array.array:
    return ts._pcm_array(pcm)


def _write(path: Path, samples: list[int], rate: int, channels: int = 1) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(array.array("h", samples).tobytes())


def _tone(freq: float, rate: int, seconds: float, amplitude: float = 12000) -> list[int]:
    return [int(round(amplitude * math.sin(2 * math.pi * freq * i / rate))) for i in range(int(seconds * rate))]


def _zero_crossing_freq(samples, rate: int) -> float:
    """Frequency from rising zero crossings, interpolated, over the middle of the signal."""
    xs = list(samples)[len(samples) // 10: -len(samples) // 10]
    rising = [i + (-xs[i]) / (xs[i + 1] - xs[i]) for i in range(len(xs) - 1) if xs[i] < 0 <= xs[i + 1]]
    return (len(rising) - 1) / ((rising[-1] - rising[0]) / rate)


# --------------------------------------------------------------------------- no espeak-ng needed

def test_load_wav_16k_resamples_22050_keeping_duration_and_pitch(tmp_path):
    src = tmp_path / "tone.wav"
    _write(src, _tone(440, 22050, 1.5), 22050)
    out = _samples(ts.load_wav_16k(src))
    assert abs(len(out) - 1.5 * SR) <= 1
    assert _zero_crossing_freq(out, SR) == pytest.approx(440, rel=0.02)
    mid = out[SR // 4: -SR // 4]
    rms = math.sqrt(sum(v * v for v in mid) / len(mid))
    assert rms == pytest.approx(12000 / math.sqrt(2), rel=0.02)  # no loss of level in the passband


def test_load_wav_16k_downmixes_stereo_and_passes_16k_through(tmp_path):
    left = _tone(300, 44100, 0.5, 8000)
    stereo = [v for sample in zip(left, [-v // 2 for v in left]) for v in sample]
    _write(tmp_path / "st.wav", stereo, 44100, channels=2)
    out = _samples(ts.load_wav_16k(tmp_path / "st.wav"))
    assert abs(len(out) - SR // 2) <= 1
    assert _zero_crossing_freq(out, SR) == pytest.approx(300, rel=0.02)
    assert max(map(abs, out)) == pytest.approx(2000, rel=0.05)  # (8000 - 4000) / 2

    same = _tone(1000, SR, 0.25)
    _write(tmp_path / "16k.wav", same, SR)
    assert ts.load_wav_16k(tmp_path / "16k.wav") == array.array("h", same).tobytes()


def test_resampler_removes_what_16k_cannot_carry(tmp_path):
    """A 10 kHz tone at 22050 Hz is above 8 kHz: it must not alias into the speech band."""
    _write(tmp_path / "hi.wav", _tone(10000, 22050, 0.5), 22050)
    out = _samples(ts.load_wav_16k(tmp_path / "hi.wav"))[400:-400]
    rms = math.sqrt(sum(v * v for v in out) / len(out))
    assert rms < 12000 / math.sqrt(2) * 0.01  # at least 40 dB down


def test_load_wav_16k_rejects_what_it_cannot_read(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("not a wav")
    for name in ("empty.wav", "text.wav"):
        with pytest.raises(ValueError, match="not a PCM WAV"):
            ts.load_wav_16k(tmp_path / name)
    with wave.open(str(tmp_path / "8bit.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(8000)
        w.writeframes(bytes(800))
    with pytest.raises(ValueError, match="16-bit"):
        ts.load_wav_16k(tmp_path / "8bit.wav")


@pytest.mark.parametrize("noise", ["white", "pink", "babble"])
@pytest.mark.parametrize("snr", [40.0, 20.0, 10.0])
def test_add_noise_hits_the_snr_and_is_seeded(noise, snr):
    signal = array.array("h", bytes(2 * 3200)) + array.array("h", _tone(300, SR, 1.0, 3000)) \
        + array.array("h", bytes(2 * 3200))
    pcm = signal.tobytes()
    noisy = ts.add_noise(pcm, snr, seed=7, noise=noise)
    assert len(noisy) == len(pcm)
    assert noisy == ts.add_noise(pcm, snr, seed=7, noise=noise)
    assert noisy != ts.add_noise(pcm, snr, seed=8, noise=noise)
    residual = [n - s for n, s in zip(_samples(noisy), signal)]
    p_noise = sum(v * v for v in residual) / len(residual)
    p_speech = sum(v * v for v in signal[3200:-3200]) / (len(signal) - 6400)  # padding not counted
    assert 10 * math.log10(p_speech / p_noise) == pytest.approx(snr, abs=0.5)
    assert any(residual[:3200])  # the padding is noisy too


@pytest.mark.parametrize("kind", ts.BURST_TYPES)
def test_noise_bursts_are_audible_never_silent_and_seeded(kind):
    pcm = ts.noise_burst(kind, seed=3)
    samples = _samples(pcm)
    assert pcm == ts.noise_burst(kind, seed=3)
    assert len(samples) > 2 * ts.PAD_SECONDS * SR
    assert max(map(abs, samples)) > 200
    assert sum(1 for v in samples if v == 0) < len(samples) * 0.2  # dither: no digital silence
    lead = samples[: int(0.25 * SR)]
    assert max(map(abs, lead)) < 40  # the padding is faint


def test_out_of_grammar_lines_are_many_distinct_and_never_a_command_phrase():
    lines = ts.load_out_of_grammar()
    assert len(lines) >= 60
    assert len({normalise(line) for line in lines}) == len(lines)
    phrases = {phrase for phrase, _ in ts.command_items()}
    assert not [line for line in lines if normalise(line) in phrases]
    single = [line for line in lines if len(line.split()) == 1]
    assert {"cat", "dog", "top", "pop", "nest", "text", "pose", "paws"} <= set(single)


def test_command_items_cover_the_vocabulary_and_the_answers():
    items = dict(ts.command_items())
    for phrase, command in load_vocabulary().all_phrases().items():
        assert items[phrase] == command.value
    assert items["yes"] == "yes" and items["no"] == "no"
    assert [items[w] for w in ts.NUMBER_WORDS] == [f"number:{n}" for n in range(11)]
    assert items["question"] == items["i have a question"] == "question"


def test_spoken_form_expands_contractions_espeak_would_misread():
    assert ts.spoken_form("im ready") == "I'm ready"
    assert ts.spoken_form("whats next") == "what's next"
    assert ts.spoken_form("stop now") == "stop now"


@pytest.mark.parametrize("size", ["small", "full"])
def test_plan_sizes_and_balance(size):
    items = ts.command_items()
    oog = ts.load_out_of_grammar()
    clips, jobs = ts._plan(size, 0, ts.VOICES, items, oog)
    assert len({c.path for c in clips}) == len(clips)
    kinds = {k: [c for c in clips if c.kind == k] for k in ("command", "oog", "noise")}
    if size == "small":
        assert 150 <= len(clips) <= 250
        assert len(kinds["oog"]) == 40 and len(kinds["noise"]) == 10
        base = [c for c in kinds["command"] if (c.voice, c.speed, c.pitch, c.snr_db) == ("en-us", 175, 50, 20.0)]
        assert {c.text for c in base} == {text for text, _ in items}
        assert {c.voice for c in kinds["command"]} == set(ts.VOICES)
        assert {c.snr_db for c in kinds["command"]} == set(ts.SNRS_DB)
    else:
        assert len(clips) <= 4000
        cells = {(c.voice, c.speed, c.pitch, c.snr_db) for c in kinds["command"]}
        assert len(cells) == len(ts.VOICES) * len(ts.SPEEDS) * len(ts.PITCHES) * len(ts.SNRS_DB)
        for text, _ in items:  # every item in every voice at every SNR
            assert len({(c.voice, c.snr_db) for c in kinds["command"] if c.text == text}) == 16
        assert {c.text for c in kinds["oog"]} == set(oog)
        assert {c.noise for c in kinds["noise"]} == set(ts.BURST_TYPES)
    labels = dict(items)
    for c in kinds["command"]:
        assert c.expected_label == labels[c.text]
    assert all(c.expected_label is None for c in kinds["oog"] + kinds["noise"])
    assert all(c.snr_db is None and c.voice is None for c in kinds["noise"])
    assert all(c.noise == "dither" for c in clips if c.snr_db == ts.CLEAN_SNR_DB)
    # the seed changes the sample but not the structure
    other, _ = ts._plan(size, 1, ts.VOICES, items, oog)
    assert len(other) == len(clips)


def test_the_app_does_not_import_the_test_set():
    code = "import sys, companion.cli, companion.app.runner; print('bench.testset' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.stdout.strip() == "False"


# --------------------------------------------------------------------------- with espeak-ng

@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    _espeak_or_skip()
    out = tmp_path_factory.mktemp("testset")
    began = time.perf_counter()
    clips = ts.generate(out, size="small", seed=0)
    return out, clips, time.perf_counter() - began


def test_small_set_is_16k_mono_16bit_and_labelled(small_set):
    out, clips, seconds = small_set
    assert 150 <= len(clips) <= 250
    assert seconds < 60
    for clip in clips:
        assert clip.path.parent.is_relative_to(out)
        with wave.open(str(clip.path), "rb") as w:
            assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (SR, 1, 2), clip.path
            frames = w.getnframes()
            pcm = w.readframes(frames)
        assert frames > 2 * ts.PAD_SECONDS * SR + 0.1 * SR, clip.path
        samples = _samples(pcm)
        assert max(map(abs, samples)) > 100, clip.path
        assert samples.count(0) < len(samples) * 0.2, clip.path  # never digitally silent
    labels = dict(ts.command_items())
    for clip in clips:
        if clip.kind == "command":
            assert clip.expected_label == labels[clip.text]
        else:
            assert clip.expected_label is None
    assert (out / "manifest.json").is_file()
    assert ts.clips_from_manifest(out) == clips


def test_noisy_clips_have_the_target_snr(small_set):
    _, clips, _ = small_set
    picked = [c for c in clips if c.kind != "noise"]
    random.Random(5).shuffle(picked)
    checked = set()
    for clip in picked:
        if (clip.snr_db, clip.noise) in checked:
            continue
        checked.add((clip.snr_db, clip.noise))
        said = ts.spoken_form(clip.text) if clip.kind == "command" else clip.text
        clean = _samples(ts.pad(ts.synthesize(said, clip.voice, clip.speed, clip.pitch)))
        noisy = _samples(ts.load_wav_16k(clip.path))
        assert len(noisy) == len(clean)
        pad = int(ts.PAD_SECONDS * SR)
        speech = clean[pad:-pad]
        p_speech = sum(v * v for v in speech) / len(speech)
        residual = [n - c for n, c in zip(noisy, clean)]
        p_noise = sum(v * v for v in residual) / len(residual)
        measured = 10 * math.log10(p_speech / p_noise)
        assert measured == pytest.approx(clip.snr_db, abs=1.0), (clip.path, measured)
        lead = noisy[: pad - 100]
        lead_power = sum(v * v for v in lead) / len(lead)
        assert lead_power > 0  # the padding carries the background noise
    assert {snr for snr, _ in checked} == set(ts.SNRS_DB)
    assert {noise for _, noise in checked} == {"dither", *ts.NOISE_TYPES}


def test_second_call_reuses_the_cache(small_set):
    out, clips, first = small_set
    stamps = {c.path: c.path.stat().st_mtime_ns for c in clips}
    began = time.perf_counter()
    again = ts.generate(out, size="small", seed=0)
    took = time.perf_counter() - began
    assert again == clips
    assert {c.path: c.path.stat().st_mtime_ns for c in again} == stamps
    assert took < max(2.0, first / 5)


def test_a_damaged_file_is_made_again_on_its_own(small_set, tmp_path):
    out, clips, _ = small_set
    copy = tmp_path / "copy"  # work on a copy so the other tests keep their set
    shutil.copytree(out, copy)
    victim = copy / clips[3].path.relative_to(out)
    bystander = copy / clips[100].path.relative_to(out)
    original, stamp = victim.read_bytes(), bystander.stat().st_mtime_ns
    victim.write_bytes(original[:100])
    began = time.perf_counter()
    again = ts.generate(copy, size="small", seed=0)
    assert time.perf_counter() - began < 5
    assert victim.read_bytes() == original
    assert bystander.stat().st_mtime_ns == stamp
    assert len(again) == len(clips)


def test_another_seed_replaces_the_set_in_the_same_folder(tmp_path, monkeypatch):
    _espeak_or_skip()
    items = [("stop", "stop"), ("pause", "pause"), ("next", "next"), ("help", "help"), ("yes", "yes"), ("no", "no")]
    monkeypatch.setattr(ts, "command_items", lambda: items)  # a tiny set keeps this test quick
    oog = tmp_path / "oog.txt"
    oog.write_text("# comment\ncat\n\ndog\nnext door\nhouse\ntop\npop\n", encoding="utf-8")
    out = tmp_path / "set"
    first = ts.generate(out, size="small", seed=0, oog_file=oog)
    second = ts.generate(out, size="small", seed=1, oog_file=oog)
    assert len(second) == len(first)
    assert {c.noise_seed for c in first}.isdisjoint({c.noise_seed for c in second})
    assert {(c.text, c.voice, c.snr_db) for c in first} != {(c.text, c.voice, c.snr_db) for c in second}
    on_disk = {p.relative_to(out) for p in out.rglob("*.wav")}
    assert on_disk == {c.path.relative_to(out) for c in second}  # the first set's extra files are gone
    assert ts.clips_from_manifest(out) == second


def test_same_seed_gives_identical_bytes_whatever_the_worker_count(small_set, tmp_path):
    out, clips, _ = small_set
    second = ts.generate(tmp_path / "again", size="small", seed=0, workers=1)
    assert [c.path.relative_to(tmp_path / "again") for c in second] == [c.path.relative_to(out) for c in clips]
    for a, b in zip(clips, second):
        assert a.path.read_bytes() == b.path.read_bytes(), a.path


def test_synthesis_is_level_normalised_and_trimmed():
    _espeak_or_skip()
    pcm = _samples(ts.synthesize("stop", "en-us", 175, 50))
    assert abs(pcm[0]) > ts.SILENCE_THRESHOLD and abs(pcm[-1]) > ts.SILENCE_THRESHOLD
    rms = math.sqrt(sum(v * v for v in pcm) / len(pcm))
    assert rms == pytest.approx(ts.SPEECH_RMS, rel=0.1)
    assert 0.15 < len(pcm) / SR < 1.5


def test_voice_check_sees_through_espeaks_silent_fallbacks():
    _espeak_or_skip()
    assert all(ts.voice_exists(v) for v in ("en-us", "en", "en-gb-x-rp", "en-us+f3"))
    assert not ts.voice_exists("no-such-voice")  # espeak-ng would speak Norwegian ("no")
    assert not ts.voice_exists("en-us+no-such-variant")  # espeak-ng would ignore the variant
