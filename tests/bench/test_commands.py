"""bench/commands.py's tuning cache: a model's answers kept by what it was asked."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bench.commands import Remembered, brief, remember  # noqa: E402


class Model:
    WORDS = ("stop",)

    def __init__(self):
        self.asked = []

    def score(self, pcm, phrases, top=3):
        self.asked.append((pcm, tuple(phrases), top))
        return [(phrases[0], -1.0 * len(pcm))]


def test_an_answer_is_asked_for_once_per_audio_and_arguments():
    model, store = Model(), {}
    remembered = Remembered(model, store)
    assert remembered.score(b"ab", ["stop"]) == [("stop", -2.0)]
    assert remembered.score(b"ab", ["stop"]) == [("stop", -2.0)] and len(model.asked) == 1
    remembered.score(b"ab", ["stop"], top=5)
    remembered.score(b"abc", ["stop"])
    assert len(model.asked) == 3 and remembered.WORDS == ("stop",)  # other attributes pass through


def test_the_store_survives_on_disk(tmp_path):
    class Fused:
        def __init__(self):
            self.spotter, self.whisper = None, Model()

    path = tmp_path / "models.pickle"
    fused = Fused()
    store = remember(fused, path)
    fused.whisper.score(b"x", ["stop"])
    path.write_bytes(pickle.dumps(store))
    again = Fused()
    remember(again, path)
    again.whisper.score(b"x", ["stop"])
    assert again.whisper._model.asked == []  # answered from the file


def test_brief_evidence_names_each_model():
    evidence = {"pocketsphinx": {"text": "stop", "confidence": 0.5}, "keywords": {"probs": {"stop": 0.9}},
                "whisper": {"transcript": "Stop.", "avg_logprob": -0.2}}
    assert brief(evidence) == {"ps": ["stop", 0.5], "kw": {"stop": 0.9}, "wh": ["Stop.", -0.2]}


def test_a_clip_is_judged_by_its_first_utterance_heard_as_something():
    # In noise that has just begun, the endpointer may first hand on the noise alone (heard as
    # nothing, which changes nothing live) and then the word: the word is the clip's answer.
    from bench.voice import run_clip
    from companion.speech.ports import Recognition
    from companion.speech.audio.segmenter import Utterance

    class TwoUtterances:
        def __init__(self):
            self.fed = 0

        def feed(self, frame):
            self.fed += 1
            if self.fed == 5:
                return Utterance(Recognition("", 0.0, "fake"), 0.0, 0.1, 0.0)
            if self.fed == 9:
                return Utterance(Recognition("stop", 0.9, "fake"), 0.2, 0.3, 0.0)
            return None

        def flush(self):
            return None

    result, _, _ = run_clip(TwoUtterances(), b"\0" * 960 * 12, speech_end=0.3)
    assert result.text == "stop"
