"""The knowledge base says what the source says, in its own words, and agrees with the routines.

Like tests/content/test_fidelity.py for routines: quotes must be verbatim on the cited lines,
spoken text must not copy a 7-word run from the (machine-translated) source, and every
exercise entry must give the same numbers as its routine file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from companion.content.library import Library
from companion.knowledge.base import KnowledgeBase, check_knowledge, load_knowledge
from companion.knowledge.schema import sentence_count

SOURCE_FILE = Path(__file__).resolve().parents[3] / "shared/source/back-pain-articles.txt"

# Every topic the issue lists, by entry id.
ISSUE_TOPICS = [
    "back-pain-kinds", "disc-herniation", "lumbar-sprain", "compression-fracture", "myofascial-pain",
    "muscle-strain", "disc-sizes", "when-to-see-doctor", "tests-and-scans", "self-check", "treatment-options",
    "surgery", "massage", "disc-pressure", "lifting", "high-heels", "sitting", "sleeping", "mattress", "sit-ups",
    "curl-up", "swimming", "food-for-back", "calcium", "vitamins", "protein", "pain-after-sex", "organ-causes",
]
TREATMENT = {"disc-herniation", "lumbar-sprain", "compression-fracture", "myofascial-pain", "treatment-options",
             "surgery", "massage", "new-back-pain"}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge()


@pytest.fixture(scope="module")
def source_lines() -> list[str]:
    if not SOURCE_FILE.is_file():
        pytest.skip(f"source text not found at {SOURCE_FILE}; quotes cannot be checked without it")
    return SOURCE_FILE.read_text(encoding="utf-8").splitlines()


def test_the_shipped_knowledge_base_has_no_problems() -> None:
    assert [str(p) for p in check_knowledge()] == []


def test_every_issue_topic_and_every_routine_has_an_entry(kb: KnowledgeBase, library: Library) -> None:
    for topic in ISSUE_TOPICS:
        assert topic in kb.entries, topic
    linked = {e.routine for e in kb.entries.values() if e.routine}
    assert linked == set(library.routines), f"routines without an entry: {set(library.routines) - linked}"


def test_treatment_entries_are_flagged(kb: KnowledgeBase) -> None:
    for entry_id in TREATMENT:
        assert kb.entries[entry_id].treatment, entry_id
    for entry_id in ("lifting", "calcium", "wall-standing", "disc-pressure"):
        assert not kb.entries[entry_id].treatment, entry_id


def test_answers_are_short_and_spoken(kb: KnowledgeBase) -> None:
    for entry in kb.entries.values():
        assert 2 <= sentence_count(entry.answer) <= 3, entry.id
        assert len(entry.more) > len(entry.answer), entry.id
        assert "\n" not in entry.answer, entry.id


def test_every_quote_is_verbatim_on_its_lines(kb: KnowledgeBase, source_lines: list[str]) -> None:
    for entry in kb.entries.values():
        for src in entry.sources:
            first, _, last = src.lines.partition("-")
            window = "\n".join(source_lines[int(first) - 1: int(last or first)])
            assert src.quote in window, f"{entry.id}: quote is not on line(s) {src.lines}: {src.quote!r}"


def test_text_is_not_copied_from_the_source(kb: KnowledgeBase, source_lines: list[str]) -> None:
    """Answers, the longer version and facts are our own words: no run of 7 words from the source."""
    n = 7

    def grams(text: str) -> set[tuple[str, ...]]:
        w = re.findall(r"[a-z0-9']+", text.lower())
        return {tuple(w[i: i + n]) for i in range(len(w) - n + 1)}

    source = grams(" ".join(source_lines))
    for entry in kb.entries.values():
        for text in (entry.answer, entry.more, *entry.facts):
            copied = grams(text) & source
            assert not copied, f"{entry.id}: copies the source: {' '.join(sorted(copied)[0])!r}"


# Numbers each exercise entry must state (in its answer), checked against the routine file
# too, so a change to either side without the other fails here.
ROUTINE_NUMBERS = {
    "neck-gaze-rotation": (["thirty degrees", "two minutes", "three times a day"], lambda r: (
        r.frequency.per_day.low == 3 and r.steps[-1].hold.seconds.low == 120)),
    "wall-standing": (["five to ten centimetres", "five minutes", "three times a day"], lambda r: (
        r.frequency.per_day.low == 3 and r.steps[-1].hold.seconds.low == 300)),
    "flying-swallow": (["five seconds", "fifteen", "three sets", "twice a day"], lambda r: (
        r.frequency.per_day.low == 2 and r.steps[-1].reps.hold_seconds == 5 and r.steps[-1].reps.count.low == 15
        and r.steps[-1].reps.sets == 3)),
    "knees-to-chest": (["ten times"], lambda r: r.steps[-1].reps.count.low == 10),
    "mckenzie-1-prone-lying": (["two to three minutes", "six to eight times a day", "two hours"], lambda r: (
        (r.frequency.per_day.low, r.frequency.per_day.high) == (6, 8)
        and (r.steps[-1].hold.seconds.low, r.steps[-1].hold.seconds.high) == (120, 180))),
    "mckenzie-2-prone-on-elbows": (["two to three minutes", "every two hours"], lambda r: (
        r.frequency.spacing_hours == 2 and (r.steps[-1].hold.seconds.low, r.steps[-1].hold.seconds.high) == (120, 180))),
    "mckenzie-3-prone-press-up": (["ten in a set", "six to eight sets a day"], lambda r: (
        r.steps[-1].reps.count.low == 10 and (r.frequency.per_day.low, r.frequency.per_day.high) == (6, 8))),
    "mckenzie-4-standing-extension": (["any time of day", "ten"], lambda r: (
        r.frequency.per_day is None and r.steps[-1].reps.count.low == 10)),
    "mckenzie-5-lying-flexion": (["five or six", "three or four sets a day", "press-up"], lambda r: (
        (r.steps[-1].reps.count.low, r.steps[-1].reps.count.high) == (5, 6)
        and (r.frequency.per_day.low, r.frequency.per_day.high) == (3, 4) and r.then == "mckenzie-3-prone-press-up")),
    "mckenzie-6-sitting-flexion": (["five or six", "three or four sets a day", "five weeks"], lambda r: (
        (r.frequency.per_day.low, r.frequency.per_day.high) == (3, 4) and r.requires[0].practised_weeks == 5)),
    "mckenzie-7-standing-flexion": (["five or six", "once or twice a day", "two weeks"], lambda r: (
        (r.frequency.per_day.low, r.frequency.per_day.high) == (1, 2) and r.requires[0].practised_weeks == 2)),
}


@pytest.mark.parametrize("routine_id", sorted(ROUTINE_NUMBERS))
def test_exercise_entries_agree_with_their_routine(routine_id: str, kb: KnowledgeBase, library: Library) -> None:
    phrases, routine_check = ROUTINE_NUMBERS[routine_id]
    entry = kb.entries[routine_id]
    assert entry.routine == routine_id
    for phrase in phrases:
        assert phrase in entry.answer.lower(), f"{routine_id}: the answer should say {phrase!r}"
    assert routine_check(library.routines[routine_id]), f"{routine_id}: the routine file changed; update the entry"
    # When to stop: every exercise entry says so in its answer or its longer version.
    assert re.search(r"\bstop\b|uncomfortable|step away|lower yourself|leave it out|skip it",
                     entry.answer + entry.more, re.IGNORECASE), routine_id
