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


# -- the noise floor: a steady noise is the room, not a voice ------------------------------------

def _in_noise(pcm: bytes, lead: float = 4.0, tail: float = 2.0, snr_db: float = 20, kind: str = "white") -> bytes:
    """``pcm`` inside a room that is noisy all along (a fan): noise from ``lead`` s before to ``tail`` s after."""
    from bench.testset import speech_power

    padded = b"\0" * int(32000 * lead) + pcm + b"\0" * int(32000 * tail)
    return add_noise(padded, snr_db, seed=5, noise=kind, signal_power=speech_power(pcm))


def _utterances(pcm: bytes, noise_floor: bool, text: str = "stop") -> list[tuple[float, float]]:
    from companion.speech.audio.segmenter import Segmenter, split_frames
    from tests.speech.test_listener import ScriptedRecognizer

    segmenter = Segmenter(ScriptedRecognizer(text), load_vocabulary().meaning, noise_floor=noise_floor)
    found = [(u.speech_start, u.speech_end) for f in split_frames(pcm) if (u := segmenter.feed(f))]
    if (last := segmenter.flush()) is not None:
        found.append((last.speech_start, last.speech_end))
    return found


def test_steady_noise_is_below_the_floor_and_a_voice_above_it():
    from companion.speech.audio.endpointing import NoiseFloor
    from companion.speech.audio.segmenter import split_frames

    floor = NoiseFloor()
    noise = add_noise(b"\0" * 64000, 0, seed=1, signal_power=1e5)
    heard = [floor.voiced(f, True) for f in split_frames(noise)]
    assert not any(heard[30:])  # once the window has heard the noise alone, even if WebRTC calls it speech
    louder = add_noise(b"\0" * 9600, 0, seed=2, signal_power=1e5 * 10 ** 0.9)  # 9 dB above it
    assert all(floor.voiced(f, True) for f in split_frames(louder))
    assert not any(floor.voiced(f, False) for f in split_frames(louder))  # not a voice to WebRTC, not strong
    strong = add_noise(b"\0" * 9600, 0, seed=3, signal_power=1e5 * 10 ** 1.5)  # 15 dB above a noisy room
    assert all(floor.voiced(f, False) for f in split_frames(strong))


def test_in_a_quiet_room_a_sound_webrtc_calls_no_voice_stays_no_voice():
    from companion.speech.audio.endpointing import NoiseFloor
    from companion.speech.audio.segmenter import split_frames

    floor = NoiseFloor()
    for frame in split_frames(add_noise(b"\0" * 64000, 0, seed=1, signal_power=16.0)):
        floor.voiced(frame, False)
    click = add_noise(b"\0" * 9600, 0, seed=2, signal_power=1e6)  # 48 dB above a quiet room
    assert not any(floor.voiced(f, False) for f in split_frames(click))


def test_a_word_in_steady_noise_ends_with_the_word_not_with_the_noise():
    # WebRTC's detector calls white noise speech until it has learnt it (real voices in
    # bench/commands.py --noise: without the floor a third of the words ran on with the noise).
    from bench.testset import synthesize

    word = synthesize("stop")
    pcm = _in_noise(word, lead=4.0, tail=3.0)
    word_end = 4.0 + len(word) / 32000
    with_floor = _utterances(pcm, noise_floor=True, text="")
    holding = [u for u in with_floor if u[0] <= word_end - 0.1 <= u[1]]
    assert len(holding) == 1
    start, end = holding[0]
    assert end - start <= 1.4 and end <= word_end + 0.3  # a command word's length, ended with the word


def test_a_sentence_in_steady_noise_stays_one_utterance():
    from bench.testset import synthesize

    for text in ("the pain is going down my leg", "I feel dizzy", "how many are left"):
        sentence = synthesize(text)
        pcm = _in_noise(sentence)
        start_of, end_of = 4.0, 4.0 + len(sentence) / 32000
        inside = [u for u in _utterances(pcm, noise_floor=True, text="") if u[1] > start_of + 0.1 and u[0] < end_of - 0.1]
        assert len(inside) == 1, (text, inside)


def test_in_a_quiet_room_the_floor_changes_nothing():
    from bench.testset import synthesize

    quiet = add_noise(b"\0" * 32000, 0, seed=1, signal_power=16.0)
    for text in ("stop", "how many are left", "the pain is going down my leg", "why do my legs tingle when I sit"):
        pcm = quiet + add_noise(synthesize(text), 40, seed=2) + quiet
        assert _utterances(pcm, noise_floor=True) == _utterances(pcm, noise_floor=False), text
