"""The routine files say what the source material says.

Each exercise test hard-codes the numbers from the source text, with the source line quoted
next to them, and checks the routine file against them. A change to a routine's numbers must
therefore be a deliberate change here too, made with the source open.

Source: shared/source/back-pain-articles.txt (machine-translated, so quotes keep its wording).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from companion.content.library import Library, load_library
from companion.content.schema import Hold, Programme, Reps, Routine

SOURCE_FILE = Path(__file__).resolve().parents[3] / "shared/source/back-pain-articles.txt"

LOW_BACK = [
    "flying-swallow",
    "knees-to-chest",
    "mckenzie-1-prone-lying",
    "mckenzie-2-prone-on-elbows",
    "mckenzie-3-prone-press-up",
    "mckenzie-4-standing-extension",
    "mckenzie-5-lying-flexion",
    "mckenzie-6-sitting-flexion",
    "mckenzie-7-standing-flexion",
]


@pytest.fixture(scope="module")
def lib() -> Library:
    return load_library()


@pytest.fixture(scope="module")
def source_lines() -> list[str]:
    if not SOURCE_FILE.is_file():
        pytest.skip(f"source text not found at {SOURCE_FILE}; quotes cannot be checked without it")
    return SOURCE_FILE.read_text(encoding="utf-8").splitlines()


# --- helpers -----------------------------------------------------------------------------


def routine(lib: Library, routine_id: str) -> Routine:
    entry = lib.routines.get(routine_id)
    assert entry is not None, f"routine {routine_id!r} is missing; problems: {lib.problems}"
    return entry


def only(r: Routine, kind: type) -> Hold | Reps:
    """The routine's single hold or reps step."""
    found = [getattr(step, kind.__name__.lower()) for step in r.steps]
    found = [x for x in found if x is not None]
    assert len(found) == 1, f"{r.id}: expected exactly one {kind.__name__.lower()} step, found {len(found)}"
    return found[0]


def span(value) -> tuple[float, float]:
    return (value.low, value.high)


def spoken(r: Routine) -> list[str]:
    """Every sentence the companion may say for this routine."""
    out = [r.title, r.purpose, r.finish, *r.warnings, *r.limits, *(q.why for q in r.requires)]
    if r.frequency.note:
        out.append(r.frequency.note)
    if r.alternative_to:
        out.append(r.alternative_to.when)
    for step in r.steps:
        if step.say:
            out.append(step.say)
        for part in (step.hold, step.reps):
            if part is None:
                continue
            for name in ("cue", "breathe", "limit", "release", "move", "move_short"):
                value = getattr(part, name, None)
                if value:
                    out.append(value)
            out.extend(getattr(part, "calls", []))
    return out


def says(r: Routine, pattern: str) -> bool:
    return any(re.search(pattern, text, re.IGNORECASE) for text in spoken(r))


def step_limits(r: Routine) -> list[str]:
    return [*r.limits, *(p.limit for s in r.steps for p in (s.hold, s.reps) if p is not None and p.limit)]


# --- the library as a whole --------------------------------------------------------------


def test_library_loads_without_problems(lib):
    assert [str(p) for p in lib.problems] == []
    for entry_id in [*LOW_BACK, "neck-gaze-rotation", "wall-standing", "desk-break", "mckenzie-extension"]:
        assert lib.get(entry_id) is not None, entry_id


def test_file_names_match_ids(lib):
    for entry_id, file in lib.files.items():
        assert Path(file).stem == entry_id


def test_every_quote_is_verbatim_on_its_lines(lib, source_lines):
    text = "\n".join(source_lines)
    for entry in lib.entries():
        for src in entry.sources:
            assert src.quote in text, f"{entry.id}: quote not in source: {src.quote!r}"
            first, _, last = src.lines.partition("-")
            lo, hi = int(first), int(last or first)
            window = "\n".join(source_lines[lo - 1 : hi])
            assert src.quote in window, f"{entry.id}: quote is not on line(s) {src.lines}: {src.quote!r}"


def test_spoken_text_is_not_copied_from_the_source(lib, source_lines):
    """Spoken text is our own plain English: no run of 7 words taken from the source."""
    n = 7

    def grams(text: str) -> set[tuple[str, ...]]:
        words = re.findall(r"[a-z0-9']+", text.lower())
        return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}

    source = grams(" ".join(source_lines))
    for r in lib.routines.values():
        for text in spoken(r):
            copied = grams(text) & source
            assert not copied, f"{r.id}: spoken text copies the source: {' '.join(sorted(copied)[0])!r}"


def test_aliases_are_unique(lib):
    seen: dict[str, str] = {}
    for entry in lib.entries():
        for alias in entry.aliases:
            key = alias.lower()
            assert key not in seen, f"alias {alias!r} used by both {seen[key]} and {entry.id}"
            seen[key] = entry.id


# 512: exercise 1 "is first aid"; 558: exercise 4 replaces 3 "in case of acute back pain".
ACUTE_ALLOWED = {"mckenzie-1-prone-lying", "mckenzie-4-standing-extension"}


def test_low_back_exercises_are_not_for_the_acute_period(lib):
    # 620: "The above exercises are not suitable for the acute period of low back pain."
    for routine_id in LOW_BACK:
        r = routine(lib, routine_id)
        if routine_id in ACUTE_ALLOWED:
            assert "acute" not in r.not_for, routine_id
            assert any("new and severe" in w for w in r.warnings), routine_id
        else:
            assert "acute" in r.not_for, routine_id
            assert any("acute" in w.lower() for w in r.warnings), routine_id
        assert any(re.search(r"\bleg\b", w, re.IGNORECASE) for w in r.warnings), f"{routine_id}: no leg-pain stop rule"


# --- neck ----------------------------------------------------------------------------------


def test_neck_gaze_rotation(lib):
    r = routine(lib, "neck-gaze-rotation")
    hold = only(r, Hold)
    # 376: "Do this for two minutes three times a day. You can stop if you feel uncomfortable."
    assert span(hold.seconds) == (120, 120)
    assert span(r.frequency.per_day) == (3, 3)
    assert any("uncomfortable" in w.lower() for w in r.warnings)
    # 370: "turn your neck left and right, a horizontal rotation to the left and right."
    assert len(hold.calls) >= 2
    assert any("left" in c.lower() for c in hold.calls) and any("right" in c.lower() for c in hold.calls)
    # 372: "Turn your neck no more than 30 degrees."
    assert any(re.search(r"\b(30|thirty) degrees", t, re.IGNORECASE) for t in step_limits(r))
    # 370: "And your eye can't leave the solid dot."
    assert says(r, r"eyes .*dot")
    # 368: "focus your eye on a solid dot on the wall with your eye, or draw one."
    assert says(r, r"draw one")


def test_wall_standing(lib):
    r = routine(lib, "wall-standing")
    hold = only(r, Hold)
    # 392: "Do this three times a day for five minutes at a time, and stop whenever uncomfortable."
    assert span(hold.seconds) == (300, 300)
    assert span(r.frequency.per_day) == (3, 3)
    # 388: "place your heel between 5 and 10 centimeters from the wall."
    assert says(r, r"\b(5|five) to (10|ten) (centimetres|centimeters|cm)\b")


def test_desk_break(lib):
    p = lib.programmes["desk-break"]
    assert isinstance(p, Programme)
    assert p.routine_ids() == ["neck-gaze-rotation", "wall-standing"]
    assert [bool(item.rest) for item in p.items] == [False, True, False]


# --- low back: flying swallow and knees to chest --------------------------------------------


def test_flying_swallow(lib):
    r = routine(lib, "flying-swallow")
    reps = only(r, Reps)
    # 495: "Hold for 5 seconds, then relax and repeat 15 times for each set. Three sets twice a day."
    assert reps.hold_seconds == 5
    assert span(reps.count) == (15, 15)
    assert reps.sets == 3
    assert span(r.frequency.per_day) == (2, 2)
    # 495: "Lie on your stomach with your hands behind your back, knees straight, head and legs ..."
    assert says(r, r"stomach") and says(r, r"knees straight") and says(r, r"head and your legs")


def test_knees_to_chest(lib):
    r = routine(lib, "knees-to-chest")
    reps = only(r, Reps)
    # 499: "... so your knees are as close to your chest as possible. Repeat 10 times."
    assert span(reps.count) == (10, 10)
    assert reps.sets == 1
    assert says(r, r"knees .*chest")
    # 499: "Let the waist have relaxed feeling."
    assert says(r, r"relaxed")


# --- McKenzie 1-7 ---------------------------------------------------------------------------


def test_mckenzie_1_prone_lying(lib):
    r = routine(lib, "mckenzie-1-prone-lying")
    hold = only(r, Hold)
    # 520: "take a few deep breaths, and then completely relax your muscles for 2-3 minutes."
    assert span(hold.seconds) == (120, 180)
    # 524: "Do six to eight sets a day, evenly spaced, about two hours apart."
    assert span(r.frequency.per_day) == (6, 8)
    assert r.frequency.spacing_hours == 2
    assert r.requires == []
    # 518: "arms at your sides ... your head turned to one side."
    assert says(r, r"face down") and says(r, r"head to one side")


def test_mckenzie_2_prone_on_elbows(lib):
    r = routine(lib, "mckenzie-2-prone-on-elbows")
    hold = only(r, Hold)
    # 536: "... completely relax the muscles of the waist, holding for 2-3 minutes."
    assert span(hold.seconds) == (120, 180)
    # 538: "Do it every 2 hours like exercise 1"  (524: six to eight a day)
    assert r.frequency.spacing_hours == 2
    assert span(r.frequency.per_day) == (6, 8)
    # 528: "Only after doing exercise one can do exercise two"
    assert [(q.routine, q.first_time_only, q.practised_weeks) for q in r.requires] == [
        ("mckenzie-1-prone-lying", False, 0)
    ]
    # 534: "place your elbows perpendicular to your shoulders, supporting your upper body above your forearms."
    assert says(r, r"elbows under your shoulders")


def test_mckenzie_3_prone_press_up(lib):
    r = routine(lib, "mckenzie-3-prone-press-up")
    reps = only(r, Reps)
    # 554: "Do three exercises 10 times in each group, as well as 6-8 exercises a day."
    assert span(reps.count) == (10, 10)
    assert reps.sets == 1
    assert span(r.frequency.per_day) == (6, 8)
    # 542: "You should do exercise 1 and 2 before you do exercise 3 for the first time."
    assert [(q.routine, q.first_time_only) for q in r.requires] == [
        ("mckenzie-1-prone-lying", True),
        ("mckenzie-2-prone-on-elbows", True),
    ]
    # 550: "straighten your arms and stretch your upper body as much as you can while the pain is tolerable."
    assert reps.limit and "pain" in reps.limit.lower()
    # 552: "at the end of the exercise, stretch your back as far as possible and your arms as straight as possible."
    assert says(r, r"arms as far as you can")


def test_mckenzie_4_standing_extension(lib):
    r = routine(lib, "mckenzie-4-standing-extension")
    reps = only(r, Reps)
    # 558: "If you can't lie down in case of acute back pain, use exercise 4 instead of exercise 3."
    assert r.alternative_to is not None
    assert r.alternative_to.routine == "mckenzie-3-prone-press-up"
    assert "lie down" in r.alternative_to.when.lower()
    # 566: "Practice frequency: anytime!"
    assert r.frequency.per_day is None
    assert r.frequency.note and "any time" in r.frequency.note.lower()
    # No count in the source for exercise 4; 554 gives 10 for exercise 3, which it replaces.
    assert span(reps.count) == (10, 10)
    # 564: "bend your torso back as far as possible, using your hands as a fulcrum."
    assert reps.limit and "pain" in reps.limit.lower()
    assert r.requires == [] and r.then is None


def test_mckenzie_5_lying_flexion(lib):
    r = routine(lib, "mckenzie-5-lying-flexion")
    reps = only(r, Reps)
    # 580: "Repeat each set only 5-6 times, 3-4 sets a day, and do exercise 3 immediately after exercise 5."
    assert span(reps.count) == (5, 6)
    assert reps.sets == 1
    assert span(r.frequency.per_day) == (3, 4)
    assert r.then == "mckenzie-3-prone-press-up"
    assert r.requires == []
    # 578: "... bring your knees as close to your chest as the pain is tolerable."
    assert reps.limit and "pain" in reps.limit.lower()


def test_mckenzie_6_sitting_flexion(lib):
    r = routine(lib, "mckenzie-6-sitting-flexion")
    reps = only(r, Reps)
    # 596: "Only do this 5-6 times a day for 3-4 sets. Do exercise 3 immediately after exercise 6."
    assert span(reps.count) == (5, 6)
    assert reps.sets == 1
    assert span(r.frequency.per_day) == (3, 4)
    assert r.then == "mckenzie-3-prone-press-up"
    # 584: "Whether or not exercise 5 is effective, practice 6 after five weeks of continuous practice."
    assert [(q.routine, q.practised_weeks, q.first_time_only) for q in r.requires] == [
        ("mckenzie-5-lying-flexion", 5, False)
    ]
    # 588: "sit on the edge of the chair ... your hands flat on your knees."
    assert says(r, r"edge") and says(r, r"(hands|palms) on your knees")


def test_mckenzie_7_standing_flexion(lib):
    r = routine(lib, "mckenzie-7-standing-flexion")
    reps = only(r, Reps)
    # 608: "Only do this 5-6 times a day for 1-2 sets. Do exercise 3 immediately after exercise 7."
    assert span(reps.count) == (5, 6)
    assert reps.sets == 1
    assert span(r.frequency.per_day) == (1, 2)
    assert r.then == "mckenzie-3-prone-press-up"
    # 600: "Please continue to practice 6 for two weeks before starting 7."
    assert [(q.routine, q.practised_weeks, q.first_time_only) for q in r.requires] == [
        ("mckenzie-6-sitting-flexion", 2, False)
    ]
    # 606: "bend forward and stretch your hands down as far as you can."
    assert reps.limit and "pain" in reps.limit.lower()


def test_mckenzie_extension_programme(lib):
    # 512: exercise 1 "should be done before any other training."
    # 528: "Only after doing exercise one can do exercise two"; 542: 1 and 2 before 3.
    p = lib.programmes["mckenzie-extension"]
    assert p.routine_ids() == [
        "mckenzie-1-prone-lying",
        "mckenzie-2-prone-on-elbows",
        "mckenzie-3-prone-press-up",
    ]
    assert all(item.rest is None or item.rest <= 60 for item in p.items)
