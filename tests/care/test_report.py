"""The caregiver's report: HTML page (chart, adherence, red flags and stops, McKenzie), CSV, errors."""

from __future__ import annotations

import base64
import csv
import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from companion.care.profiles import Profile
from companion.care.report.chart import pain_chart_png
from companion.care.report.collect import collect
from companion.care.report.html import render
from companion.cli import build_parser
from companion.care.store import open_store

NOW = datetime(2024, 5, 12, 18, 0, tzinfo=UTC)  # a Sunday; the week is Mon 6 - Sun 12 May
WALL, MCK1 = "wall-standing", "mckenzie-1-prone-lying"
FLAGS = ("bladder-bowel", "saddle-numbness", "leg-weakness", "fall", "fever", "weight-loss")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, 5, day, hour, minute, tzinfo=UTC)


class Builder:
    """Writes sessions the way the runner does: start, one record per event, finish."""

    def __init__(self, store, user: str = "Mum"):
        self.store, self.user = store, user

    def session(self, start: datetime, entry: str, items: list[tuple], reason: str | None = "completed",
                screen: str | None = None) -> int:
        sid = self.store.start_session(self.user, entry, start, virtual=True)
        t = 0.0

        def add(record: dict) -> None:
            nonlocal t
            t += 5.0
            self.store.add_event(sid, {"t": t, "who": "companion", **record})

        if screen is not None:  # the day's safety questions: all "no", or "yes" to one flag
            for flag in FLAGS:
                answer = "yes" if flag == screen else "no"
                add({"kind": "answered", "text": "", "tag": "screen", "answer": answer, "flag_id": flag})
                if answer == "yes":
                    add({"kind": "red_flag", "text": "", "flag_id": flag})
                    break
        for item in items:
            kind, routine = item[0], item[1]
            if kind == "done":  # a whole exercise, optionally with pain before/after
                pain = item[2] if len(item) > 2 else None
                add({"kind": "exercise_started", "text": routine, "routine_id": routine})
                if pain:
                    add({"kind": "pain", "text": "", "routine_id": routine, "when": "before",
                         "score": pain[0], "place": pain[1]})
                t += 300
                add({"kind": "exercise_done", "text": "", "routine_id": routine})
                if pain:
                    add({"kind": "pain", "text": "", "routine_id": routine, "when": "after",
                         "score": pain[2], "place": pain[3]})
            elif kind == "started":  # begun, then the session ends (stop)
                add({"kind": "exercise_started", "text": routine, "routine_id": routine})
                t += 60
        if reason is not None:
            add({"kind": "finished", "text": reason, "reason": reason})
            self.store.finish_session(sid, reason, start + timedelta(seconds=t))
        return sid


def build_week(store) -> None:
    store.add_profile(Profile("Mum", caregiver=True))
    b = Builder(store)
    b.session(at(3, 9), MCK1, [("done", MCK1)], screen="")  # before the week: McKenzie 1 first done on 3 May
    # Mon 6: wall standing 3 of 3, McKenzie 1 six times (target 6-8 met)
    b.session(at(6, 8), WALL, [("done", WALL, (4, "back", 3, "back"))], screen="")
    b.session(at(6, 12), WALL, [("done", WALL, (3, "back", 2, "back"))])
    b.session(at(6, 17), WALL, [("done", WALL, (3, "back", 2, "none"))])
    for hour in (8, 10, 12, 14, 16, 18):
        b.session(at(6, hour, 30), MCK1, [("done", MCK1)])
    # Tue 7: wall standing 2 of 3; McKenzie 1 twice
    b.session(at(7, 9), WALL, [("done", WALL, (5, "buttock", 4, "back"))], screen="")
    b.session(at(7, 15), WALL, [("done", WALL, (4, "back", 4, "back"))])
    b.session(at(7, 10), MCK1, [("done", MCK1)])
    b.session(at(7, 12), MCK1, [("done", MCK1)])
    # Wed 8: a red flag in the safety questions (a fall), nothing done
    b.session(at(8, 9, 15), WALL, [], reason="red-flag", screen="fall")
    # Thu 9: one wall standing, then one stopped by the user
    b.session(at(9, 9), WALL, [("done", WALL, (3, "back", 3, "back"))], screen="")
    b.session(at(9, 14, 20), WALL, [("started", WALL)], reason="stopped")
    # Fri 10: McKenzie 1 stopped by the pain rule (pain rose and spread to the thigh)
    b.session(at(10, 10, 5), MCK1, [("done", MCK1, (3, "back", 6, "thigh"))], reason="pain", screen="")
    # Sat 11: wall standing 3 of 3
    for hour in (9, 13, 17):
        b.session(at(11, hour), WALL, [("done", WALL, (2, "back", 1, "back"))], screen="" if hour == 9 else None)
    # Sun 12 (today, so far): one wall standing
    b.session(at(12, 10), WALL, [("done", WALL, (2, "back", 2, "back"))], screen="")


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "history.db"
    with open_store(path) as store:
        build_week(store)
    return path


def run_cli(*argv: str) -> int:
    args = build_parser().parse_args(["report", *argv])
    return args.func(args)


def adherence_cells(page: str) -> dict[str, list[str]]:
    """Day label -> the text of each cell after the day (sessions, safety, then the routine columns)."""
    table = page[page.index('<table class="adherence">'):]
    table = table[:table.index("</table>")]
    rows = {}
    for row in re.findall(r'<tr><td class="day">(.*?)</tr>', table, re.DOTALL):
        label, rest = row.split("</td>", 1)
        cells = [html.unescape(re.sub(r"<[^>]+>", " ", c)).split() for c in re.findall(r"<td[^>]*>(.*?)</td>", rest)]
        rows[" ".join(html.unescape(re.sub(r"<[^>]+>", " ", label)).split())] = [" ".join(c) for c in cells]
    return rows


def headers(page: str) -> list[str]:
    table = page[page.index('<table class="adherence">'):]
    head = table[:table.index("</thead>")]
    return [html.unescape(re.sub(r"<span>.*?</span>", "", h)) for h in re.findall(r"<th(?: [^>]*)?>(.*?)</th>", head)]


# -- the page ---------------------------------------------------------------------------


def test_report_page_from_a_week_of_history(db, tmp_path, library):
    out, table = tmp_path / "report.html", tmp_path / "events.csv"
    assert run_cli("--user", "Mum", "--html", str(out), "--csv", str(table), "--db", str(db),
                   "--at", NOW.isoformat()) == 0
    page = out.read_text(encoding="utf-8")
    assert out.stat().st_mode & 0o077 == 0  # health data: readable by the owner only

    # title and period
    assert "Exercise report for Mum" in page
    assert "Mon 6 May 2024 to Sun 12 May 2024" in page
    assert "not a doctor" in page

    # self-contained: the chart is embedded, nothing is fetched from anywhere
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == 1
    assert base64.b64decode(images[0]).startswith(b"\x89PNG\r\n\x1a\n")
    assert not re.search(r"https?://", page)
    assert "<script" not in page.lower() and "url(" not in page.lower() and "@import" not in page.lower()
    assert not re.search(r'(src|href)="(?!data:)', page)

    # adherence: rows are days, columns are the routines with their daily targets
    cols = headers(page)
    assert cols[:3] == ["Day", "Sessions", "Safety questions"]
    wall = cols.index(library.routines[WALL].title) - 1  # cells exclude the day column
    mck1 = cols.index(library.routines[MCK1].title) - 1
    rows = adherence_cells(page)
    assert next(iter(rows)) == "Mon 6 May" and list(rows)[-1] == "Sun 12 May today, so far"
    assert rows["Mon 6 May"][wall] == "3/3 \u2713"
    assert rows["Mon 6 May"][mck1] == "6/6\u20138 \u2713"
    assert rows["Tue 7 May"][wall] == "2/3 \u25d0"
    assert rows["Tue 7 May"][mck1] == "2/6\u20138 \u25d0"
    assert rows["Wed 8 May"][wall] == "0/3 \u2717"
    assert rows["Wed 8 May"][1] == "RED FLAG"
    assert rows["Thu 9 May"][wall] == "1/3 \u25d0 +1 stopped"
    assert rows["Fri 10 May"][mck1] == "1/6\u20138 \u25d0"
    assert rows["Sat 11 May"][wall] == "3/3 \u2713"
    assert rows["Sun 12 May today, so far"][wall] == "1/3 \u2026"  # the day is not over: not "missed"
    assert rows["Mon 6 May"][0] == "9" and rows["Mon 6 May"][1] == "passed"

    # red flags and stopped exercises, highlighted, with when and why
    incidents = page[page.index('<table class="incidents">'):]
    incidents = html.unescape(incidents[:incidents.index("</table>")])
    red = re.search(r'<tr class="red-flag">(.*?)</tr>', incidents, re.DOTALL).group(1)
    assert "Wed 8 May 09:" in red and "RED FLAG" in red and "safety question about back pain after a fall" in red
    pain = re.search(r'<tr class="pain">(.*?)</tr>', incidents, re.DOTALL).group(1)
    assert "Fri 10 May 10:" in pain and "PAIN STOP" in pain and library.routines[MCK1].title in pain
    assert "spread further down the leg" in pain and "thigh" in pain
    stopped = re.search(r'<tr class="stopped">(.*?)</tr>', incidents, re.DOTALL).group(1)
    assert "Thu 9 May 14:2" in stopped and library.routines[WALL].title in stopped and "said \"stop\"" in stopped

    # McKenzie stage and what is next (the progression's own wording)
    with open_store(db) as store:
        data = collect(store, "Mum", NOW, library)
    assert data.mckenzie["next"].startswith(library.routines["mckenzie-2-prone-on-elbows"].title)
    assert html.escape(data.mckenzie["next"]) in page
    assert "Practising up to McKenzie 1" in page
    for row in data.mckenzie["rows"]:
        assert html.escape(row["reason"]) in page
    assert "Due on Sun 12 May" in page


def test_csv_has_one_row_per_event_of_interest(db, tmp_path):
    out, table = tmp_path / "r.html", tmp_path / "r.csv"
    assert run_cli("--user", "mum", "--html", str(out), "--csv", str(table), "--db", str(db),
                   "--at", NOW.isoformat()) == 0  # names compare case-insensitively
    with table.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["date", "time", "session", "routine", "kind", "value", "detail"]
    assert all("2024-05-06" <= r["date"] <= "2024-05-12" for r in rows)  # 3 May is outside the week
    kinds = {r["kind"] for r in rows}
    assert {"screening", "red-flag", "pain-before", "pain-after", "completed", "stopped", "session-end"} <= kinds
    first_pain = next(r for r in rows if r["kind"] == "pain-before")
    assert first_pain == {"date": "2024-05-06", "time": "08:00:40", "session": first_pain["session"],
                          "routine": "Wall standing", "kind": "pain-before", "value": "4", "detail": "back only"}
    flag = [r for r in rows if r["kind"] == "red-flag"]
    assert len(flag) == 1 and flag[0]["value"] == "fall" and flag[0]["date"] == "2024-05-08"
    assert [r["value"] for r in rows if r["kind"] == "screening" and r["date"] == "2024-05-08"] == \
        ["no", "no", "no", "yes"]
    stops = {r["value"]: r for r in rows if r["kind"] == "stopped"}
    assert set(stops) == {"red-flag", "stopped", "pain"}
    assert stops["pain"]["routine"] == "McKenzie 1: lying face down" and "thigh" in stops["pain"]["detail"]
    assert stops["stopped"]["routine"] == "Wall standing" and stops["stopped"]["time"].startswith("14:2")
    done = [r for r in rows if r["kind"] == "completed"]
    assert len(done) == 3 + 6 + 2 + 2 + 1 + 1 + 3 + 1
    times = [(r["date"], r["time"]) for r in rows]
    assert times == sorted(times)


def test_a_killed_session_and_a_session_still_running(tmp_path, library):
    with open_store(tmp_path / "h.db") as store:
        store.add_profile(Profile("Ann"))
        b = Builder(store, "Ann")
        b.session(at(10, 9), WALL, [("started", WALL)], reason=None)  # killed: never closed
        b.session(at(12, 17, 50), WALL, [("started", WALL)], reason=None)  # running now
        data = collect(store, "Ann", NOW, library)
    assert [(i.kind, i.label) for i in data.incidents] == [("unfinished", "DID NOT FINISH")]
    assert data.incidents[0].what == "Wall standing"


def test_no_sessions_in_the_period_still_writes_a_page(tmp_path, capsys):
    db = tmp_path / "h.db"
    with open_store(db) as store:
        store.add_profile(Profile("Bob", conditions=("acute",)))
    out = tmp_path / "bob.html"
    assert run_cli("--user", "Bob", "--html", str(out), "--db", str(db), "--at", "2024-05-12T18:00:00") == 0
    page = out.read_text(encoding="utf-8")
    assert "No sessions in this period" in page
    assert "No pain scores were recorded" in page
    assert "data:image" not in page  # nothing to chart
    assert "acute" in page and "not a doctor" in page
    assert "no sessions" in capsys.readouterr().out


def test_days_option_narrows_the_period(db, tmp_path, library):
    with open_store(db) as store:
        data = collect(store, "Mum", NOW, library, days=2)
    assert [d.day for d in data.days] == [11, 12]
    assert len(data.sessions) == 4
    assert data.incidents == []


def test_chart_is_drawn_only_with_scores(db, library):
    with open_store(db) as store:
        data = collect(store, "Mum", NOW, library)
    png = pain_chart_png(data)
    assert png and png.startswith(b"\x89PNG")
    assert b"matplotlib.org" not in png  # no software URL in the PNG metadata
    points = [(p.at.day, p.before, p.after, p.stopped) for p in data.pain]
    assert (10, 3, 6, True) in points and (6, 4, 3, False) in points
    page, note = render(data)
    assert note == "" and page.count("data:image/png;base64,") == 1


# -- errors: one clear line, never a traceback ----------------------------------------------


def test_unknown_user_lists_the_known_profiles(db, tmp_path, capsys):
    assert run_cli("--user", "Mun", "--html", str(tmp_path / "x.html"), "--db", str(db)) == 1
    err = capsys.readouterr().err
    assert "no profile or history for 'Mun'" in err and "Known profiles: Mum" in err and "Did you mean 'Mum'" in err
    assert not (tmp_path / "x.html").exists()


def test_unwritable_output_paths(db, tmp_path, capsys):
    missing = tmp_path / "no-such-folder" / "r.html"
    assert run_cli("--user", "Mum", "--html", str(tmp_path), "--db", str(db)) == 1
    assert "that is a folder" in capsys.readouterr().err
    assert run_cli("--user", "Mum", "--html", str(tmp_path / "ok.html"), "--csv", str(missing), "--db", str(db)) == 1
    err = capsys.readouterr().err
    assert "cannot write the CSV file" in err and "does not exist" in err
    assert not (tmp_path / "ok.html").exists()  # checked before anything is written


def test_missing_folder_message(db, tmp_path, capsys):
    missing = tmp_path / "no-such-folder" / "r.html"
    assert run_cli("--user", "Mum", "--html", str(missing), "--db", str(db)) == 1
    err = capsys.readouterr().err
    assert err.startswith("cannot write the report to") and "does not exist" in err and "Traceback" not in err


def test_usage_problems(db, tmp_path, capsys):
    out = str(tmp_path / "r.html")
    assert run_cli("--user", "Mum", "--html", out, "--db", str(db), "--at", "last tuesday") == 2
    assert "--at needs a date and time" in capsys.readouterr().err
    assert run_cli("--user", "Mum", "--html", out, "--db", str(db), "--days", "0") == 2
    assert "--days must be between" in capsys.readouterr().err
    assert run_cli("--user", "Mum", "--html", out, "--db", str(tmp_path / "nope.db")) == 1
    assert "There is no database at" in capsys.readouterr().err
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"this is not a database" * 100)
    assert run_cli("--user", "Mum", "--html", out, "--db", str(bad)) == 1
    assert "cannot read the database" in capsys.readouterr().err


# -- records from a real session ---------------------------------------------------------------


def test_report_reads_the_records_a_real_session_writes(tmp_path, library):
    """A virtual-clock care session (screening, pain rising by 3) stored and reported."""
    from tests.care.test_session_care import answer_all, care_session

    runner, out = care_session(library, WALL)
    answer_all(runner, {"screen": "no", "pain-score:before": "2", "pain-place:before": "back",
                        "pain-score:after": "5", "pain-place:after": "back"})
    assert out.records[-1]["kind"] == "finished" and out.records[-1]["text"] == "pain"
    with open_store(tmp_path / "real.db") as store:
        store.add_profile(Profile("ann"))
        start = at(12, 9)
        sid = store.start_session("ann", WALL, start, virtual=True)
        for record in out.records:
            store.add_event(sid, record)
        store.finish_session(sid, "pain", start + timedelta(seconds=out.records[-1]["t"]))
        data = collect(store, "ann", NOW, library)
    assert [(p.before, p.after, p.stopped) for p in data.pain] == [(2, 5, True)]
    [incident] = data.incidents
    assert incident.kind == "pain" and incident.what == "Wall standing" and "rose by 3" in incident.reason
    kinds = [r["kind"] for r in data.events]
    assert kinds.count("screening") == 6 and "pain-before" in kinds and "pain-after" in kinds
    assert data.rows[-1].screening == "passed"


def test_a_pain_stop_that_went_on_with_the_gentlest_exercise_is_reported(tmp_path):
    from datetime import datetime, timedelta

    from companion.care.profiles import Profile
    from companion.care.store import open_store
    from companion.cli import main

    db = tmp_path / "r.db"
    start = datetime.now().astimezone() - timedelta(hours=3)
    with open_store(db) as store:
        store.add_profile(Profile("ann"))
        sid = store.start_session("ann", "mckenzie-3-prone-press-up", start, virtual=True)
        for record in (
            {"t": 0, "who": "companion", "kind": "exercise_started", "text": "x", "routine_id": "mckenzie-3-prone-press-up"},
            {"t": 5, "who": "companion", "kind": "pain", "text": "", "routine_id": "mckenzie-3-prone-press-up",
             "when": "before", "score": 2, "place": "back"},
            {"t": 90, "who": "companion", "kind": "pain", "text": "", "routine_id": "mckenzie-3-prone-press-up",
             "when": "after", "score": 2, "place": "buttock"},
            {"t": 91, "who": "companion", "kind": "pain_stop", "text": "", "routine_id": "mckenzie-3-prone-press-up",
             "then": "gentlest"},
            {"t": 92, "who": "companion", "kind": "exercise_started", "text": "x", "routine_id": "mckenzie-1-prone-lying"},
            {"t": 300, "who": "companion", "kind": "exercise_done", "text": "", "routine_id": "mckenzie-1-prone-lying"},
            {"t": 301, "who": "companion", "kind": "finished", "text": "completed", "reason": "completed"},
        ):
            store.add_event(sid, record)
        store.finish_session(sid, "completed", start + timedelta(seconds=301))
    page = tmp_path / "r.html"
    assert main(["report", "--user", "ann", "--db", str(db), "--html", str(page)]) == 0
    html = page.read_text()
    assert "PAIN STOP" in html and "gentlest exercise" in html
