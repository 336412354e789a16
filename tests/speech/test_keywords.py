"""The DS-CNN keyword adapter: its front end, its refusal of a damaged model, and real speech.

The real-speech checks use the Speech Commands test-split clips in
../shared/speech-real (speakers the model never heard) and skip without them.
"""

from __future__ import annotations

import shutil
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from companion.speech.asr import keywords as kw
from companion.speech.audio.wav import load_wav_16k
from companion.speech.ports import RecognizerUnavailable
from tests.conftest import ROOT

MODEL_DIR = ROOT / "models" / kw.MODEL_FOLDER


def speech_real() -> Path | None:
    for shared in (ROOT.parent / "shared", Path("/work/shared")):
        if (shared / "speech-real" / "stop").is_dir():
            return shared / "speech-real"
    return None


REAL = speech_real()
needs_real = pytest.mark.skipif(REAL is None, reason="no real recordings: ../shared/speech-real is not here")


@pytest.fixture(scope="module")
def spotter() -> kw.KeywordSpotter:
    return kw.KeywordSpotter()


def sample(word: str, count: int) -> list[bytes]:
    """A fixed spread of ``count`` clips of ``word`` (every k-th file, sorted by name)."""
    files = sorted((REAL / word).glob("*.wav"))
    step = max(1, len(files) // count)
    return [load_wav_16k(path) for path in files[::step][:count]]


def noise(seconds: float, level: float, seed: int) -> np.ndarray:
    """Real room noise from speech-real/_silence_ at RMS ``level``."""
    files = sorted((REAL / "_silence_").glob("*.wav"))
    x = np.frombuffer(load_wav_16k(files[seed % len(files)]), dtype="<i2").astype(np.float64)
    x = np.resize(x - x.mean(), int(seconds * 16000))
    return x * level / (np.sqrt((x ** 2).mean()) + 1e-9)


def embed(pcm: bytes, before: float, after: float, seed: int) -> bytes:
    """``pcm`` with room noise before and after it, 20 dB below the speech's loudest 200 ms."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    frames = (x[:len(x) // 320 * 320].reshape(-1, 320) ** 2).mean(axis=1)
    level = np.sqrt(np.sort(frames)[-10:].mean()) / 10
    padded = np.concatenate([noise(before, level, seed), x, noise(after, level, seed + 1)])
    return np.clip(np.round(padded), -32768, 32767).astype("<i2").tobytes()


# -- front end -----------------------------------------------------------------


def test_front_end_gives_49_frames_of_10_float32_coefficients_for_any_length():
    rng = np.random.default_rng(1)
    for seconds in (0.3, 1.0, 2.5):
        pcm = rng.normal(0, 2000, int(seconds * 16000)).astype("<i2").tobytes()
        features = kw.mfcc(pcm)
        assert features.shape == (49, 10) and features.dtype == np.float32
        assert np.isfinite(features).all()


def test_front_end_is_peak_normalised_and_pads_with_zeros_at_the_end():
    x = np.random.default_rng(2).normal(0, 1000, 12000)
    assert np.allclose(kw.mfcc(x), kw.mfcc(x * 7.5), atol=1e-4)  # the level does not matter
    assert np.array_equal(kw.mfcc(x), kw.mfcc(np.concatenate([x, np.zeros(4000)])))
    assert np.array_equal(kw.mfcc(x.astype("<i2").tobytes()), kw.mfcc(x.astype("<i2").astype(float)))


def test_mel_filters_span_20_to_4000_hz_as_tf_signal_builds_them():
    weights = kw._mel_matrix()
    assert weights.shape[1] == 40
    assert not weights[0].any()  # the DC bin is left out
    assert len(weights) == 128  # 4000 Hz is bin 128 of a 512-point FFT at 16 kHz: weight 0 there and above
    assert weights.max() <= 1.0 and (weights.max(axis=0) > 0.5).all()  # every filter peaks near 1


# -- the model's files -----------------------------------------------------------


def copy_model(tmp_path: Path) -> Path:
    folder = tmp_path / kw.MODEL_FOLDER
    shutil.copytree(MODEL_DIR, folder)
    return folder


def test_the_vendored_model_loads_and_knows_twelve_labels(spotter):
    assert spotter.labels == (*kw.WORDS, "_silence_", "_unknown_")
    assert kw.KeywordSpotter.WORDS == kw.WORDS and len(kw.WORDS) == 10
    assert spotter.load_ms > 0


def test_a_damaged_model_is_refused_with_a_clear_message(tmp_path):
    folder = copy_model(tmp_path)
    model = folder / kw.MODEL_FILE
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(RecognizerUnavailable) as caught:
        kw.KeywordSpotter(folder)
    message = str(caught.value)
    assert "\n" not in message
    assert kw.MODEL_FILE in message and "checksum" in message and "Fix:" in message


def test_a_missing_checksum_file_is_refused(tmp_path):
    folder = copy_model(tmp_path)
    (folder / kw.CHECKSUM_FILE).unlink()
    with pytest.raises(RecognizerUnavailable, match="checksum file .* is missing"):
        kw.KeywordSpotter(folder)


def test_a_missing_model_is_refused(tmp_path):
    folder = copy_model(tmp_path)
    (folder / kw.MODEL_FILE).unlink()
    with pytest.raises(RecognizerUnavailable, match="cannot be read"):
        kw.KeywordSpotter(folder)


def test_without_litert_the_fix_is_named(monkeypatch):
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    with pytest.raises(RecognizerUnavailable, match="pip install ai-edge-litert"):
        kw.KeywordSpotter()


# -- classify ------------------------------------------------------------------


def test_any_length_gives_probabilities_over_the_twelve_labels(spotter):
    for pcm in (b"", b"\x01", bytes(8000), np.random.default_rng(3).normal(0, 500, 40000).astype("<i2").tobytes()):
        scores = spotter.classify(pcm)
        assert set(scores.probs) == set(spotter.labels)
        assert abs(sum(scores.probs.values()) - 1) < 1e-3
        assert scores.top == max(scores.probs, key=scores.probs.get)
        assert scores.top_prob == scores.probs[scores.top] and scores.ms > 0
        assert scores.prob("pause") == 0.0


def test_windows_are_scanned_every_80_ms_at_most_and_capped():
    assert kw.window_starts(16000) == kw.window_starts(16100) == [0]
    assert kw.window_starts(16000 + 320 * 10) == [0, 3, 7, 10]
    starts = kw.window_starts(int(16000 * 2.5))
    assert starts[0] == 0 and starts[-1] == 75 and max(np.diff(starts)) <= kw.WINDOW_STEP + 1
    assert len(kw.window_starts(16000 * 12)) == kw.MAX_WINDOWS


@needs_real
def test_stop_yes_and_no_from_unheard_speakers(spotter):
    right = total = 0
    for word in ("stop", "yes", "no"):
        tops = [spotter.classify(pcm).top for pcm in sample(word, 20)]
        assert sum(t == word for t in tops) >= 14, (word, tops)
        right += sum(t == word for t in tops)
        total += len(tops)
    assert right / total >= 0.85


@needs_real
def test_other_words_and_noise_are_not_commands(spotter):
    others = [pcm for word in ("bed", "dog", "happy", "house", "marvin", "sheila", "tree", "wow", "six", "five")
              for pcm in sample(word, 2)]
    tops = [spotter.classify(pcm).top for pcm in others + sample("_silence_", 10)]
    assert len(tops) == 30
    assert sum(t in kw.WORDS for t in tops) <= 1, tops


@needs_real
def test_a_word_inside_room_noise_is_still_heard(spotter):
    clips = sample("stop", 6) + sample("yes", 6)
    expected = ["stop"] * 6 + ["yes"] * 6
    bare = [spotter.classify(pcm).top for pcm in clips]
    padded = [spotter.classify(embed(pcm, 0.3 + 0.1 * (i % 5), 0.8 - 0.1 * (i % 5), seed=i)).top
              for i, pcm in enumerate(clips)]
    heard_bare = [b == e for b, e in zip(bare, expected)]
    heard_padded = [p == e for p, e in zip(padded, expected)]
    assert sum(heard_bare) >= 10 and sum(heard_padded) >= sum(heard_bare) - 1, (bare, padded)
    scores = spotter.classify(embed(clips[0], 0.7, 0.7, seed=5))
    assert scores.top == "stop" and 0.4 <= scores.start <= 1.0  # the window found the word, 0.7 s in


@needs_real
def test_shorter_than_a_second_is_padded_and_heard(spotter):
    pcm = sample("yes", 1)[0]
    x = np.frombuffer(pcm, dtype="<i2")
    frames = (x[:len(x) // 320 * 320].astype(float).reshape(-1, 320) ** 2).mean(axis=1)
    loud = np.nonzero(frames > frames.max() / 1000)[0]
    spoken = x[max(0, loud[0] * 320 - 1600):(loud[-1] + 1) * 320 + 1600]
    assert len(spoken) < 16000
    assert spotter.classify(spoken.tobytes()).top == "yes"


@needs_real
def test_one_instance_can_be_shared_by_threads(spotter):
    clips = sample("stop", 4) + sample("no", 4)
    alone = [spotter.classify(pcm).probs for pcm in clips]
    results: dict[int, list] = {}

    def listen(n: int) -> None:
        results[n] = [spotter.classify(pcm).probs for pcm in clips]

    threads = [threading.Thread(target=listen, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(results[n] == alone for n in range(3))
