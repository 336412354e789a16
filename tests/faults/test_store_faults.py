"""Damaged and unusable history databases: every command answers with a clear line, never a traceback.

Each case builds the damage in ``tmp_path`` (a page of garbage mid-file, a
schema version with no tables, bad JSON in one event, a bad time in one
session, a wrongly typed profile setting, a newer schema) or injects the
error SQLite would raise (a full disk, a folder that cannot be written, an
input/output error), runs the command in-process, and checks the message,
the exit code, and that no event that was stored is lost: a bad row is
skipped and told once, and ``companion doctor --db --salvage`` copies every
readable event into a new file without touching the original.
"""

from __future__ import annotations

import csv
import errno
import hashlib
import itertools
import json
import os
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from companion.app.runner import Runner
from companion.care import store as store_module
from companion.care.profiles import Profile, set_value
from companion.care.store import SCHEMA_VERSION, Store, StoreOutput, open_store, unreadable_message
from companion.cli import main
from companion.engine.clock import VirtualClock
from companion.language.vocabulary import load_vocabulary
from tests.conftest import make_session

ROUTINE = "mckenzie-1-prone-lying"
SHORT = "knees-to-chest"  # the shortest routine: a virtual-clock run of it is quick
START = datetime(2025, 3, 1, 8, 0, tzinfo=timezone.utc)
AT = "2025-03-05T09:00"
SQLITE_READONLY_DIRECTORY, SQLITE_IOERR_READ = 1544, 266


def local(hours: int) -> str:
    """How ``doctor --db`` names the start of the session ``hours`` after START, in local time."""
    return (START + timedelta(hours=hours)).astimezone().strftime("%Y-%m-%d %H:%M")


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of one command run in-process; a traceback fails the test."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    return code, out, err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def sessions_of_practice(db: Path, count: int = 30, says: int = 60) -> None:
    """A profile and ``count`` completed sessions of one routine, each with ``says`` long cues: many pages."""
    with open_store(db) as store:
        store.add_profile(Profile("Mum"))
        for n in range(count):
            start = START + timedelta(hours=3 * n)
            sid = store.start_session("Mum", ROUTINE, start, virtual=True)
            store.add_event(sid, {"t": 0.0, "who": "companion", "kind": "exercise_started", "routine_id": ROUTINE})
            for i in range(says):
                store.add_event(sid, {"t": i + 1.0, "who": "companion", "kind": "say", "text": f"cue {i} " * 12})
            store.add_event(sid, {"t": says + 5.0, "who": "companion", "kind": "exercise_done", "routine_id": ROUTINE})
            store.add_event(sid, {"t": says + 5.0, "who": "companion", "kind": "finished", "text": "completed",
                                  "reason": "completed"})
            store.finish_session(sid, "completed", start + timedelta(seconds=says + 5))


def scribble_over_an_events_page(db: Path) -> int:
    """Write garbage over a leaf page of the events table in the middle of the file; returns its number."""
    conn = sqlite3.connect(db)
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    try:
        pages = [row[0] for row in conn.execute(
            "SELECT pageno FROM dbstat WHERE name = 'events' AND pagetype = 'leaf' ORDER BY pageno")]
    except sqlite3.OperationalError:  # SQLite built without dbstat: the middle of the file is events too
        pages = [conn.execute("PRAGMA page_count").fetchone()[0] // 2]
    conn.close()
    page = pages[len(pages) // 2]
    data = bytearray(db.read_bytes())
    data[(page - 1) * size:page * size] = b"\x5a" * size
    db.write_bytes(bytes(data))
    return page


def readable_events(db: Path) -> set[tuple[int, int, str]]:
    """Every event SQLite can still read, one by one through the index: (session, seq, text)."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    found = set()
    for event_id, in conn.execute("SELECT id FROM events INDEXED BY events_by_session").fetchall():
        try:
            found.add(conn.execute("SELECT session_id, seq, text FROM events WHERE id = ?", (event_id,)).fetchone())
        except sqlite3.DatabaseError:
            continue
    conn.close()
    return found


def all_events(db: Path) -> set[tuple[int, int, str]]:
    with open_store(db) as store:
        return {(s.id, e["seq"], e["text"]) for s in store.sessions() for e in store.events(s.id)}


def fingerprint(db: Path) -> tuple[str, int]:
    return hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns


def raw(db: Path, sql: str, *params: object) -> None:
    conn = sqlite3.connect(db)
    conn.execute(sql, params)
    conn.commit()
    conn.close()


def error(message: str, code: int) -> sqlite3.OperationalError:
    """The exception SQLite raises, with its result code (Python 3.11 exceptions carry it)."""
    exc = sqlite3.OperationalError(message)
    exc.sqlite_errorcode = code
    return exc


def connections_failing(monkeypatch: pytest.MonkeyPatch, exc: sqlite3.Error, writes_only: bool) -> None:
    """New connections raise ``exc`` on writes (or on every statement), as a full disk or a locked folder would."""
    writes = ("INSERT", "UPDATE", "DELETE")

    class Failing(sqlite3.Connection):
        def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
            if not writes_only or sql.lstrip().upper().startswith(writes):
                raise exc
            return super().execute(sql, *args)

    real = sqlite3.connect
    monkeypatch.setattr(sqlite3, "connect", lambda *args, **kwargs: real(*args, factory=Failing, **kwargs))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "household.db"


# -- damage inside the file -------------------------------------------------------------------


def test_today_survives_a_damaged_page(capsys, db):
    sessions_of_practice(db)
    stored = all_events(db)
    scribble_over_an_events_page(db)
    code, out, err = cli(capsys, "today", "--user", "Mum", "--db", str(db), "--at", AT)
    assert code == 0 and out.startswith("Today for Mum")
    lost = len(stored) - len(readable_events(db))
    assert 0 < lost < 60  # one page of events
    assert one_line(err) == (f"{lost} damaged events were skipped; run `companion doctor --db {db}` "
                             f"to see what is damaged")
    code, out, err = cli(capsys, "history", "--user", "Mum", "--db", str(db), "--events")
    assert code == 0 and out.startswith("Sessions for Mum (30):") and "damaged events were skipped" in one_line(err)
    code, out, err = cli(capsys, "history", "--db", str(db), "--json")
    shown = {(s["id"], e["seq"], e["text"]) for s in json.loads(out)["sessions"] for e in s["events"]}
    assert code == 0 and shown == readable_events(db) and len(shown) == len(stored) - lost


def test_report_survives_a_damaged_page(capsys, db, tmp_path):
    sessions_of_practice(db)
    scribble_over_an_events_page(db)
    html = tmp_path / "mum.html"
    code, out, err = cli(capsys, "report", "--user", "Mum", "--db", str(db), "--html", str(html), "--at", AT)
    assert code == 0 and html.exists() and "damaged events were skipped" in one_line(err)


def test_a_file_damaged_beyond_reading_is_one_line_that_asks_for_the_doctor_first(capsys, db):
    sessions_of_practice(db, count=3)
    data = bytearray(db.read_bytes())
    data[:100] = b"\x00" * 100  # the header: not a database any more
    db.write_bytes(bytes(data))
    code, out, err = cli(capsys, "today", "--user", "Mum", "--db", str(db), "--at", AT)
    line = one_line(err)
    assert code == 1 and out == ""
    assert line.startswith(f"cannot read the database at {db}: file is not a database. It is damaged")
    assert line.index(f"companion doctor --db {db}") < line.index("--salvage") < line.index("move the damaged file")


@pytest.mark.parametrize("version", [1, SCHEMA_VERSION])
def test_run_with_user_version_but_no_tables(capsys, db, version):
    raw(db, f"PRAGMA user_version = {version}")
    before = fingerprint(db)
    code, out, err = cli(capsys, "run", SHORT, "--virtual-clock", "--text", "--db", str(db), "--at", AT)
    line = one_line(err)
    assert code == 1 and "SESSION" not in out
    assert f"the database at {db} is marked as companion's (schema {version}) but has none of its tables" in line
    assert "it holds no history" in line
    assert fingerprint(db) == before  # not "upgraded", not given tables behind the person's back
    code, _, err = cli(capsys, "history", "--db", str(db))
    assert code == 1 and "has none of its tables" in one_line(err)


def test_a_missing_table_is_damage(capsys, db):
    sessions_of_practice(db, count=1, says=1)
    raw(db, "DROP TABLE events")
    code, _, err = cli(capsys, "history", "--db", str(db))
    line = one_line(err)
    assert code == 1 and "its events table is missing" in line and "companion doctor --db" in line


def test_another_programs_database_is_left_alone(capsys, db):
    raw(db, "CREATE TABLE recipes (name TEXT)")
    before = fingerprint(db)
    code, _, err = cli(capsys, "profile", "add", "Mum", "--db", str(db))
    assert code == 1 and "is not companion's (it has the tables recipes)" in one_line(err)
    assert fingerprint(db) == before


def test_history_json_skips_an_event_with_bad_json(capsys, db):
    sessions_of_practice(db, count=2, says=3)
    raw(db, "UPDATE events SET data = '{\"routine_id\": ' WHERE session_id = 1 AND seq = 1")
    code, out, err = cli(capsys, "history", "--db", str(db), "--json")
    data = json.loads(out)
    assert code == 0 and [len(s["events"]) for s in data["sessions"]] == [5, 6]
    assert one_line(err) == (f"1 damaged event was skipped; run `companion doctor --db {db}` to see what is "
                             f"damaged")
    code, out, err = cli(capsys, "today", "--user", "Mum", "--db", str(db), "--at", AT)
    assert code == 0 and "1 damaged event was skipped" in one_line(err)
    code, out, _ = cli(capsys, "doctor", "--db", str(db))
    assert code == 1 and f"session 1 ({local(0)}, {ROUTINE}, Mum): its data is not valid JSON" in out


@pytest.mark.parametrize("bad", ["2025-13-45T99:00:00", "", "yesterday", b"\x00\xff"])
def test_history_and_report_skip_a_bad_timestamp(capsys, db, tmp_path, bad):
    sessions_of_practice(db, count=3, says=2)
    raw(db, "UPDATE sessions SET started_at = ? WHERE id = 2", bad)
    code, out, err = cli(capsys, "history", "--user", "Mum", "--db", str(db))
    assert code == 0 and out.startswith("Sessions for Mum (2):")
    assert one_line(err).startswith("1 damaged session was skipped")
    html, table = tmp_path / "mum.html", tmp_path / "mum.csv"
    code, out, err = cli(capsys, "report", "--user", "Mum", "--db", str(db), "--html", str(html), "--csv", str(table),
                         "--at", AT)
    assert code == 0 and "2 sessions" in out and one_line(err).startswith("1 damaged session was skipped")
    sessions_in_csv = {row["session"] for row in csv.DictReader(table.open(encoding="utf-8"))}
    assert sessions_in_csv == {"1", "3"}
    code, out, _ = cli(capsys, "today", "--user", "Mum", "--db", str(db), "--at", AT)
    assert code == 0
    code, out, _ = cli(capsys, "doctor", "--db", str(db))
    assert code == 1 and f"session 2 (start unknown, {ROUTINE}, Mum): its start time" in out


@pytest.mark.parametrize("settings", [{"pace": "slow"}, {"speech_rate": 999}, {"conditions": "acute"},
                                      {"caregiver": "yes", "voice": 7}, "not json", [1, 2]])
def test_profile_list_survives_a_wrongly_typed_setting(capsys, db, tmp_path, settings):
    sessions_of_practice(db, count=1, says=1)
    with open_store(db) as store:
        store.add_profile(Profile("Dad", pace=1.5))
    text = settings if isinstance(settings, str) else json.dumps(settings)
    raw(db, "UPDATE profiles SET settings = ? WHERE name = 'Mum'", text)
    code, out, err = cli(capsys, "profile", "list", "--db", str(db))
    assert code == 0 and "Dad" in out and "Mum" in out
    assert "damaged profile setting" in one_line(err) and "their defaults were used" in err
    code, out, err = cli(capsys, "today", "--user", "Mum", "--db", str(db), "--at", AT)
    assert code == 0 and out.startswith("Today for Mum") and "damaged profile setting" in one_line(err)
    code, _, err = cli(capsys, "report", "--user", "Mum", "--db", str(db), "--html", str(tmp_path / "r.html"))
    assert code == 0 and "damaged profile setting" in one_line(err)
    code, _, _ = cli(capsys, "profile", "set", "Mum", "pace", "1.5", "--db", str(db))  # saving puts it right
    code, out, err = cli(capsys, "profile", "show", "Mum", "--db", str(db))
    assert code == 0 and err == "" and "pace           1.5" in out


def test_a_future_schema_is_refused_with_the_upgrade_advice(capsys, db):
    sessions_of_practice(db, count=1, says=1)
    raw(db, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = fingerprint(db)
    for argv in (["history"], ["today", "--user", "Mum"], ["profile", "list"]):
        code, _, err = cli(capsys, *argv, "--db", str(db))
        line = one_line(err)
        assert code == 1 and "written by a newer version of companion" in line and "aside" not in line
    code, out, _ = cli(capsys, "doctor", "--db", str(db))
    assert code == 1 and "newer version of companion" in out
    assert fingerprint(db) == before


# -- errors that are not damage: the history is healthy ----------------------------------------


def test_full_disk_advice_does_not_say_move_it_aside(capsys, db, monkeypatch):
    sessions_of_practice(db, count=1, says=1)
    connections_failing(monkeypatch, error("database or disk is full", 13), writes_only=True)
    code, _, err = cli(capsys, "profile", "add", "Dad", "--db", str(db))
    line = one_line(err)
    assert code == 1
    assert line.startswith(f"cannot write to the database at {db}: the disk is full") and "history is safe" in line
    assert "aside" not in line and "new, empty one" not in line
    code, out, err = cli(capsys, "history", "--db", str(db))  # reading still works
    assert code == 0 and err == "" and "Sessions for everyone (1)" in out


def test_full_disk_when_the_database_is_created(capsys, tmp_path, monkeypatch):
    def full(path: Path) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))

    monkeypatch.setattr(store_module, "_create_private", full)
    code, _, err = cli(capsys, "profile", "add", "Mum", "--db", str(tmp_path / "new.db"))
    line = one_line(err)
    assert code == 1 and "the disk is full" in line and "aside" not in line


def test_a_full_disk_during_a_session_lets_it_go_on(capsys, db, monkeypatch):
    calls = itertools.count()
    real_add = Store.add_event

    def add_event(self: Store, session_id: int, record: dict) -> int:
        if next(calls) >= 5:
            raise error("database or disk is full", 13)
        return real_add(self, session_id, record)

    monkeypatch.setattr(Store, "add_event", add_event)
    code, out, err = cli(capsys, "run", SHORT, "--virtual-clock", "--json", "--db", str(db), "--at", AT)
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and records[-1]["kind"] == "finished"
    line = one_line(err)
    assert line.startswith(f"Cannot write to the history database at {db}, so the rest of this session is not "
                           f"recorded there: cannot write to the database at {db}: the disk is full")
    assert "aside" not in line
    monkeypatch.undo()
    code, out, _ = cli(capsys, "history", "--db", str(db), "--json")
    [session] = json.loads(out)["sessions"]
    assert session["event_count"] == 5 and session["unsaved"] == len(records) - 5
    assert session["ending"] == f"completed, but {len(records) - 5} events could not be saved"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder anyway; the injected case "
                                               "below covers the message")
def test_a_read_only_folder_is_a_permission_problem(capsys, db):
    sessions_of_practice(db, count=1, says=1)
    db.parent.chmod(0o500)
    try:
        code, _, err = cli(capsys, "history", "--db", str(db))
    finally:
        db.parent.chmod(0o700)
    line = one_line(err)
    assert code == 1 and line.startswith(f"cannot write to {db.parent}: check its permissions")
    assert "aside" not in line


def test_a_read_only_folder_injected_is_a_permission_problem(capsys, db, monkeypatch):
    sessions_of_practice(db, count=1, says=1)
    connections_failing(monkeypatch, error("attempt to write a readonly database", SQLITE_READONLY_DIRECTORY),
                        writes_only=False)
    code, _, err = cli(capsys, "history", "--db", str(db))
    line = one_line(err)
    assert code == 1 and line.startswith(f"cannot write to {db.parent}: check its permissions")
    assert "nothing was changed" in line and "aside" not in line and "doctor" not in line


def test_a_read_only_connection_names_the_permission_problem(db):
    """A real SQLITE_READONLY (which root cannot get from folder permissions): a write on a mode=ro connection."""
    sessions_of_practice(db, count=1, says=1)
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    with pytest.raises(sqlite3.OperationalError) as info:
        conn.execute("DELETE FROM profiles")
    conn.close()
    assert info.value.sqlite_errorcode & 0xFF == 8  # SQLITE_READONLY
    message = unreadable_message(db, info.value)
    assert message.startswith(f"cannot write to {db.parent}: check its permissions") and "aside" not in message


def test_an_input_output_error_says_copy_it_first(capsys, db, monkeypatch):
    sessions_of_practice(db, count=1, says=1)
    connections_failing(monkeypatch, error("disk I/O error", SQLITE_IOERR_READ), writes_only=False)
    code, _, err = cli(capsys, "profile", "list", "--db", str(db))
    line = one_line(err)
    assert code == 1 and "input/output error" in line and "Copy the file somewhere safe" in line
    assert "aside" not in line


# -- small ones ---------------------------------------------------------------------------------


def test_today_for_nobody_is_an_error(capsys, db):
    sessions_of_practice(db, count=1, says=1)
    code, out, err = cli(capsys, "today", "--user", "nobody", "--db", str(db), "--at", AT)
    assert code == 1 and out == ""
    assert one_line(err) == "There is no profile called 'nobody'. Known profiles: Mum."
    code, out, _ = cli(capsys, "today", "--user", "mum", "--db", str(db), "--at", AT)
    assert code == 0 and out.startswith("Today for Mum")


def test_conditions_are_deduplicated(capsys, db):
    assert set_value(Profile("x"), "conditions", "acute, acute,,acute").conditions == ("acute",)
    cli(capsys, "profile", "add", "Mum", "--db", str(db))
    code, out, _ = cli(capsys, "profile", "set", "Mum", "conditions", "acute,acute", "--db", str(db))
    assert code == 0 and out.strip() == "Mum: conditions = acute"
    with open_store(db) as store:
        assert store.get_profile("Mum").conditions == ("acute",)
    raw(db, "UPDATE profiles SET settings = ? WHERE name = 'Mum'", json.dumps({"conditions": ["acute", "acute"]}))
    with open_store(db) as store:  # and an old duplicate reads once
        assert store.get_profile("Mum").conditions == ("acute",)


def test_history_events_escape_control_characters(capsys, db):
    heard = "\x1b[2J\x1b]0;owned\x07stop\nnext\u202e"
    with open_store(db) as store:
        sid = store.start_session("Mum\x1b[31m", "wall-standing\r", START, virtual=False)
        store.add_event(sid, {"t": 1.0, "who": "user", "kind": "heard", "text": heard, "source": "voice"})
        store.finish_session(sid, "completed", START + timedelta(seconds=2))
    code, out, _ = cli(capsys, "history", "--db", str(db), "--events")
    assert code == 0 and not any(ch in out for ch in "\x1b\x07\r\u202e")
    assert "\\x1b[2J\\x1b]0;owned\\x07stop\\nnext\\u202e" in out and "Mum\\x1b[31m" in out
    assert len(out.splitlines()) == 3  # a newline in what was heard does not start a line of its own
    code, out, _ = cli(capsys, "history", "--db", str(db), "--json")
    assert "\x1b" not in out and json.loads(out)["sessions"][0]["events"][0]["text"] == heard


# -- doctor --db --------------------------------------------------------------------------------


def test_doctor_db_salvages_without_touching_the_original(capsys, db, tmp_path):
    sessions_of_practice(db)
    raw(db, "UPDATE events SET data = 'not json' WHERE session_id = 3 AND seq = 2")
    raw(db, "UPDATE sessions SET started_at = 'soon' WHERE id = 5")
    raw(db, "UPDATE profiles SET settings = ? WHERE name = 'Mum'", json.dumps({"pace": "slow", "caregiver": True}))
    scribble_over_an_events_page(db)
    readable = readable_events(db)
    before = fingerprint(db)
    out_db = tmp_path / "salvaged.db"

    code, out, err = cli(capsys, "doctor", "--db", str(db), "--salvage", str(out_db))
    assert code == 1 and err == ""
    assert fingerprint(db) == before
    assert "PROBLEM  integrity" in out and "Damaged sessions" in out
    assert f"session 3 ({local(6)}, {ROUTINE}, Mum): its data is not valid JSON" in out
    assert "session 5 (start unknown" in out
    assert f"The original {db} was not changed" in out

    salvaged = all_events(out_db)
    bad_json = {(3, 2)}
    assert {(sid, seq) for sid, seq, _ in salvaged} == {(sid, seq) for sid, seq, _ in readable} - bad_json
    assert salvaged <= readable
    with open_store(out_db) as store:
        assert store.skipped == {}
        mum = store.get_profile("Mum")
        assert mum.caregiver and mum.pace == 1.0  # the bad setting took its default, the good one stayed
        rebuilt = store.session(5)
        assert rebuilt.started_at == START + timedelta(hours=12) and rebuilt.reason == "completed"
        assert len(store.sessions("Mum")) == 30
        assert store.schema_version == SCHEMA_VERSION
    code, out, _ = cli(capsys, "doctor", "--db", str(out_db))
    assert code == 0 and out.rstrip().endswith("The history database is healthy.")
    code, _, err = cli(capsys, "history", "--db", str(out_db), "--events")
    assert code == 0 and err == ""


def test_doctor_db_json_names_the_damage(capsys, db):
    sessions_of_practice(db, count=3, says=2)
    raw(db, "UPDATE sessions SET ended_at = 'later' WHERE id = 2")
    code, out, _ = cli(capsys, "doctor", "--db", str(db), "--json")
    report = json.loads(out)
    assert code == 1 and report["healthy"] is False and report["damaged_sessions"] == [2]
    assert report["counts"]["sessions"] == {"readable": 2, "damaged": 1}
    assert report["fix"] == f"companion doctor --db {db} --salvage {db.with_name('household-salvaged.db')}"
    assert report["damage"] == [{"kind": "session", "key": 2, "problem": "its end time 'later' is not a date and time",
                                 "session_id": 2}]


def test_doctor_db_on_a_healthy_database(capsys, db, monkeypatch, tmp_path):
    sessions_of_practice(db, count=2, says=2)
    code, out, err = cli(capsys, "doctor", "--db", str(db))
    assert code == 0 and err == "" and "OK       events     10 events, all readable" in out
    code, out, _ = cli(capsys, "doctor", "--db", str(db), "--json")
    assert code == 0 and json.loads(out)["healthy"] is True and json.loads(out)["damage"] == []
    monkeypatch.setenv("COMPANION_HOME", str(tmp_path / "nothing-yet"))
    code, out, _ = cli(capsys, "doctor", "--db")  # the default file, not made yet: nothing to lose
    assert code == 0 and "there is no database file at" in out
    code, out, _ = cli(capsys, "doctor", "--db", str(tmp_path / "typo.db"))
    assert code == 1 and "there is no database file at" in out


def test_doctor_db_salvage_never_overwrites(capsys, db):
    sessions_of_practice(db, count=1, says=1)
    db.with_name("other.db").touch()
    before = fingerprint(db)
    for target in (db, db.with_name("other.db")):
        code, _, err = cli(capsys, "doctor", "--db", str(db), "--salvage", str(target))
        assert code == 2 and "already exists" in one_line(err)
    assert fingerprint(db) == before and db.with_name("other.db").read_bytes() == b""


def test_doctor_db_on_a_file_that_is_not_a_database(capsys, db, tmp_path):
    db.write_text("just some text\n" * 100)
    code, out, _ = cli(capsys, "doctor", "--db", str(db), "--salvage", str(tmp_path / "copy.db"))
    assert code == 1 and "file is not a database" in out and "Nothing was salvaged" in out
    assert not (tmp_path / "copy.db").exists()


# -- the ending tells the truth ------------------------------------------------------------------


def test_unsaved_events_are_told_in_the_ending(capsys, db, tmp_path, library):
    cli(capsys, "profile", "add", "Mum", "--db", str(db))
    with open_store(db) as store:
        output = StoreOutput.begin(store, "Mum", SHORT, datetime(2025, 3, 5, 9, 0).astimezone(), virtual=True)
        real_add = store.add_event
        writes = itertools.count()

        def add_event(session_id: int, record: dict) -> int:
            if next(writes) >= 3:
                raise error("database or disk is full", 13)
            return real_add(session_id, record)

        store.add_event = add_event
        runner = Runner(make_session(library, SHORT), VirtualClock(), load_vocabulary(), [output])
        runner.run()
        output.close()
    unsaved = len(runner.records) - 3
    assert output.unsaved == unsaved > 0 and "the disk is full" in capsys.readouterr().err
    code, out, _ = cli(capsys, "history", "--user", "Mum", "--db", str(db))
    assert code == 0 and out.splitlines()[1].endswith(f"completed, but {unsaved} events could not be saved  "
                                                      f"(virtual clock)")
    html, table = tmp_path / "mum.html", tmp_path / "mum.csv"
    code, _, _ = cli(capsys, "report", "--user", "Mum", "--db", str(db), "--html", str(html), "--csv", str(table),
                     "--at", "2025-03-05T18:00")
    assert code == 0
    page = html.read_text(encoding="utf-8")
    assert "NOT ALL SAVED" in page and f"{unsaved} events of this session could not be saved" in page
    rows = list(csv.DictReader(table.open(encoding="utf-8")))
    assert [row["value"] for row in rows if row["kind"] == "unsaved"] == [str(unsaved)]
