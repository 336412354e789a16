"""The per-language normaliser: English exactly as before, other scripts kept, Chinese cut per character."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from companion.content.locale import LANG_ENV, load_locale
from companion.engine.events import Command
from companion.knowledge.text import join_spelled, words
from companion.language.normalise import Normaliser, active_normaliser, normaliser_for
from companion.language.vocabulary import load_vocabulary

EN = Normaliser(tokens="words", apostrophes="drop")
ZH = Normaliser(tokens="characters", apostrophes="drop")


def english_before(text: str) -> str:
    """What ``vocabulary.normalise`` did before it was chosen per language (ASCII letters and digits only)."""
    text = re.sub(r"['\u2019`]", "", text.lower())
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text).split())


def test_english_is_the_shipped_locale_and_reads_words():
    assert load_locale("en").tokens == "words"
    assert active_normaliser() == normaliser_for(load_locale("en")) == EN


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_english_normalises_exactly_as_before(text):
    assert EN(text) == english_before(text)
    assert ZH(text) == english_before(text)  # no unspaced script in ASCII: the modes agree
    assert EN._unicode_words(text, "") == EN._ascii_words(text, "")  # the fast path is only faster


@pytest.mark.parametrize("text, expected", [
    ("That’s ENOUGH!!", "thats enough"),  # a typographic apostrophe, as before
    ("Σταμάτα ΤΩΡΑ!", "σταμάτα τωρα"),
    ("Стоп, пожалуйста", "стоп пожалуйста"),
    ("naïve café", "naïve café"),
    ("ＭＲＩ ７", "mri 7"),  # full-width forms, as Chinese keyboards type them
    ("请暂停！", "请暂停"),  # kept (as one word) even when the language reads words
])
def test_other_scripts_are_kept_not_erased(text, expected):
    assert EN(text) == expected


def test_the_characters_tokeniser_makes_one_word_per_chinese_character():
    assert ZH("请暂停！") == "请 暂 停"
    assert ZH("请暂停 MRI 检查") == "请 暂 停 mri 检 查"  # Latin words inside Chinese stay whole
    assert ZH.words("刺痛*", keep="*") == ["刺", "痛*"]


def test_spelled_letters_are_joined_but_chinese_characters_are_not():
    assert join_spelled(["an", "m", "r", "i", "scan"]) == ["an", "mri", "scan"]
    assert join_spelled(["请", "暂", "停"]) == ["请", "暂", "停"]


@pytest.fixture
def chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stub language folder: English vocabulary with Chinese stop, pause and negation words."""
    import yaml

    from companion.content.locale import data_file

    folder = tmp_path / "zh-stub"
    folder.mkdir()
    (folder / "locale.yaml").write_text("name: 中文 (stub)\ntokens: characters\n", encoding="utf-8")
    vocabulary = yaml.safe_load(data_file("vocabulary.yaml", "en").read_text(encoding="utf-8"))
    vocabulary["commands"]["stop"]["phrases"] = ["停止", "停下"]
    vocabulary["commands"]["pause"]["phrases"] = ["暂停", "等一下"]
    vocabulary["negations"] = ["不要", "别"]
    (folder / "vocabulary.yaml").write_text(yaml.safe_dump(vocabulary, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv(LANG_ENV, str(folder))
    return folder


def test_a_chinese_stub_command_matches_on_whole_characters(chinese):
    vocabulary = load_vocabulary()
    assert vocabulary.match("暂停").command is Command.PAUSE
    assert vocabulary.match("请暂停一下！").command is Command.PAUSE  # inside a sentence without spaces
    assert vocabulary.match("好的，停下。").command is Command.STOP
    assert vocabulary.match("不要停止") is None  # negated, as "don't stop" is
    assert vocabulary.match("停车场") is None  # shares a character with 停止, but not the phrase
    assert vocabulary.name(Command.PAUSE) == "暂停"  # as written, for "Did you say ...?"
    assert words("请暂停") == ["请", "暂", "停"]  # the knowledge base reads the same words
