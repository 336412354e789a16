"""bench/spoken.py's pure parts: WER, judging a transcript as a typed question is judged, hangover, noise."""

from __future__ import annotations

import array
import math

import pytest

from bench import spoken
from bench.evaluation import Question, evaluate
from companion.knowledge.retrieval import Answer
from companion.speech.audio.segmenter import Segmenter

SR = 16000


class Scripted:
    """An answerer that answers each question text as told, and remembers what it was asked."""

    def __init__(self, answers: dict[str, Answer]):
        self.answers, self.asked = answers, []

    def ask(self, text: str) -> Answer:
        self.asked.append(text)
        return self.answers[text]


def _topic(topic: str) -> Answer:
    return Answer("...", known=True, urgent=False, topic=topic, score=5.0)


REFUSED = Answer("Sorry, I can only help with back and neck care.", known=False, urgent=False, topic=None, score=0.0,
                 kind="off-topic")
URGENT = Answer("Call for help.", known=True, urgent=True, topic="red-flag:fall", score=1.0, kind="urgent")


def test_word_errors_normalise_both_sides_like_the_voices_bench():
    assert spoken.word_errors("Is a 3 mm bulge bad?", "is a three mm bulge bad") == (0, 6)
    assert spoken.word_errors("I'm fine.", "im fine") == (0, 2)
    assert spoken.word_errors("my back hurts", "my black hurts a lot") == (3, 3)  # one swap, two insertions
    assert spoken.word_errors("stop now", "") == (2, 2)


@pytest.mark.parametrize("expect, accept, answer, right", [
    ("mattress", (), _topic("mattress"), True),
    ("mattress", (), _topic("lifting"), False),
    ("mattress", ("sleep",), _topic("sleep"), True),
    ("mattress", (), URGENT, False),  # a false alarm is no right answer
    ("off-topic", (), REFUSED, True),
    ("off-topic", (), _topic("lifting"), False),
    ("urgent", (), URGENT, True),
    ("urgent", (), REFUSED, False),
    ("unknown", (), REFUSED, None),  # reported, never scored
])
def test_a_transcript_is_judged_as_the_typed_question_would_be(expect, accept, answer, right):
    question = Question("q1", "the typed words", expect, accept, "fall" if expect == "urgent" else None)
    answerer = Scripted({"the heard words": answer})
    assert spoken.judged(answerer, question, "the heard words") is right
    assert answerer.asked == ["the heard words"]


def test_right_answers_add_up_the_three_scored_kinds_and_match_judged():
    questions = [Question("a", "a", "mattress"), Question("b", "b", "mattress"), Question("c", "c", "off-topic"),
                 Question("d", "d", "urgent", flag="fall"), Question("e", "e", "unknown")]
    answerer = Scripted({"a": _topic("mattress"), "b": _topic("lifting"), "c": REFUSED, "d": URGENT, "e": REFUSED})
    assert spoken.right_answers(evaluate(answerer, questions)["all"]) == (3, 4)
    verdicts = [spoken.judged(answerer, q, q.text) for q in questions]
    assert verdicts == [True, False, True, True, None]


def test_hangover_is_the_segmenters_own():
    segmenter = Segmenter.__init__.__defaults__  # the benchmark must follow the endpointer, never a copy
    assert spoken.FREE_HANGOVER in segmenter and spoken.COMMAND_HANGOVER in segmenter
    assert spoken.hangover(0.8) == spoken.FREE_HANGOVER  # a question asked with `companion ask`
    assert spoken.hangover(0.8, free=False) == spoken.COMMAND_HANGOVER
    assert spoken.hangover(3.0, free=False) == spoken.FREE_HANGOVER  # a sentence in a session


def test_noisy_pads_and_mixes_at_the_snr_with_a_fixed_seed():
    tone = array.array("h", (int(3000 * math.sin(2 * math.pi * 300 * i / SR)) for i in range(SR)))
    pcm = tone.tobytes()
    out = spoken.noisy(pcm, seed=5)
    pad = int(spoken.PAD_SECONDS * SR)
    assert len(out) == len(pcm) + 4 * pad
    assert out == spoken.noisy(pcm, seed=5) and out != spoken.noisy(pcm, seed=6)
    samples = array.array("h", out)
    residual = [n - s for n, s in zip(samples[pad:-pad], tone)]
    p_noise = sum(v * v for v in residual) / len(residual)
    p_speech = sum(v * v for v in tone) / len(tone)
    assert 10 * math.log10(p_speech / p_noise) == pytest.approx(spoken.SNR_DB, abs=0.5)
    assert any(samples[:pad])  # the padding is noisy too
    assert spoken.clip_seed("slt", "q001") == spoken.clip_seed("slt", "q001") != spoken.clip_seed("awb", "q001")
