"""``companion ask``: the --json contract, the issue's three "done when" examples, speech and no-question."""

from __future__ import annotations

import argparse
import json

import pytest

from companion.cli import main
from companion.cli.ask import register as add_ask_parser
from companion.cli.exit_codes import EXIT_OK, EXIT_USAGE
from companion.knowledge.schema import sentence_count


def run_ask(capsys, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="companion")
    add_ask_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["ask", *argv])
    code = args.func(args)
    out = capsys.readouterr()
    return code, out.out, out.err


def ask_json(capsys, question: str) -> dict:
    code, out, _ = run_ask(capsys, "--json", "--text", question)
    assert code == EXIT_OK
    assert out.count("\n") == 1, "one JSON object on one line"
    return json.loads(out)


def test_json_has_exactly_the_contract_keys_and_types(capsys) -> None:
    record = ask_json(capsys, "how should I pick up a heavy box")
    assert list(record) == ["answer", "known", "urgent", "topic", "score", "sources"]
    assert isinstance(record["answer"], str) and isinstance(record["known"], bool)
    assert isinstance(record["urgent"], bool) and isinstance(record["score"], float)
    assert record["topic"] is None or isinstance(record["topic"], str)
    assert all(set(s) == {"lines", "quote"} for s in record["sources"])


def test_done_when_lifting_gives_a_short_correct_answer(capsys) -> None:
    record = ask_json(capsys, "how should I pick up a heavy box")
    assert record["known"] and not record["urgent"] and record["topic"] == "lifting"
    assert "squat" in record["answer"].lower() and "slowly" in record["answer"].lower()
    assert sentence_count(record["answer"]) <= 3
    assert any(s["lines"] == "464" for s in record["sources"])


def test_done_when_saddle_numbness_is_urgent_with_seek_care_advice(capsys) -> None:
    record = ask_json(capsys, "I can't feel my bottom when I wipe and my back hurts")
    assert record["urgent"] is True
    assert "urgent" in record["answer"].lower() and "now" in record["answer"].lower()
    assert "emergency" in record["answer"].lower()


def test_done_when_football_is_politely_refused(capsys) -> None:
    record = ask_json(capsys, "who won the football")
    assert record["known"] is False and record["urgent"] is False and record["topic"] is None
    assert "I can only help with back and neck care" in record["answer"]


def test_treatment_answers_end_with_the_doctor_reminder(capsys) -> None:
    record = ask_json(capsys, "who should avoid a back massage")
    assert record["topic"] == "massage" and "don't replace a doctor" in record["answer"]
    assert "don't replace a doctor" not in ask_json(capsys, "how should I pick up a heavy box")["answer"]


def test_text_output_prints_the_answer_and_where_it_comes_from(capsys) -> None:
    code, out, err = run_ask(capsys, "--text", "how", "should", "I", "pick", "up", "a", "heavy", "box")
    assert code == EXIT_OK and "Squat down first" in out and "lines 464" in out and err == ""


def test_no_question_listens_and_says_why_when_it_cannot(capsys, monkeypatch) -> None:
    from companion.speech.audio.microphone import MicrophoneUnavailable

    def no_microphone():
        raise MicrophoneUnavailable("no microphone was found (test)")

    monkeypatch.setattr("companion.app.devices.open_microphone", no_microphone)
    code, out, err = run_ask(capsys, "--text")
    assert code == EXIT_USAGE and out == ""
    assert "Cannot listen: no microphone was found" in err and 'companion ask "' in err


class FakeSpeaker:
    def __init__(self) -> None:
        self.records: list[dict] = []
        self.closed = False

    def write(self, record: dict) -> None:
        self.records.append(record)

    def close(self) -> None:
        self.closed = True


def test_without_text_the_answer_is_spoken(capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    speaker = FakeSpeaker()
    monkeypatch.setattr("companion.app.devices.open_speaker", lambda: (speaker, None))
    code, out, _ = run_ask(capsys, "who won the football")
    assert code == EXIT_OK
    assert speaker.records == [{"kind": "say", "text": out.splitlines()[0]}] and speaker.closed


def test_when_speech_is_unavailable_it_says_why_once_and_still_answers(capsys, monkeypatch) -> None:
    monkeypatch.setattr("companion.app.devices.open_speaker",
                        lambda: (None, "Speech is off: no audio device. Carrying on in text."))
    code, out, err = run_ask(capsys, "--json", "how should I pick up a heavy box")
    assert code == EXIT_OK and json.loads(out)["topic"] == "lifting"
    assert err.count("Speech is off") == 1


def test_open_speaker_gives_a_speaker_or_a_reason() -> None:
    from companion.app.devices import open_speaker

    speaker, problem = open_speaker()
    if speaker is None:
        assert problem.startswith("Speech is off: ") and problem.endswith("Carrying on in text.")
    else:
        assert problem is None
        speaker.close()


def test_a_spoken_question_is_heard_whole_across_a_pause(monkeypatch, capsys) -> None:
    """Free speech waits out a pause mid-sentence instead of answering half a question."""
    from companion.app import devices
    from companion.app.ask import listen_for_question
    from companion.speech.audio.segmenter import split_frames
    from companion.speech.ports import AudioSource, Recognition, Recognizer
    from bench.testset import EspeakUnavailable, add_noise, synthesize

    try:
        first, second = synthesize("how should I lift"), synthesize("a heavy box")
    except EspeakUnavailable as exc:
        pytest.skip(f"espeak-ng is needed to make speech: {exc}")
    quiet = add_noise(b"\0" * 32000, 0, seed=1, signal_power=16.0)
    pause = add_noise(b"\0" * int(0.4 * 32000), 0, seed=2, signal_power=16.0)
    audio = quiet + first + pause + second + quiet + quiet

    class Recorder(Recognizer):
        name, phrases = "recorder", None

        def __init__(self):
            self.free, self.fed = False, 0

        def set_phrases(self, phrases):
            self.free = phrases is None

        def start(self):
            self.fed = 0

        def accept(self, pcm):
            self.fed += len(pcm)

        def finish(self):
            if not self.free:
                return Recognition("question", 1.0, self.name)
            return Recognition("how should i lift a heavy box", 1.0, self.name,
                               details={"readings": ["how should i lift a heavy box", "how should i lift a heavy fox"]})

    class FakeMicrophone(AudioSource):
        lost = None

        def frames(self):
            yield from split_frames(audio)

        def close(self):
            pass

    recorder = Recorder()
    built = []
    monkeypatch.setattr(devices, "make_recognizer", lambda phrases, **kwargs: built.append(kwargs) or recorder)
    monkeypatch.setattr(devices, "open_microphone", FakeMicrophone)
    heard = listen_for_question()
    assert heard.text == "how should i lift a heavy box"
    assert heard.readings == ("how should i lift a heavy box", "how should i lift a heavy fox")
    assert recorder.free
    # Whisper is told the subject's words for a question (vocabulary.yaml's question_prompt)
    assert "sciatica" in built[0]["hints"].question_prompt
    assert recorder.fed >= len(first) + len(pause) + len(second)  # one utterance, both halves


def test_a_recorded_question_is_transcribed_and_answered(tmp_path, capsys):
    import json
    import shutil
    import subprocess

    if shutil.which("flite") is None:
        pytest.skip("flite is needed to speak the question")
    wav = tmp_path / "question.wav"
    subprocess.run(["flite", "-voice", "slt", "-t", "How should I lift a heavy box?", "-o", str(wav)], check=True)
    assert main(["ask", "--audio", str(wav), "--json", "--text"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert "lift" in record["transcript"].lower() and record["decode_ms"] > 0
    assert record["known"] and "knees" in record["answer"]


def test_a_recording_is_answered_from_the_reading_the_knowledge_base_knows(monkeypatch, tmp_path, capsys):
    """Whisper's transcript first, and the reading answered beside it in the JSON."""
    from companion.app import ask as spoken

    heard = spoken.SpokenQuestion("how should we isolate with a bad back",
                                  ("how should we isolate with a bad back", "how should i sleep with a bad back"), 250.0)
    monkeypatch.setattr(spoken, "transcribe_file", lambda path: heard)
    assert main(["ask", "--audio", str(tmp_path / "q.wav"), "--json", "--text"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["transcript"] == "how should we isolate with a bad back"
    assert record["answered_as"] == "how should i sleep with a bad back" and record["topic"] == "sleeping"
    assert main(["ask", "--audio", str(tmp_path / "q.wav"), "--text"]) == 0
    assert "Taken as: how should i sleep with a bad back" in capsys.readouterr().err


def test_a_recording_that_is_not_a_wav_is_named_without_a_traceback(tmp_path, capsys):
    broken = tmp_path / "question.wav"
    broken.write_text("not audio")
    assert main(["ask", "--audio", str(broken), "--text"]) == 1
    err = capsys.readouterr().err
    assert "question.wav: cannot read this WAV file" in err and "Traceback" not in err
