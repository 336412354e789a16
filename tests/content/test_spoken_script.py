"""The spoken script of every routine and programme, read as a listener hears it.

Each entry is run on the virtual clock with nobody speaking, and what the companion
says is checked for glitches that are easy to miss in the routine files and the
engine's phrasing but confusing to hear:

- the same sentence twice in a row (the neck drill once said "Turn right" twice when
  a time announcement replaced a call);
- a rep's number followed straight by the hold's count ("5. Lift." then "1, 2, 3");
- a sentence with a title dropped after a colon, which already has one ("...: McKenzie
  3: press-up.");
- a programme introduction whose stated length ("about ten minutes") is more than
  20% off how long the session really takes.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pytest

from companion.content.library import Library, load_library
from companion.content.phrases import load_phrases
from tests.conftest import ROOT, run_virtual

PH = load_phrases()
NUMBER_WORDS = {word: n for n, word in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}
NUMBER_WORDS.update({"thirty": 30, "forty": 40, "forty-five": 45, "sixty": 60})
STATED = re.compile(r"\babout (\d+|[a-z-]+) minutes?\b", re.I)
TOLERANCE = 0.20


def _entries() -> list[str]:
    return load_library([ROOT / "routines"]).ids()


ENTRIES = _entries()


@lru_cache(maxsize=None)
def script(entry_id: str) -> tuple[tuple[float, str, str], ...]:
    """(time, text, kind) of everything said in a whole session of ``entry_id``, with nobody speaking."""
    library = load_library([ROOT / "routines"])
    records = run_virtual(library, entry_id)
    assert records[-1]["kind"] == "finished" and records[-1]["text"] == "completed", entry_id
    return tuple((r["t"], r["text"], r["say"]) for r in records if r["kind"] == "say") + \
        ((records[-1]["t"], "", "end"),)


def is_count(text: str) -> bool:
    """A count ("1", "2", ..., or the hold's first second, "Hold: 1")."""
    return text.isdigit() or any(text == PH.count_hold_first.format(n=n) for n in range(1, 200))


def is_interjection(text: str, kind: str) -> bool:
    """Said on top of the flow of instructions: counts, time announcements, questions."""
    time_left = re.escape(PH.time_left).replace(re.escape("{time}"), ".+")
    return is_count(text) or kind == "question" or re.fullmatch(time_left, text) is not None


def repeats(entry_id: str) -> list[str]:
    """The same sentence said twice in a row, with counts and announcements in between ignored."""
    flow = [(t, text) for t, text, kind in script(entry_id) if kind != "end" and not is_interjection(text, kind)]
    return [f"{entry_id} at {b[0]:.1f}s: {b[1]!r} again" for a, b in zip(flow, flow[1:]) if a[1] == b[1]]


@pytest.mark.parametrize("entry_id", ENTRIES)
def test_no_sentence_is_said_twice_in_a_row(entry_id):
    assert repeats(entry_id) == []


def test_the_neck_drill_never_says_the_same_turn_twice():
    calls = [text for _, text, _ in script("neck-gaze-rotation") if text in ("Turn left", "Turn right")]
    assert len(calls) > 30 and all(a != b for a, b in zip(calls, calls[1:]))


@pytest.mark.parametrize("entry_id", ENTRIES)
def test_a_rep_number_is_never_followed_straight_by_a_bare_count(entry_id):
    said = [text for _, text, kind in script(entry_id) if kind != "end"]
    rep = re.compile(r"^\d+\. ")
    bad = [f"{a!r} then {b!r}" for a, b in zip(said, said[1:]) if rep.match(a) and b.isdigit()]
    assert bad == []


def test_the_flying_swallow_says_hold_before_counting():
    said = [text for _, text, _ in script("flying-swallow")]
    first = PH.count_hold_first.format(n=1)
    assert said.count(first) == 45
    assert all(said[i - 1].split(". ")[0].isdigit() for i, text in enumerate(said) if text == first)


@pytest.mark.parametrize("entry_id", ENTRIES)
def test_no_sentence_puts_a_title_after_a_colon(entry_id):
    """ "Now, as always after the last exercise: McKenzie 3: press-up." is hard to follow by ear."""
    bad = [text for _, text, _ in script(entry_id)
           if any(sentence.count(":") > 1 for sentence in re.split(r"(?<=[.!?])\s", text))]
    assert bad == []


def test_a_follower_is_introduced_plainly(library: Library):
    follower = library.routines["mckenzie-3-prone-press-up"].title
    said = [text for _, text, _ in script("mckenzie-5-lying-flexion")]
    assert PH.then_intro.format(title=follower) in said


def stated_minutes(text: str) -> list[int]:
    found = []
    for match in STATED.finditer(text):
        word = match.group(1).lower()
        value = int(word) if word.isdigit() else NUMBER_WORDS.get(word)
        assert value is not None, f"cannot read the number in {match.group(0)!r}"
        found.append(value)
    return found


def test_stated_minutes_are_read():
    assert stated_minutes("A break of about ten minutes for your neck.") == [10]
    assert stated_minutes("It takes about 7 minutes.") == [7]
    assert stated_minutes("Two minutes of neck turns.") == []


PROGRAMMES = [e for e in ENTRIES if load_library([ROOT / "routines"]).get(e).kind == "programme"]


@pytest.mark.parametrize("entry_id", PROGRAMMES)
def test_a_programme_introduction_says_its_real_length(entry_id):
    said = script(entry_id)
    real = said[-1][0] / 60.0
    intro = said[0][1]  # the programme's introduction, its first line
    problems = [f"{entry_id}: says about {m} minutes, runs {real:.1f}" for m in stated_minutes(intro)
                if abs(m - real) > TOLERANCE * real]
    assert problems == []
