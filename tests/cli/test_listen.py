"""`companion listen` on WAV files: one result per file, the --json contract, bad files."""

from __future__ import annotations

import json

import pytest

from companion.cli import main
from bench.testset import EspeakUnavailable, add_noise, pad, synthesize
from companion.speech.audio.wav import write_wav


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("listen")
    try:
        said = {"stop_now": "stop now", "what_did_you_say": "what did you say"}
        paths = {}
        for name, text in said.items():
            paths[name] = folder / f"{name}.wav"
            write_wav(paths[name], add_noise(pad(synthesize(text, voice="en-us")), 30, seed=len(text)))
    except EspeakUnavailable as exc:
        pytest.skip(f"espeak-ng is needed to make speech: {exc}")
    paths["quiet"] = folder / "quiet.wav"
    write_wav(paths["quiet"], add_noise(b"\0" * 32000, 0, seed=1, signal_power=16.0))
    return paths


def test_json_gives_one_object_per_file_with_the_contract_fields(wavs, capsys):
    files = [str(wavs["stop_now"]), str(wavs["what_did_you_say"]), str(wavs["quiet"])]
    assert main(["listen", "--json", "--engine", "pocketsphinx", *files]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["file"] for row in rows] == files
    for row in rows:
        assert {"file", "text", "command", "confidence", "decode_ms"} <= set(row)
        assert 0.0 <= row["confidence"] <= 1.0 and row["decode_ms"] >= 0
    assert rows[0]["command"] == "stop"
    assert rows[1]["command"] == "repeat"
    assert rows[2]["command"] is None  # room noise alone is rejected


def test_text_output_says_what_was_heard_and_what_it_means(wavs, capsys):
    assert main(["listen", str(wavs["stop_now"]), str(wavs["quiet"])]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "stop" in out[0] and "confidence" in out[0]
    assert out[1].endswith(")") and "rejected" in out[1]


def test_a_file_that_is_not_a_wav_is_named_and_the_rest_still_decoded(wavs, tmp_path, capsys):
    broken = tmp_path / "notes.wav"
    broken.write_text("this is not audio")
    code = main(["listen", "--json", str(broken), str(wavs["stop_now"])])
    captured = capsys.readouterr()
    assert code == 1
    assert "notes.wav: cannot read this WAV file" in captured.err and "Traceback" not in captured.err
    assert json.loads(captured.out.splitlines()[0])["command"] == "stop"


REAL = __import__("pathlib").Path(__file__).resolve().parents[2].parent / "shared" / "speech-real"


def real_clip(word: str, index: int = 0) -> str:
    files = sorted((REAL / word).glob("*.wav")) if (REAL / word).is_dir() else []
    if not files:
        pytest.skip(f"real recordings are needed: {REAL / word} is missing")
    return str(files[index])


def test_state_judges_a_recording_as_a_session_in_that_state_would(capsys):
    yes, stop, bird = real_clip("yes", 0), real_clip("stop", 2), real_clip("bird", 0)
    assert main(["listen", "--json", "--state", "yes-no", yes, stop, bird]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["state"] for r in rows] == ["yes-no"] * 3
    assert rows[0]["command"] == "yes" and rows[0]["decision"] == "act"
    assert rows[1]["command"] == "stop"
    assert rows[2]["command"] is None and rows[2]["decision"] == "ignore"
    for row in rows:  # each model's evidence, for logs and tuning
        assert {"pocketsphinx", "keywords", "decided_by"} <= set(row["evidence"]), row["evidence"]
        assert {"transcript", "reason", "confidence", "decode_ms"} <= set(row)


def test_free_state_transcribes_a_sentence_and_finds_the_symptom_in_it(tmp_path, capsys):
    import shutil
    import subprocess

    if shutil.which("flite") is None:
        pytest.skip("flite is needed to speak the sentence")
    wav = tmp_path / "said.wav"
    subprocess.run(["flite", "-voice", "slt", "-t", "The pain is going down my leg.", "-o", str(wav)], check=True)
    assert main(["listen", "--json", "--state", "free", str(wav)]) == 0
    row = json.loads(capsys.readouterr().out)
    assert "down my leg" in row["transcript"] and row["command"] == "symptom:spreading-leg"
    assert "whisper" in row["evidence"]
