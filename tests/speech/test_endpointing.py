"""Endpointing: which phrases are settled, and voice activity with a pre-roll."""

from __future__ import annotations

from companion.speech.audio.endpointing import VoiceActivity, settled_phrases
from bench.testset import add_noise
from companion.language.vocabulary import load_vocabulary


def test_a_phrase_is_settled_when_every_longer_phrase_means_the_same():
    meaning = load_vocabulary().meaning
    phrases = ["stop", "stop now", "stop it", "go on", "go back", "go", "previous", "previous step", "yes",
               "yes please"]
    settled = settled_phrases(phrases, meaning)
    assert {"stop", "stop now", "previous", "previous step", "yes", "go on", "go back"} <= settled
    assert "go" not in settled  # "go on" (next) and "go back" (back) differ


def test_without_meanings_only_phrases_nothing_extends_are_settled():
    settled = settled_phrases(["stop", "stop now", "next"], meaning=lambda p: p)
    assert settled == {"stop now", "next"}


def test_the_real_grammars_settle_stop_and_the_answers():
    vocabulary = load_vocabulary()
    for context in ("commands", "answer", "number", "all"):
        settled = settled_phrases(vocabulary.grammar(context), vocabulary.meaning)
        assert "stop" in settled, context
    assert {"yes", "no"} <= settled_phrases(vocabulary.grammar("answer"), vocabulary.meaning)


def test_quiet_is_not_speech_and_a_word_starts_with_its_pre_roll():
    from companion.speech.audio.segmenter import split_frames
    from bench.testset import synthesize

    activity = VoiceActivity()
    quiet = add_noise(b"\0" * 32000, 0, seed=1, signal_power=16.0)
    assert all(activity.process(f) == [] for f in split_frames(quiet))
    assert not activity.in_speech
    handed: list[bytes] = []
    for frame in split_frames(synthesize("yes")):
        handed.extend(activity.process(frame))
        if activity.in_speech and len(handed) > 1:
            break
    assert activity.in_speech
    assert len(handed) >= 7  # the frames that led up to the start are not lost
    assert activity.speech_start < activity.onset <= activity.frames_seen * 0.03
