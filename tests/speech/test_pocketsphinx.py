"""The embedded recogniser's evidence and confidence (pure parts), and one real decode."""

from __future__ import annotations

import pytest

from companion.speech.asr.pocketsphinx import Evidence, confidence, features


def _loop(*phones: tuple[str, int, int]) -> list[tuple[str, int, int, float]]:
    """Phone-loop segments with a score of -10 per frame."""
    return [(p, a, b, -10.0 * (b - a + 1)) for p, a, b in phones]


def test_a_phrase_that_fits_as_well_as_the_phone_loop_scores_high():
    words = [("<sil>", 0, 9, -50.0), ("stop", 10, 49, -400.0), ("</s>", 50, 59, -50.0)]
    phones = _loop(("SIL", 0, 9), ("S", 10, 19), ("T", 20, 29), ("AA", 30, 39), ("P", 40, 49), ("SIL", 50, 59))
    evidence = features(words, phones, phone_count=4)
    assert evidence.ratio == pytest.approx(0.0)
    assert evidence.cover == pytest.approx(1.0)
    assert evidence.phone_ratio == pytest.approx(1.0)
    assert confidence(evidence) > 0.75


def test_a_short_word_forced_onto_a_long_phrase_is_damped():
    # "wow" heard by the phone loop as three phones, matched by the grammar to "last one" (7 phones)
    words = [("last", 10, 29, -200.0), ("one", 30, 49, -200.0)]
    phones = _loop(("L", 10, 19), ("AW", 20, 39), ("HH", 40, 49))
    evidence = features(words, phones, phone_count=7)
    assert evidence.phone_ratio == pytest.approx(3 / 7)
    undamped = Evidence(evidence.ratio, evidence.cover, evidence.frames_per_phone, phone_ratio=1.0)
    assert confidence(evidence) < 0.5 * confidence(undamped)


def test_a_worse_fit_than_the_phone_loop_lowers_confidence():
    phones = _loop(("S", 10, 19), ("T", 20, 29), ("AA", 30, 39), ("P", 40, 49))
    good = features([("stop", 10, 49, -400.0)], phones, 4)
    poor = features([("stop", 10, 49, -2400.0)], phones, 4)
    assert confidence(poor) < confidence(good)


def test_nothing_spoken_gives_no_evidence():
    assert features([("<sil>", 0, 9, -1.0)], _loop(("SIL", 0, 9)), 3) is None
    assert features([("stop", 0, 9, -1.0)], _loop(("S", 0, 9)), 0) is None


def test_a_synthesised_command_is_recognised_and_an_unrelated_sentence_scores_lower():
    from companion.speech.asr.pocketsphinx import PocketSphinxRecognizer
    from companion.speech.ports import decode
    from bench.testset import EspeakUnavailable, add_noise, pad, synthesize
    from companion.language.vocabulary import load_vocabulary

    try:
        stop = add_noise(pad(synthesize("stop", voice="en-us")), 30, seed=1)
        other = add_noise(pad(synthesize("the weather will be sunny tomorrow", voice="en-us")), 30, seed=2)
    except EspeakUnavailable as exc:
        pytest.skip(f"espeak-ng is needed to make speech: {exc}")
    vocabulary = load_vocabulary()
    recognizer = PocketSphinxRecognizer(vocabulary.grammar("commands"))
    heard = decode(recognizer, stop)
    assert vocabulary.meaning(heard.text) == "stop"  # "stop" or "stop it": the same command
    assert "phone_ratio" in heard.details
    assert decode(recognizer, other).confidence < heard.confidence


def test_a_word_missing_from_the_dictionary_is_built_from_two_it_has():
    from companion.speech.asr.pocketsphinx import PocketSphinxRecognizer

    recognizer = PocketSphinxRecognizer(["unpause", "stop", "zzxqv"])
    assert recognizer.unusable_phrases == ["zzxqv"]  # "un" + "pause" is pronounceable; this is not
    assert "unpause" in recognizer.phrases
