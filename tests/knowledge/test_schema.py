"""Knowledge-base and red-flag files with mistakes: every problem is ``file:line: field: message``.

Each fixture in ``tests/data/broken_kb/`` starts with ``# expect: LINE FIELD`` (or
``# expect: none`` for the clean half of a duplicate pair), as the routine fixtures do.
The red-flag fixtures in ``broken_kb/redflags/`` are checked with :func:`load_redflags`,
which also runs each flag's own examples.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from companion.content.yamlsource import Problem
from companion.knowledge.base import check_knowledge
from companion.knowledge.redflags import load_redflags
from tests.conftest import DATA

BROKEN = DATA / "broken_kb"
EXPECT = re.compile(r"^# expect: (\d+) (\S+)\s*$")
PROBLEM_FORM = re.compile(r"^(?P<file>.+):(?P<line>\d+): (?P<field>\S+): (?P<message>\S.*)$")


def expectation(path: Path) -> tuple[int, str] | None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    match = EXPECT.match(first)
    if match is None:
        assert first.startswith("# expect: none"), f"{path.name}: cannot read {first!r}"
        return None
    return int(match[1]), match[2]


def groups() -> list[list[Path]]:
    found: dict[str, list[Path]] = {}
    for path in sorted(BROKEN.glob("*.yaml")):
        found.setdefault(re.sub(r"-[ab]$", "", path.stem), []).append(path)
    return list(found.values())


def assert_well_formed(problem: Problem) -> None:
    match = PROBLEM_FORM.match(str(problem))
    assert match and "\n" not in str(problem), f"not 'file:line: field: message': {problem}"
    assert 1 <= problem.line <= max(1, len(Path(problem.file).read_text(encoding="utf-8").splitlines()))
    assert "Traceback" not in problem.message


def test_the_fixture_set_covers_the_kinds_of_mistake() -> None:
    names = {p.stem for p in BROKEN.glob("*.yaml")}
    for required in ("missing-answer", "answer-too-long", "bad-id", "unknown-key", "wrong-type", "unknown-routine",
                     "duplicate-id-a", "duplicate-id-b", "duplicate-question-b", "yaml-syntax", "empty",
                     "not-a-mapping"):
        assert required in names, required


@pytest.mark.parametrize("paths", groups(), ids=lambda paths: "+".join(p.stem for p in paths))
def test_broken_knowledge_file_reports_the_expected_problem(paths: list[Path]) -> None:
    problems = check_knowledge(paths)
    assert problems, f"no problem reported for {[p.name for p in paths]}"
    for problem in problems:
        assert_well_formed(problem)
    for path in paths:
        mine = [p for p in problems if p.file == str(path)]
        exp = expectation(path)
        if exp is None:
            assert not mine, f"{path.name} should be clean, got {[str(p) for p in mine]}"
            continue
        line, field = exp
        assert any(p.line == line and p.field == field for p in mine), \
            f"{path.name}: expected line {line} field {field}; got:\n" + "\n".join(map(str, problems))


def test_duplicate_id_names_the_other_file() -> None:
    a, b = BROKEN / "duplicate-id-a.yaml", BROKEN / "duplicate-id-b.yaml"
    [problem] = check_knowledge([a, b])
    assert problem.file == str(b) and "same-id" in problem.message and str(a) in problem.message


def test_a_whole_broken_folder_reports_every_file() -> None:
    problems = check_knowledge([BROKEN])
    for path in BROKEN.glob("*.yaml"):
        if expectation(path) is not None:
            assert any(p.file == str(path) for p in problems), path.name


@pytest.mark.parametrize("path", sorted((BROKEN / "redflags").glob("*.yaml")), ids=lambda p: p.stem)
def test_broken_red_flag_file_reports_the_expected_problem(path: Path) -> None:
    loaded = load_redflags(path)
    assert loaded.detector is None, "a red-flag file with problems must not give a detector"
    line, field = expectation(path)
    for problem in loaded.problems:
        assert_well_formed(problem)
    assert any(p.line == line and p.field == field for p in loaded.problems), \
        "\n".join(map(str, loaded.problems)) or "no problems"


def test_shipped_red_flags_and_lexicon_are_part_of_check() -> None:
    assert check_knowledge() == []
