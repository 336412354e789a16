"""Clinical safety that holds beyond one session: red flags stay open until a doctor has been seen,
and a yes to the day's acute question makes the rest of the day the acute stage.

Sessions run from scripts on the virtual clock (``--at``), as in test_sessions_with_history.py.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from companion.care.progression import load_progression_text
from companion.care.report.collect import collect
from companion.care.report.csv import csv_rows
from companion.care.report.html import render_html
from companion.care.report.wording import load_wording
from companion.care.screening import load_screening
from companion.care.store import open_store
from companion.care.store_repair import salvage, scan_database
from companion.cli import main
from companion.knowledge.redflags import default_detector
from tests.care.test_store import make_v1
from tests.conftest import ROOT

DAY1, DAY2 = datetime(2026, 11, 1), datetime(2026, 11, 2)
MCK1, MCK3, MCK4, SWALLOW = ("mckenzie-1-prone-lying", "mckenzie-3-prone-press-up",
                             "mckenzie-4-standing-extension", "flying-swallow")
SCREEN_FLAGS = [q.flag_id for q in load_screening().questions]


def advice(flag_id: str) -> str:
    flag = next(f for f in default_detector().spec.flags if f.id == flag_id)
    return " ".join(flag.advice.split())


def screening(yes_to: str | None = None, acute: str = "no") -> list[str]:
    """Answers to the day's safety questions: "yes" only to ``yes_to``'s question, then the acute question."""
    answers = ["yes" if flag == yes_to else "no" for flag in SCREEN_FLAGS]
    return answers[:answers.index("yes") + 1] if yes_to else answers + [acute]


def script(tmp_path, name: str, *, doctor: str | None = None, safety: list[str] = (), pain: bool = True) -> str:
    """A "seen a doctor?" answer first (t=10), then the safety questions (t=100 on), then pain check-ins.

    A waiting question takes the next line whenever it comes, so spacing answers out is safe.
    """
    lines = [f"10 {doctor}"] if doctor else []
    lines += [f"{100 + i} {answer}" for i, answer in enumerate(safety)]
    if pain:
        lines += ["300 2", "301 back only", "6000 2", "6001 back only"]
    path = tmp_path / f"{name}.txt"
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, out.out, out.err


def run(capsys, db, routine: str, at: datetime, script_file: str | None = None) -> tuple[int, list[dict], str]:
    argv = ["run", routine, "--user", "ann", "--db", str(db), "--virtual-clock", "--json",
            "--at", at.isoformat(timespec="minutes")]
    code, out, err = cli(capsys, *argv, *(["--script", script_file] if script_file else []))
    return code, [json.loads(line) for line in out.splitlines()], err


def today(capsys, db, at: datetime) -> dict:
    code, out, err = cli(capsys, "today", "--user", "ann", "--db", str(db), "--json", "--at", at.isoformat())
    assert code == 0, err
    return json.loads(out)


def said(records: list[dict]) -> list[str]:
    return [r["text"] for r in records if r["kind"] == "say"]


def only_questions(records: list[dict]) -> bool:
    """Nothing of the exercise itself was said: only questions and the safety steps around them."""
    return {r["step_kind"] for r in records if r["kind"] == "step_started"} <= {"screening", "question"}


def answered(records: list[dict], tag: str) -> list[str]:
    return [r["answer"] for r in records if r["kind"] == "answered" and r["tag"] == tag]


@pytest.fixture
def db(tmp_path, capsys):
    path = tmp_path / "history.db"
    assert main(["profile", "add", "ann", "--db", str(path)]) == 0
    capsys.readouterr()
    return path


def bladder_flag_yesterday(capsys, tmp_path, db) -> None:
    code, records, err = run(capsys, db, MCK1, DAY1.replace(hour=9),
                             script(tmp_path, "flag", safety=screening("bladder-bowel"), pain=False))
    assert code == 0, err
    assert records[-1]["text"] == "red-flag"


# -- red flags last ---------------------------------------------------------------------


def test_a_red_flag_yesterday_refuses_today_until_seen_doctor_then_runs_and_shows_cleared(capsys, tmp_path, db):
    bladder_flag_yesterday(capsys, tmp_path, db)

    # An hour later, and the next morning: nothing is offered, with the advice.
    for moment in (DAY1.replace(hour=10), DAY2.replace(hour=8)):
        report = today(capsys, db, moment)
        assert report["due"] == [] and report["anytime"] == []
        assert [f["flag_id"] for f in report["open_flags"]] == ["bladder-bowel"]
        assert advice("bladder-bowel") in report["hold"]
        assert all(row["reason"] == report["hold"][0] for row in report["not_yet"] if row["routine_id"] == MCK1)
    code, out, _ = cli(capsys, "today", "--user", "ann", "--db", str(db), "--at", "2026-11-02T08:00")
    assert code == 0 and advice("bladder-bowel") in out and "Due now" not in out
    assert "companion profile clear-flag ann --seen-doctor" in out

    # "No, not yet": the advice again, and no exercise at all.
    code, records, err = run(capsys, db, MCK1, DAY2.replace(hour=9), script(tmp_path, "no", doctor="no"))
    assert code == 0, err
    question = load_screening().open_flag.ask.format(flag="loss of bladder or bowel control")
    assert said(records)[0] == question  # before anything else
    assert answered(records, "seen-doctor") == ["no"]
    assert advice("bladder-bowel") in said(records) and records[-1]["text"] == "red-flag"
    assert only_questions(records)
    assert today(capsys, db, DAY2.replace(hour=9, minute=30))["open_flags"]

    # "Yes, I have seen a doctor": cleared; the safety questions again, then the exercise.
    code, records, err = run(capsys, db, MCK1, DAY2.replace(hour=10),
                             script(tmp_path, "yes", doctor="yes", safety=screening()))
    assert code == 0, err
    assert answered(records, "seen-doctor") == ["yes"] and answered(records, "screen") == ["no"] * 6
    assert [r["routine_id"] for r in records if r["kind"] == "exercise_started"] == [MCK1]
    assert records[-1]["text"] == "completed"

    code, out, _ = cli(capsys, "profile", "flags", "ann", "--db", str(db), "--json")
    [flag] = json.loads(out)
    assert flag["flag_id"] == "bladder-bowel" and flag["source"] == "screen" and not flag["open"]
    assert flag["cleared_by"] == "person" and flag["cleared_at"].startswith("2026-11-02T10:00")
    report = today(capsys, db, DAY2.replace(hour=11))
    assert report["open_flags"] == [] and report["hold"] == [] and report["due"]


def test_an_open_red_flag_is_asked_about_when_answers_are_typed(tmp_path, db):
    """Real clock, typed answers (--keyboard): the question comes first and a typed "no" ends the session."""
    with open_store(db) as store:
        store.raise_flag("ann", "fall", datetime.now().astimezone() - timedelta(hours=1), None, "ask")
    env = {**os.environ, "COMPANION_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "companion", "run", MCK1, "--user", "ann", "--db", str(db),
                           "--keyboard", "--text", "--no-voice"], input="no\n", capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Have you seen a doctor about this since?" in done.stdout and advice("fall") in done.stdout
    assert "SESSION RED-FLAG" in done.stdout
    with open_store(db) as store:
        assert [f.flag_id for f in store.open_flags("ann", datetime.now().astimezone())] == ["fall"]


def test_the_home_menu_says_the_hold_instead_of_what_is_due_and_asks_before_a_session(tmp_path, db):
    with open_store(db) as store:
        store.raise_flag("ann", "fever", datetime.now().astimezone() - timedelta(hours=1), None, "ask")
    env = {**os.environ, "COMPANION_HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "companion", "home", "--keyboard", "--text", "--no-voice",
                             "--user", "ann", "--db", str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    out, err = proc.communicate("start lying face down\nyes\nstop\ngoodbye\n", timeout=60)
    assert proc.returncode == 0, err
    phrases_nothing_due = "Nothing more is due today"
    assert advice("fever") in out and phrases_nothing_due not in out
    assert "Have you seen a doctor about this since?" in out
    with open_store(db) as store:
        [flag] = store.flags("ann")
        assert flag.cleared_by == "person"


def test_a_caregiver_clears_a_flag_with_the_profile_command(capsys, tmp_path, db):
    bladder_flag_yesterday(capsys, tmp_path, db)
    code, _, err = cli(capsys, "profile", "clear-flag", "ann", "--db", str(db))
    assert code == 2 and "--seen-doctor" in err  # only "a doctor has seen them" clears a red flag
    code, _, err = cli(capsys, "profile", "clear-flag", "ann", "fever", "--seen-doctor", "--db", str(db))
    assert code == 1 and "no open red flag 'fever'" in err
    code, out, err = cli(capsys, "profile", "clear-flag", "ann", "bladder-bowel", "--seen-doctor", "--db", str(db),
                         "--at", "2026-11-01T18:00", "--note", "GP: infection, treated")
    assert code == 0, err
    assert "loss of bladder or bowel control" in out
    code, out, _ = cli(capsys, "profile", "flags", "ann", "--db", str(db))
    assert "(0 open)" in out and "by a caregiver: GP: infection, treated" in out

    report = today(capsys, db, DAY2.replace(hour=8))
    assert report["open_flags"] == [] and report["due"]
    code, records, err = run(capsys, db, MCK1, DAY2.replace(hour=9),
                             script(tmp_path, "after", safety=screening()))
    assert code == 0, err
    assert answered(records, "seen-doctor") == [] and records[-1]["text"] == "completed"
    code, _, err = cli(capsys, "profile", "clear-flag", "ann", "--seen-doctor", "--db", str(db))
    assert code == 1 and "no open red flag" in err


def test_ask_with_a_user_stores_the_red_flag_for_that_person(capsys, db):
    code, out, err = cli(capsys, "ask", "--text", "--user", "ann", "--db", str(db), "I can't control my bladder")
    assert code == 0, err
    assert advice("bladder-bowel") in out and "Kept for ann" in err
    with open_store(db) as store:
        [flag] = store.flags("ann")
    assert (flag.flag_id, flag.source, flag.session_id, flag.cleared_at) == ("bladder-bowel", "ask", None, None)
    code, out, _ = cli(capsys, "today", "--user", "ann", "--db", str(db))
    assert code == 0 and advice("bladder-bowel") in out  # now, after the question: on hold

    code, out, _ = cli(capsys, "ask", "--text", "--user", "ann", "--db", str(db), "how should I lift a heavy box")
    assert code == 0
    with open_store(db) as store:
        assert len(store.flags("ann")) == 1  # an ordinary question keeps nothing
    code, out, err = cli(capsys, "ask", "--json", "--text", "--user", "nobody", "--db", str(db),
                         "I can't control my bladder")
    assert code == 1 and json.loads(out)["urgent"] and "There is no profile called 'nobody'" in err


# -- the acute stage -----------------------------------------------------------------------


def test_an_acute_yes_refuses_the_flying_swallow_with_the_reason_and_allows_mckenzie_1(capsys, tmp_path, db):
    text = load_progression_text()
    code, records, err = run(capsys, db, SWALLOW, DAY2.replace(hour=9),
                             script(tmp_path, "acute", safety=screening(acute="yes"), pain=False))
    assert code == 0, err
    reason = text.say("not_for_acute_rest", title="Flying swallow", condition=text.conditions["acute"])
    assert answered(records, "acute") == ["yes"] and reason in said(records)
    assert records[-1]["text"] == "acute" and only_questions(records)

    # The rest of the day is the acute stage: the back exercises are refused, McKenzie 4 stands in for 3.
    report = today(capsys, db, DAY2.replace(hour=10))
    assert report["acute_today"] and "acute" in report["conditions"]
    refused = {row["routine_id"]: row["reason"] for row in report["not_yet"]}
    assert refused[SWALLOW] == reason and text.conditions["acute"] in refused[MCK3]
    assert "McKenzie 4" in refused[MCK3]
    assert MCK1 in {row["routine_id"] for row in report["due"]}
    code, out, _ = cli(capsys, "today", "--user", "ann", "--db", str(db), "--at", "2026-11-02T10:00")
    assert load_screening().acute_today in out
    code, _, err = run(capsys, db, SWALLOW, DAY2.replace(hour=10, minute=30))
    assert code == 1 and text.conditions["acute"] in err and load_screening().acute_today in err

    code, records, err = run(capsys, db, MCK1, DAY2.replace(hour=11), script(tmp_path, "mck1"))
    assert code == 0, err
    assert records[-1]["text"] == "completed" and answered(records, "acute") == []  # asked once a day
    code, records, err = run(capsys, db, MCK4, DAY2.replace(hour=11, minute=30), script(tmp_path, "mck4"))
    assert code == 0 and records[-1]["text"] == "completed", err  # in place of McKenzie 3

    # The next day is a new day: the question is asked again, and a no allows the flying swallow.
    assert not today(capsys, db, datetime(2026, 11, 3, 8))["acute_today"]
    code, records, err = run(capsys, db, SWALLOW, datetime(2026, 11, 3, 9), script(tmp_path, "next",
                                                                                    safety=screening()))
    assert code == 0 and records[-1]["text"] == "completed", err


def test_an_acute_yes_before_mckenzie_1_goes_on_with_it(capsys, tmp_path, db):
    code, records, err = run(capsys, db, MCK1, DAY2.replace(hour=9),
                             script(tmp_path, "acute", safety=screening(acute="yes")))
    assert code == 0, err
    assert answered(records, "acute") == ["yes"] and records[-1]["text"] == "completed"


def test_the_acute_question_is_not_asked_when_the_profile_already_says_acute(capsys, tmp_path, db):
    assert main(["profile", "set", "ann", "conditions", "acute", "--db", str(db)]) == 0
    capsys.readouterr()
    code, records, err = run(capsys, db, MCK1, DAY2.replace(hour=9), script(tmp_path, "x", safety=screening()[:6]))
    assert code == 0 and records[-1]["text"] == "completed", err
    assert answered(records, "acute") == []


# -- the report and the store ---------------------------------------------------------------------


def test_the_report_lists_open_and_cleared_flags(capsys, tmp_path, db, library):
    bladder_flag_yesterday(capsys, tmp_path, db)
    code, _, err = run(capsys, db, MCK1, DAY2.replace(hour=9),
                       script(tmp_path, "yes", doctor="yes", safety=screening()))
    assert code == 0, err
    with open_store(db) as store:
        store.raise_flag("ann", "fever", DAY2.replace(hour=15).astimezone(), None, "ask")
        data = collect(store, "ann", DAY2.replace(hour=18).astimezone(), library)
    words = load_wording().page
    assert [(f.flag_id, f.open) for f in data.flags] == [("bladder-bowel", False), ("fever", True)]
    assert data.flags[0].how == words.flag_from_screen and data.flags[1].how == words.flag_from_ask
    assert data.flags[0].status == words.flag_cleared_person.format(when="2026-11-02 09:00")
    page = render_html(data, None, "")
    assert words.flags_heading in page and words.flag_open in page
    assert "loss of bladder or bowel control" in page and "fever with back pain" in page
    assert data.today["open_flags"] and not data.today["due"]  # fever is still open at the report's time
    rows = csv_rows(data)
    assert [r["value"] for r in rows if r["kind"] == "seen-doctor"] == ["yes"]


def test_a_no_to_seen_doctor_is_a_red_flag_incident_in_the_report(capsys, tmp_path, db, library):
    bladder_flag_yesterday(capsys, tmp_path, db)
    run(capsys, db, MCK1, DAY2.replace(hour=9), script(tmp_path, "no", doctor="no"))
    with open_store(db) as store:
        data = collect(store, "ann", DAY2.replace(hour=18).astimezone(), library)
    said_no = load_wording().events.seen_doctor_no.format(flag="loss of bladder or bowel control")
    assert [i.reason for i in data.incidents if i.kind == "red-flag"][-1] == said_no
    assert [f.open for f in data.flags] == [True]


def test_an_upgraded_history_keeps_its_old_red_flags_open(tmp_path):
    path = tmp_path / "old.db"
    make_v1(path)  # Mum's one session, written by companion before red flags were kept
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO events (session_id, seq, t, who, kind, text, data) VALUES "
                 "(1, 4, 30.0, 'companion', 'red_flag', '', '{\"flag_id\": \"fall\"}')")
    conn.commit()
    conn.close()
    with open_store(path) as store:
        [flag] = store.flags("Mum")
        assert (flag.flag_id, flag.session_id, flag.source, flag.cleared_at) == ("fall", 1, "session", None)
        assert store.open_flags("mum", datetime.now().astimezone()) == [flag]


def test_a_salvaged_copy_keeps_open_and_cleared_flags(tmp_path):
    path, copy = tmp_path / "h.db", tmp_path / "copy.db"
    with open_store(path) as store:
        store.raise_flag("Mum", "fall", DAY1.astimezone(), None, "ask")
        store.raise_flag("Mum", "fever", DAY1.astimezone(), None, "ask")
        assert store.clear_flags("Mum", DAY2.astimezone(), "caregiver", flag_id="fever", note="antibiotics") == 1
        before = store.flags("Mum")
    result = salvage(scan_database(path), copy)
    assert result.copied["flag"] == 2
    with open_store(copy) as store:
        assert store.flags("Mum") == before


def test_an_acute_refusal_shows_in_the_report_as_an_acute_stage_stop(capsys, tmp_path, db, library):
    run(capsys, db, SWALLOW, DAY2.replace(hour=9), script(tmp_path, "acute", safety=screening(acute="yes"),
                                                          pain=False))
    with open_store(db) as store:
        data = collect(store, "ann", DAY2.replace(hour=18).astimezone(), library)
    stop = load_wording().stops["acute"]
    assert [(i.kind, i.label) for i in data.incidents] == [("acute", stop.label)]
    assert [r["value"] for r in csv_rows(data) if r["kind"] == "acute"] == ["yes"]
    assert data.today["acute_today"] and stop.label in render_html(data, None, "")
