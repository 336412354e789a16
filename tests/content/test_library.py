"""The routine loader on broken and good content.

Every file in ``tests/data/broken/`` starts with ``# expect: LINE FIELD``: the
line and field path the loader must report for it. Files whose names differ
only in a final ``-a`` / ``-b`` (the duplicate-id pair) are loaded together; a
member of such a group may say ``# expect: none ...`` when the problem belongs
to its partner.
"""

from __future__ import annotations

import math
import re
import shutil
import traceback
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from companion.content.library import Library, load_library
from companion.content.schema import HoldSeconds, Span
from companion.content.yamlsource import Problem, read_yaml

BROKEN = Path(__file__).resolve().parents[1] / "data" / "broken"
EXPECT = re.compile(r"^# expect: (\d+) (\S+)\s*$")
PROBLEM_FORM = re.compile(r"^(?P<file>.+):(?P<line>\d+): (?P<field>\S+): (?P<message>\S.*)$")

# The problem kinds the fixture set must cover (more may be added freely).
REQUIRED_FIXTURES = [
    "unknown-key", "wrong-type", "negative-duration", "absurd-duration", "range-backwards",
    "unknown-reference", "programme-unknown-routine", "duplicate-id-a", "duplicate-id-b",
    "duplicate-key", "yaml-syntax", "empty", "not-a-mapping", "step-two-kinds",
    "missing-field", "bad-id", "bool-as-number",
]


def expectation(path: Path) -> tuple[int, str] | None:
    """``(line, field)`` from the fixture's first line, or None for ``# expect: none``."""
    lines = path.read_text(encoding="utf-8").splitlines()
    first = lines[0] if lines else ""
    assert first.startswith("# expect:"), f"{path.name}: first line must be '# expect: LINE FIELD'"
    match = EXPECT.match(first)
    if match is None:
        assert first.startswith("# expect: none"), f"{path.name}: cannot read {first!r}"
        return None
    return int(match[1]), match[2]


def fixture_groups() -> list[list[Path]]:
    groups: dict[str, list[Path]] = {}
    for path in sorted(BROKEN.glob("*.yaml")):
        groups.setdefault(re.sub(r"-[ab]$", "", path.stem), []).append(path)
    return list(groups.values())


GROUPS = fixture_groups()


def load(paths: list[Path]) -> Library:
    """load_library, turning any escaping exception into a readable test failure."""
    try:
        return load_library(paths)
    except Exception:  # noqa: BLE001 - the point is that nothing escapes
        pytest.fail(f"load_library raised instead of reporting a problem:\n{traceback.format_exc()}")


def listing(problems: list[Problem]) -> str:
    return "\n".join(f"  {p}" for p in problems) or "  (no problems)"


def assert_well_formed(problem: Problem, files: list[Path]) -> None:
    text = str(problem)
    assert "\n" not in text, f"problem spans several lines: {text!r}"
    match = PROBLEM_FORM.match(text)
    assert match, f"not '<file>:<line>: <field>: <message>': {text!r}"
    assert match["file"] == problem.file and int(match["line"]) == problem.line
    assert match["field"] == problem.field and match["message"] == problem.message
    assert problem.file in {str(f) for f in files}, f"problem names an unknown file: {text}"
    length = max(1, len(Path(problem.file).read_text(encoding="utf-8").splitlines()))
    assert 1 <= problem.line <= length, f"line {problem.line} is outside the file: {text}"
    for leak in ("Traceback", "<unicode string>", "^["):
        assert leak not in problem.message, f"internal detail leaks into the message: {text}"


def test_fixture_set_is_complete() -> None:
    names = {path.stem for path in BROKEN.glob("*.yaml")}
    assert not set(REQUIRED_FIXTURES) - names
    for path in BROKEN.glob("*.yaml"):
        expectation(path)  # every fixture declares what it expects


@pytest.mark.parametrize("paths", GROUPS, ids=lambda paths: "+".join(p.stem for p in paths))
def test_broken_fixture_reports_expected_problem(paths: list[Path]) -> None:
    lib = load(paths)
    assert lib.problems, f"no problem reported for {[p.name for p in paths]}"
    for problem in lib.problems:
        assert_well_formed(problem, paths)
    expected = [(path, expectation(path)) for path in paths]
    assert any(exp for _, exp in expected), "a fixture group must expect at least one problem"
    for path, exp in expected:
        mine = [p for p in lib.problems if p.file == str(path)]
        if exp is None:
            assert not mine, f"{path.name} should be clean; got:\n{listing(mine)}"
            continue
        line, field = exp
        assert any(p.line == line and p.field == field for p in mine), (
            f"{path.name}: expected a problem at line {line}, field {field}; got:\n{listing(lib.problems)}"
        )


def test_duplicate_id_names_the_other_file() -> None:
    """The second file has both the first one's id and so an id that is not its own name: two problems."""
    first, second = BROKEN / "duplicate-id-a.yaml", BROKEN / "duplicate-id-b.yaml"
    lib = load([first, second])
    assert {(p.file, p.line, p.field) for p in lib.problems} == {(str(second), 2, "id")}
    duplicate, name = sorted(lib.problems, key=lambda p: not p.message.startswith("duplicate id"))
    assert "duplicate-id-a" in duplicate.message and str(first) in duplicate.message
    assert "must match the file name 'duplicate-id-b.yaml'" in name.message
    assert lib.files["duplicate-id-a"] == str(first)  # the first one read is kept


def test_all_problems_in_a_folder_are_reported_together() -> None:
    lib = load([BROKEN])
    every = sorted(BROKEN.glob("*.yaml"))
    for problem in lib.problems:
        assert_well_formed(problem, every)
    reported = {p.file for p in lib.problems}
    for path in every:
        exp = expectation(path)
        if exp is None:
            continue
        assert str(path) in reported, f"{path.name} was not reported when loading the whole folder"
        line, field = exp
        assert any(p.file == str(path) and p.line == line and p.field == field for p in lib.problems), path.name
    assert lib.problems == sorted(lib.problems, key=lambda p: (p.file, p.line))


# -- read_yaml -----------------------------------------------------------------


def test_read_yaml_reports_duplicate_key_with_first_line(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("id: a\ntitle: One\npurpose: p\ntitle: Two\n", encoding="utf-8")
    doc = read_yaml(path)
    assert [(p.line, p.field) for p in doc.problems] == [(4, "title")]
    assert "duplicate key" in doc.problems[0].message
    assert "first given on line 2" in doc.problems[0].message
    assert doc.data["title"] == "One"


def test_read_yaml_reports_nested_duplicate_key(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("steps:\n  - hold:\n      seconds: 5\n      cue: c\n      seconds: 6\n", encoding="utf-8")
    doc = read_yaml(path)
    assert [(p.line, p.field) for p in doc.problems] == [(5, "steps[0].hold.seconds")]
    assert "first given on line 3" in doc.problems[0].message


def test_read_yaml_records_lines(tmp_path: Path) -> None:
    path = tmp_path / "lines.yaml"
    path.write_text("# comment\nid: a\nsteps:\n  - say: hi\n  - hold:\n      seconds: 5\n", encoding="utf-8")
    doc = read_yaml(path)
    assert not doc.problems
    assert doc.line_of(("id",)) == 2
    assert doc.line_of(("steps", 1, "hold", "seconds")) == 6
    assert doc.line_of(("steps", 1, "hold", "nonexistent")) == 5  # deepest part that exists


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe\x00not utf-8",
        b"a: !!python/object:os.system ls\n",
        b"a: !!int three\n",
        b"a: &x [*x]\n",
        b"a: " + b"[" * 3000 + b"]" * 3000 + b"\n",
        b'title: "never closed\n',
    ],
    ids=["not-utf8", "python-tag", "bad-int-tag", "alias-loop", "deep-nesting", "open-quote"],
)
def test_read_yaml_never_raises(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "odd.yaml"
    path.write_bytes(content)
    doc = read_yaml(path)
    assert doc.problems
    for problem in doc.problems:
        assert PROBLEM_FORM.match(str(problem)), str(problem)


# -- Span ----------------------------------------------------------------------

HOLD = TypeAdapter(HoldSeconds)


@pytest.mark.parametrize(
    "value, low, high",
    [(5, 5, 5), (2.5, 2.5, 2.5), ([5, 6], 5, 6), ([5, 5], 5, 5), ([1.5, 2], 1.5, 2)],
)
def test_span_accepts_numbers_and_pairs(value: object, low: float, high: float) -> None:
    assert HOLD.validate_python(value) == Span(low=low, high=high)


@pytest.mark.parametrize(
    "value, words",
    [
        ([6, 5], "runs backwards"),
        (True, "true/false"),
        (False, "true/false"),
        ([5], "two numbers"),
        ([5, 6, 7], "two numbers"),
        ([True, 6], "two numbers"),
        ("5", "number"),
        (0, "between 1 and"),
        (18000, "between 1 and"),
        (math.nan, "between 1 and"),
        ([math.nan, 5], "between 1 and"),
    ],
)
def test_span_rejects(value: object, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        HOLD.validate_python(value)
    assert words in str(info.value)


def test_span_describe() -> None:
    assert Span(low=5, high=5).describe("seconds") == "5 seconds"
    assert Span(low=2, high=3).describe("minutes") == "2 to 3 minutes"
    assert Span(low=1.5, high=2).describe() == "1.5 to 2"


@pytest.mark.parametrize(
    "written, expected",
    [("5", Span(low=5, high=5)), ("[5, 6]", Span(low=5, high=6)), ("[6, 5]", None), ("true", None), ("yes", None)],
)
def test_span_from_yaml(tmp_path: Path, written: str, expected: Span | None) -> None:
    write_good(tmp_path)
    (tmp_path / "chin-tuck.yaml").write_text(GOOD_ROUTINE.replace("seconds: [5, 10]", f"seconds: {written}"))
    lib = load([tmp_path])
    if expected is None:
        own = [(p.line, p.field) for p in lib.problems if p.file.endswith("chin-tuck.yaml")]
        assert own == [(LINE_OF_SECONDS, "steps[1].hold.seconds")]
    else:
        assert not lib.problems, listing(lib.problems)
        assert lib.routines["chin-tuck"].steps[1].hold.seconds == expected


# -- good content --------------------------------------------------------------

GOOD_ROUTINE = """\
# A routine using most of the format.
id: chin-tuck
title: Chin tuck
aliases: [chin tucks, neck retraction]
purpose: Strengthens the muscles at the front of the neck.
position: sitting upright
frequency:
  per_day: [2, 3]
  note: Two or three times a day.
warnings:
  - Stop if you feel dizzy.
not_for: [acute]
requires:
  - routine: wall-standing
    why: Learn the upright posture first.
    first_time_only: true
then: wall-standing
steps:
  - say: Sit tall and look straight ahead.
    kind: position
    pause: 2
  - hold:
      seconds: [5, 10]
      cue: Gently draw your chin straight back.
      count: down
  - rest: 10
  - reps:
      count: 10
      sets: 2
      sides: [left, right]
      move: Turn your head.
      hold_seconds: 2
      count_hold: false
sources:
  - lines: "12-14"
    quote: Tuck your chin in and hold.
    supports: [steps]
"""
LINE_OF_SECONDS = 23

OTHER_ROUTINE = """\
id: wall-standing
title: Wall standing
purpose: Teaches an upright posture.
alternative_to:
  routine: chin-tuck
  when: when sitting is uncomfortable
steps:
  - say: Stand with your back to a wall.
sources:
  - lines: "386"
    quote: place your entire body against the wall
"""

PROGRAMME = """\
id: morning-neck
kind: programme
title: Morning neck routine
purpose: A short set of neck exercises for the morning.
items:
  - routine: wall-standing
  - rest: 30
  - routine: chin-tuck
"""


def write_good(folder: Path) -> None:
    (folder / "chin-tuck.yaml").write_text(GOOD_ROUTINE, encoding="utf-8")
    (folder / "wall-standing.yaml").write_text(OTHER_ROUTINE, encoding="utf-8")
    (folder / "morning-neck.yml").write_text(PROGRAMME, encoding="utf-8")


def test_good_routines_load_with_no_problems(tmp_path: Path) -> None:
    write_good(tmp_path)
    lib = load([tmp_path])
    assert not lib.problems, listing(lib.problems)
    assert lib.ids() == ["chin-tuck", "morning-neck", "wall-standing"]
    tuck = lib.routines["chin-tuck"]
    assert tuck.steps[1].hold.seconds == Span(low=5, high=10)
    assert tuck.frequency.per_day == Span(low=2, high=3)
    assert tuck.steps[3].reps.sets == 2 and tuck.steps[3].reps.count_hold is False
    assert lib.programmes["morning-neck"].routine_ids() == ["wall-standing", "chin-tuck"]


def test_good_files_still_load_beside_broken_ones(tmp_path: Path) -> None:
    write_good(tmp_path)
    for name in ("bool-as-number.yaml", "yaml-syntax.yaml", "empty.yaml"):
        shutil.copy(BROKEN / name, tmp_path / name)
    lib = load([tmp_path])
    assert lib.ids() == ["chin-tuck", "morning-neck", "wall-standing"]
    assert {Path(p.file).name for p in lib.problems} == {"bool-as-number.yaml", "yaml-syntax.yaml", "empty.yaml"}


def test_reference_to_a_broken_routine_says_so(tmp_path: Path) -> None:
    write_good(tmp_path)
    (tmp_path / "wall-standing.yaml").write_text(OTHER_ROUTINE.replace("title: Wall standing\n", ""))
    lib = load([tmp_path])
    by_field = {p.field: p for p in lib.problems}
    assert by_field["title"].file.endswith("wall-standing.yaml")
    for field in ("requires[0].routine", "then", "items[0].routine"):
        assert "could not be loaded" in by_field[field].message, by_field[field]
        assert "wall-standing.yaml" in by_field[field].message


def test_missing_path_is_a_problem(tmp_path: Path) -> None:
    lib = load([tmp_path / "nowhere"])
    assert [(p.line, p.field) for p in lib.problems] == [(1, "(file)")]
