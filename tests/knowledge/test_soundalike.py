"""Words that sound like a red-flag word, as Whisper writes them in noise (bench/spoken.py)."""

from __future__ import annotations

import pytest

from companion.knowledge.redflags import LEVELS, URGENT, detect
from companion.knowledge.soundalike import SoundAlike, pronunciations

FAKE = {"trying": (("T", "R", "AY", "IH", "NG"),), "drying": (("D", "R", "AY", "IH", "NG"),),
        "crying": (("K", "R", "AY", "IH", "NG"),), "fall": (("F", "AO", "L"),), "for": (("F", "AO", "R"),),
        "sleep": (("S", "L", "IY", "P"),), "asleep": (("AH", "S", "L", "IY", "P"),)}


def test_a_word_one_phone_from_a_table_word_is_tried_in_its_place():
    alike = SoundAlike(["trying", "fall", "sleep"], keep=["asleep"], dictionary=FAKE)
    assert list(alike.variants("lost weight without drying")) == [("lost weight without trying", "drying", "trying")]
    assert alike.sounds_like("crying") == ["trying"]


def test_short_words_the_tables_own_words_and_its_ignore_words_are_never_replaced():
    alike = SoundAlike(["trying", "fall", "sleep"], keep=["asleep"], dictionary=FAKE)
    assert alike.sounds_like("for") == []  # three phones: "for" and "fall" are one apart
    assert alike.sounds_like("trying") == [] and alike.sounds_like("asleep") == []
    assert list(alike.variants("drying")) == []  # a word or two is a command, not a sentence


def test_warmed_in_the_background_while_sentences_already_need_it_every_caller_gets_the_one_index():
    import threading
    import time

    class Counting(dict):
        reads = 0

        def values(self):  # slow, as the real dictionary is: without the lock, every caller would build
            Counting.reads += 1
            time.sleep(0.05)
            return super().values()

    alike = SoundAlike(["trying", "fall", "sleep"], keep=["asleep"], dictionary=Counting(FAKE))
    heard: list[list[str]] = []
    threads = [threading.Thread(target=alike.warm)] + [
        threading.Thread(target=lambda: heard.append(alike.sounds_like("drying"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert heard == [["trying"]] * 4 and Counting.reads == 1  # built once, by whichever came first


def test_without_a_dictionary_there_are_no_variants():
    assert list(SoundAlike(["trying"], dictionary={}).variants("lost weight without drying")) == []


needs_dictionary = pytest.mark.skipif(not pronunciations(), reason="PocketSphinx's dictionary is not installed")


@needs_dictionary
@pytest.mark.parametrize("heard, flag", [
    ("ive lost a lot of weight without drying and my back aches", "weight-loss"),
    ("i tricked antel and my spine hurts", "fall"),
    ("my leg keeps living way when i walk", "leg-weakness"),
])
def test_red_flags_whisper_wrote_with_a_sound_alike_word_are_caught(heard, flag):
    found = detect(heard)
    assert found is not None and found.id == flag
    assert any("(as " in phrase for phrase in found.heard)  # the log says which word was taken for which


@needs_dictionary
@pytest.mark.parametrize("text", ["i fell asleep on the sofa and my back is stiff", "is yoga good for back pain",
                                  "i cant sleep for the pain in my back", "what does calcium do for my spine"])
def test_everyday_sentences_stay_what_they_are(text):
    assert detect(text) is None


@needs_dictionary
@pytest.mark.parametrize("text", ["my legs werent weak", "my legs arent giving way",
                                  "i wont have a fever and back pain"])
def test_a_negation_is_never_replaced_by_a_word_that_sounds_like_it(text):
    """"werent" is one phone from "want", "arent" from "front": a negated flag stays negated."""
    assert detect(text) is None


@needs_dictionary
def test_an_urgent_flag_heard_as_a_sound_alike_still_wins_over_a_soon_one_as_written():
    found = detect("pain wakes me at night and i have lost weight without drying", LEVELS)
    assert found is not None and found.level == URGENT and found.id == "weight-loss"


def test_words_a_prefix_of_the_table_covers_are_never_replaced():
    alike = SoundAlike(["trying"], prefixes=["dry"], dictionary=FAKE)
    assert alike.sounds_like("drying") == [] and alike.sounds_like("crying") == ["trying"]
