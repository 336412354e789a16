"""The report page's templates: escaping, words from report.yaml only, and a page without a chart."""

from __future__ import annotations

import re
import shutil
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from companion.care.profiles import Profile
from companion.care.report.collect import ReportData, collect
from companion.care.report.html import render, render_html
from companion.care.report.wording import load_wording
from companion.care.store import open_store
from companion.content.library import Library, load_library
from companion.content.locale import data_file
from tests.care.test_report import NOW, WALL, Builder, at, build_week
from tests.conftest import ROOT

SCRIPT = "<script>alert(1)</script>"
TEMPLATES = ROOT / "companion" / "care" / "report" / "templates"


def test_names_titles_and_heard_text_are_escaped(tmp_path):
    """A name, a routine title, a reason heard or typed and an unknown flag id never become markup."""
    routines = tmp_path / "routines"
    shutil.copytree(ROOT / "routines", routines, ignore=shutil.ignore_patterns("*.py"))
    wall = routines / f"{WALL}.yaml"
    wall.write_text(wall.read_text().replace("title: Wall standing\n", f"title: 'Wall {SCRIPT} & \"co\"'\n"))
    library = load_library([routines])
    assert not library.problems, [str(p) for p in library.problems]
    name = f"Ann {SCRIPT}"
    with open_store(tmp_path / "h.db") as store:
        store.add_profile(Profile(name, conditions=("acute",)))
        b = Builder(store, name)
        b.session(at(11, 9), WALL, [("done", WALL, (2, "back", 2, "back"))], screen="")
        b.session(at(11, 10), WALL, [("started", WALL)], reason=f"<img src=x onerror=alert(1)> {SCRIPT}")
        sid = store.start_session(name, WALL, at(12, 9), virtual=True)
        store.add_event(sid, {"t": 1.0, "who": "user", "kind": "exercise_started", "text": "", "routine_id": WALL})
        store.add_event(sid, {"t": 2.0, "who": "user", "kind": "red_flag", "text": SCRIPT, "flag_id": SCRIPT})
        store.finish_session(sid, "red-flag", at(12, 9) + timedelta(seconds=3))
        data = collect(store, name, NOW, library)
    page, note = render(data)
    assert note == ""
    assert "<script" not in page.lower() and "<img src=x" not in page
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert f"<h1>Exercise report for Ann {escaped}</h1>" in page
    assert f"<title>Exercise report: Ann {escaped}," in page
    assert f'<th class="routine">Wall {escaped} &amp; &#34;co&#34;<span>' in page  # the adherence column
    assert f"<td>Wall {escaped} &amp; &#34;co&#34;</td>" in page  # an incident's exercise
    assert f"Ended: &lt;img src=x onerror=alert(1)&gt; {escaped}." in page  # a reason from the records
    assert f"sounds like {escaped}." in page  # an unknown red-flag id, shown as it is
    assert f"Made by companion for Ann {escaped} on" in page


def test_templates_hold_no_words():
    """Every word on the page comes from report.yaml, so a translation needs no template change."""
    templates = sorted(TEMPLATES.glob("*.html"))
    assert {t.name for t in templates} >= {"report.html", "incidents.html", "adherence.html", "pain.html",
                                           "mckenzie.html"}
    for template in templates:
        text = template.read_text(encoding="utf-8")
        text = re.sub(r"\{#.*?#\}|\{\{.*?\}\}|\{%.*?%\}|<[^>]*>", "", text, flags=re.DOTALL)
        assert not re.search(r"[^\W\d_]", text), f"{template.name}: words outside the markup: {text.split()}"


def test_every_word_of_the_page_comes_from_the_data_file(tmp_path, monkeypatch, library):
    """A changed report.yaml changes the page: the language, headings, stop labels, column titles."""
    english = data_file("report.yaml").read_text(encoding="utf-8")
    folder = tmp_path / "xx"  # a translation being tried: a copy of the English folder
    shutil.copytree(data_file("report.yaml").parent, folder)
    changed = (english.replace('"Red flags and stopped exercises"', '"ROTE FLAGGEN"')
               .replace('label: "PAIN STOP"', 'label: "SCHMERZ"')
               .replace('pain_furthest: "Furthest place felt"', 'pain_furthest: "AM WEITESTEN"')
               .replace("language: en", "language: xx"))
    (folder / "report.yaml").write_text(changed, encoding="utf-8")
    monkeypatch.setenv("COMPANION_LANG", str(folder))
    page = render_html(week(tmp_path, library), None, "")
    assert '<html lang="xx">' in page
    assert "<h2>ROTE FLAGGEN</h2>" in page and "SCHMERZ" in page and "<th>AM WEITESTEN</th>" in page
    assert "Red flags and stopped exercises" not in page and "PAIN STOP" not in page


def test_a_missing_or_unknown_key_fails_clearly(tmp_path):
    text = data_file("report.yaml").read_text(encoding="utf-8")
    broken = tmp_path / "report.yaml"
    broken.write_text(text.replace("  footer: >-", "  footre: >-").replace("  thigh: \"thigh\"\n", ""),
                      encoding="utf-8")
    with pytest.raises(ValueError) as problem:
        load_wording(broken)
    message = str(problem.value)
    assert str(broken) in message
    assert "missing places.thigh" in message and "page.footer" in message and "unknown page.footre" in message


def test_a_page_without_matplotlib_says_why_there_is_no_chart(db_week, monkeypatch):
    monkeypatch.setitem(sys.modules, "companion.care.report.chart", None)  # import fails
    page, note = render(db_week)
    assert "needs matplotlib" in note
    assert "data:image" not in page and f"<p>{note}</p>" in page
    assert "<th>Furthest place felt</th>" in page  # the table of scores is still there


def week(tmp_path: Path, library: Library) -> ReportData:
    """The week of tests/care/test_report.py, collected."""
    with open_store(tmp_path / "week.db") as store:
        build_week(store)
        return collect(store, "Mum", NOW, library)


@pytest.fixture
def db_week(tmp_path, library) -> ReportData:
    return week(tmp_path, library)


def test_the_page_is_one_file(db_week):
    page, _ = render(db_week)
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    assert page.count("<style>") == 1 and "@page { size: A4;" in page
    assert not re.search(r"<link|https?://|url\(|@import", page)
    assert Path(TEMPLATES / "report.css").read_text(encoding="utf-8") in page
