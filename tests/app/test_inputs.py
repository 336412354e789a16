"""Script files: 'SECONDS TEXT' lines, with clear file:line errors."""

from __future__ import annotations

import pytest

from companion.language.heard import Heard

from companion.app.inputs import ScriptError, parse_script


def write(tmp_path, text):
    path = tmp_path / "s.txt"
    path.write_text(text)
    return path


def test_parses_times_text_comments_and_blank_lines(tmp_path):
    path = write(tmp_path, "# a comment\n\n5 pause\n12.5  how many are left  # trailing comment\n")
    assert parse_script(path) == [Heard(5.0, "pause", "script"), Heard(12.5, "how many are left", "script")]


@pytest.mark.parametrize("text, line, words", [
    ("pause\n", 1, "not a number"),
    ("5 pause\nsoon resume\n", 2, "not a number"),
    ("5\n", 1, "nothing to say"),
    ("-3 stop\n", 1, "between 0"),
    ("10 pause\n5 resume\n", 2, "earlier than the line before"),
])
def test_bad_lines_name_the_file_and_line(tmp_path, text, line, words):
    path = write(tmp_path, text)
    with pytest.raises(ScriptError) as err:
        parse_script(path)
    assert str(err.value).startswith(f"{path}:{line}: ")
    assert words in str(err.value)


def test_missing_script_is_a_clear_error(tmp_path):
    with pytest.raises(ScriptError, match="cannot read"):
        parse_script(tmp_path / "nope.txt")
