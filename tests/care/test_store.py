"""The history store: profiles, sessions, events, migrations, permissions, crash safety, practice."""

from __future__ import annotations

import errno
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from companion.care.profiles import CAREGIVER_PRESET, Profile, ProfileError, set_value
from companion.care.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    DuplicateProfile,
    Practice,
    StoreError,
    StoreOutput,
    default_db_path,
    open_store,
    unreadable_message,
)
from companion.engine.clock import VirtualClock
from companion.language.heard import Heard
from companion.app.runner import Runner
from companion.language.vocabulary import load_vocabulary
from tests.conftest import ROOT, make_session

START = datetime(2024, 5, 6, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "data" / "companion.db") as s:
        yield s


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_into_store(store, library, entry_id, started_at, user="Mum", script=()):
    """A whole virtual-clock session written through StoreOutput, as `run --user --virtual-clock --at` will."""
    output = StoreOutput.begin(store, user, entry_id, started_at, virtual=True)
    runner = Runner(make_session(library, entry_id), VirtualClock(), load_vocabulary(), [output],
                    script=[Heard(t, text, "script") for t, text in script])
    runner.run()
    return output.session_id, runner.records


# -- profiles -------------------------------------------------------------------


def test_profile_crud_persists_across_opening(tmp_path):
    path = tmp_path / "companion.db"
    with open_store(path) as store:
        store.add_profile(Profile("Mum"))
        store.add_profile(set_value(Profile("Dad"), "preset", "caregiver"))
        store.save_profile(set_value(store.get_profile("Mum"), "conditions", "acute,osteoporosis"))
    with open_store(path) as store:
        assert [p.name for p in store.list_profiles()] == ["Dad", "Mum"]
        mum = store.get_profile("Mum")
        assert mum == Profile("Mum", conditions=("acute", "osteoporosis"))
        dad = store.get_profile("Dad")
        assert {k: getattr(dad, k) for k in CAREGIVER_PRESET} == CAREGIVER_PRESET
        assert store.profile_created("Dad") is not None
        assert store.remove_profile("Dad") is True
        assert store.remove_profile("Dad") is False
    with open_store(path) as store:
        assert store.get_profile("Dad") is None and [p.name for p in store.list_profiles()] == ["Mum"]


def test_profile_names_are_case_insensitive_and_unique(store):
    store.add_profile(Profile("Mum"))
    with pytest.raises(DuplicateProfile):
        store.add_profile(Profile("mum"))
    assert store.get_profile("MUM").name == "Mum"
    store.save_profile(Profile("mum", pace=2.0))  # updates, keeps the original spelling
    assert store.get_profile("Mum") == Profile("Mum", pace=2.0)


@pytest.mark.parametrize("name", ["", " Mum", "Mum ", "a\nb", "x" * 61])
def test_bad_profile_names_are_refused(store, name):
    with pytest.raises(ProfileError):
        store.add_profile(Profile(name))


def test_removing_a_profile_keeps_its_history(store, library):
    store.add_profile(Profile("Mum"))
    sid, _ = run_into_store(store, library, "wall-standing", START)
    store.remove_profile("Mum")
    assert [s.id for s in store.sessions(user="Mum")] == [sid]
    assert store.events(sid) and "Mum" in store.users()


# -- files, permissions, journal -------------------------------------------------


def test_file_and_folder_are_private_whatever_the_umask(tmp_path):
    old = os.umask(0)
    try:
        path = tmp_path / "new-folder" / "companion.db"
        with open_store(path) as store:
            store.add_profile(Profile("Mum"))
            wal = Path(f"{path}-wal")
            assert wal.exists() and mode(wal) == 0o600
        assert mode(path) == 0o600
        assert mode(path.parent) == 0o700
    finally:
        os.umask(old)


def test_default_path_is_in_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_HOME", str(tmp_path / "home"))
    assert default_db_path() == tmp_path / "home" / "companion.db"
    with open_store() as store:
        assert store.path == tmp_path / "home" / "companion.db"
    assert mode(tmp_path / "home") == 0o700 and mode(tmp_path / "home" / "companion.db") == 0o600


def test_wal_journal_and_normal_sync(store):
    conn = store._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL (restored after durable writes)
    store.add_profile(Profile("Mum"))
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_unwritable_place_is_a_clear_error(tmp_path):
    (tmp_path / "folder.db").mkdir()
    with pytest.raises(StoreError, match="cannot create the database at"):
        open_store(tmp_path / "folder.db")


def test_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "companion.db"
    path.write_bytes(b"this is not a database, just some text\n" * 200)
    with pytest.raises(StoreError) as info:
        open_store(path)
    message = str(info.value)
    assert message.startswith(f"cannot read the database at {path}: file is not a database. It is damaged")
    assert f"companion doctor --db {path}" in message and "--salvage" in message
    assert "move the damaged file aside" in message


# -- migrations ------------------------------------------------------------------

# Version 1 exactly as it was, written by hand: no events.at column, no indexes.
V1_DDL = [
    "CREATE TABLE profiles (name TEXT PRIMARY KEY COLLATE NOCASE, settings TEXT NOT NULL, created_at TEXT NOT NULL)",
    """CREATE TABLE sessions (id INTEGER PRIMARY KEY, user TEXT COLLATE NOCASE, entry_id TEXT NOT NULL,
       started_at TEXT NOT NULL, virtual INTEGER NOT NULL DEFAULT 0, ended_at TEXT, reason TEXT)""",
    """CREATE TABLE events (id INTEGER PRIMARY KEY,
       session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE, seq INTEGER NOT NULL,
       t REAL NOT NULL, who TEXT NOT NULL, kind TEXT NOT NULL, text TEXT NOT NULL DEFAULT '',
       data TEXT NOT NULL DEFAULT '{}')""",
]


def make_v1(path: Path) -> None:
    conn = sqlite3.connect(path)
    for ddl in V1_DDL:
        conn.execute(ddl)
    conn.execute("INSERT INTO profiles VALUES ('Mum', ?, '2024-05-01T08:00:00.000000+00:00')",
                 (json.dumps({"pace": 1.5, "caregiver": True, "conditions": ["acute"]}),))
    conn.execute("INSERT INTO sessions VALUES (1, 'Mum', 'wall-standing', '2024-05-06T09:00:00.000000+00:00', 0, "
                 "'2024-05-06T09:06:00.000000+00:00', 'completed')")
    events = [(1, 1, 0.0, "companion", "step_started", "Introduction", "{}"),
              (1, 2, 12.5, "companion", "exercise_started", "Wall standing", '{"routine_id": "wall-standing"}'),
              (1, 3, 360.0, "companion", "finished", "completed", '{"reason": "completed"}')]
    conn.executemany("INSERT INTO events (session_id, seq, t, who, kind, text, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     events)
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


def test_a_new_database_has_the_current_schema(store):
    assert store.schema_version == SCHEMA_VERSION == len(MIGRATIONS) >= 2


def test_upgrade_from_v1_keeps_data_and_adds_wall_times_and_indexes(tmp_path):
    path = tmp_path / "old.db"
    make_v1(path)
    with open_store(path) as store:
        assert store.schema_version == SCHEMA_VERSION
        assert store.get_profile("mum") == Profile("Mum", pace=1.5, caregiver=True, conditions=("acute",))
        [session] = store.sessions(user="Mum")
        assert session.reason == "completed" and session.duration == 360.0 and session.event_count == 3
        events = store.events(1)
        assert [e["kind"] for e in events] == ["step_started", "exercise_started", "finished"]
        assert datetime.fromisoformat(events[1]["at"]) == START + timedelta(seconds=12.5)
        indexes = {row[0] for row in store._conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"events_by_session", "sessions_by_user"} <= indexes
        # and it carries on as a current database: new events continue the sequence
        assert store.add_event(1, {"t": 361.0, "who": "companion", "kind": "note", "text": "later"}) == 4
        assert store.practice("Mum") == [Practice("wall-standing", START + timedelta(seconds=12.5), True, 1)]


def test_a_database_from_a_newer_version_is_refused_untouched(tmp_path):
    path = tmp_path / "new.db"
    open_store(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=rf"newer version of companion \(schema {SCHEMA_VERSION + 1}; "
                                         rf"this version understands up to {SCHEMA_VERSION}\)"):
        open_store(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
    conn.close()


def test_a_failed_migration_leaves_the_old_version(tmp_path):
    path = tmp_path / "old.db"
    make_v1(path)

    def broken(conn):
        conn.execute("ALTER TABLE events ADD COLUMN at TEXT")
        raise sqlite3.OperationalError("disk I/O error")

    original = MIGRATIONS[1]
    MIGRATIONS[1] = broken
    try:
        with pytest.raises(StoreError, match="cannot upgrade the database at .* from schema 1 to 2: disk I/O"):
            open_store(path)
    finally:
        MIGRATIONS[1] = original
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert "at" not in [row[1] for row in conn.execute("PRAGMA table_info(events)")]
    conn.close()


def test_upgrade_from_v2_adds_the_unsaved_count(tmp_path):
    path = tmp_path / "v2.db"
    make_v1(path)
    conn = sqlite3.connect(path)
    MIGRATIONS[1](conn)  # exactly what version 2 was
    conn.execute("PRAGMA user_version = 2")
    conn.commit()
    conn.close()
    with open_store(path) as store:
        assert store.schema_version == SCHEMA_VERSION >= 3
        [session] = store.sessions(user="Mum")
        assert session.unsaved == 0 and session.reason == "completed" and session.event_count == 3
        store.finish_session(session.id, "completed", START + timedelta(minutes=6), unsaved=4)
        assert store.session(session.id).unsaved == 4


def test_a_damaged_time_in_an_old_file_does_not_stop_the_upgrade_with_a_traceback(tmp_path):
    path = tmp_path / "old.db"
    make_v1(path)
    conn = sqlite3.connect(path)
    conn.execute("UPDATE sessions SET started_at = 'not a time'")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="cannot upgrade the database at .* from schema 1 to 2: .*left as it was"):
        open_store(path)


# -- what is wrong, and what to do ---------------------------------------------------


def sqlite_error(message, code):
    exc = sqlite3.OperationalError(message)
    exc.sqlite_errorcode = code
    return exc


@pytest.mark.parametrize("exc, says", [
    (OSError(errno.ENOSPC, "No space left on device"), "the disk is full"),
    (sqlite_error("database or disk is full", 13), "the disk is full"),
    (sqlite3.OperationalError("database or disk is full"), "the disk is full"),  # no code: judged by its words
    (OSError(errno.EROFS, "Read-only file system"), "check its permissions"),
    (sqlite_error("attempt to write a readonly database", 8), "check its permissions"),
    (sqlite_error("unable to open database file", 14), "check its permissions"),
    (sqlite_error("database is locked", 5), "is busy"),
    (sqlite_error("disk I/O error", 10 | (1 << 8)), "input/output error"),
    (sqlite_error("database disk image is malformed", 11), "It is damaged"),
    (sqlite_error("file is not a database", 26), "It is damaged"),
    (sqlite_error("something new", 1), "cannot use the database"),
])
def test_the_advice_fits_the_error(tmp_path, exc, says):
    path = tmp_path / "companion.db"
    message = unreadable_message(path, exc)
    assert says in message
    assert ("aside" in message) == (says == "It is damaged")  # only damage is worth moving aside


# -- damaged rows -----------------------------------------------------------------


def test_damaged_rows_are_skipped_and_told_once_on_close(tmp_path, capsys):
    path = tmp_path / "companion.db"
    store = open_store(path)
    store.add_profile(Profile("Mum", conditions=("acute",)))
    first = store.start_session("Mum", "wall-standing", START, virtual=False)
    second = store.start_session("Mum", "wall-standing", START + timedelta(days=1), virtual=False)
    for sid in (first, second):
        for n in range(3):
            store.add_event(sid, {"t": float(n), "who": "companion", "kind": "say", "text": f"cue {n}"})
    conn = store._conn
    conn.execute("UPDATE events SET data = '[1, 2]' WHERE session_id = ? AND seq = 2", (first,))
    conn.execute("UPDATE events SET who = x'07' WHERE session_id = ? AND seq = 3", (first,))
    conn.execute("UPDATE sessions SET ended_at = 'later', reason = 'completed' WHERE id = ?", (second,))
    conn.execute("UPDATE profiles SET settings = ? WHERE name = 'Mum'",
                 (json.dumps({"volume": "loud", "conditions": ["acute"], "repeat_cues": 1.5}),))
    assert [e["text"] for e in store.events(first)] == ["cue 0"]
    assert [e["text"] for e in store.events(first)] == ["cue 0"]  # read again: still counted once
    assert [s.id for s in store.sessions("Mum")] == [first]
    assert store.get_profile("Mum") == Profile("Mum", conditions=("acute",))
    assert store.skipped == {"event": 2, "session": 1, "profile setting": 2}
    assert store.damage[("session", second)].problem == "its end time 'later' is not a date and time"
    assert capsys.readouterr().err == ""
    store.close()
    store.close()
    assert capsys.readouterr().err == (f"2 damaged profile settings, 1 damaged session and 2 damaged events were "
                                       f"skipped (their defaults were used); run `companion doctor --db {path}` "
                                       f"to see what is damaged\n")


def test_a_healthy_store_says_nothing_on_close(store, capsys):
    store.add_profile(Profile("Mum"))
    store.list_profiles()
    store.close()
    assert store.skipped == {} and capsys.readouterr().err == ""


# -- sessions and events -----------------------------------------------------------


def test_events_round_trip_with_seq_and_wall_time(store):
    sid = store.start_session("Mum", "wall-standing", START, virtual=False)
    records = [
        {"t": 0.0, "who": "companion", "kind": "say", "text": "Stand with your back to a wall.", "say": "instruction"},
        {"t": 80.25, "who": "user", "kind": "heard", "text": "pause", "command": "pause", "source": "voice",
         "confidence": 0.91},
        {"t": 81.0, "who": "companion", "kind": "state", "text": "paused", "state": "paused", "pace": 1.0},
    ]
    for record in records:
        store.add_event(sid, record)
    events = store.events(sid)
    assert [e["seq"] for e in events] == [1, 2, 3]
    for event, record in zip(events, records):
        assert {k: v for k, v in event.items() if k not in ("seq", "at")} == record
    assert datetime.fromisoformat(events[1]["at"]) == START + timedelta(seconds=80.25)


def test_events_are_visible_to_another_connection_at_once(store):
    sid = store.start_session("Mum", "wall-standing", START, virtual=False)
    other = sqlite3.connect(store.path)
    try:
        for n in range(1, 6):
            store.add_event(sid, {"t": float(n), "who": "companion", "kind": "say", "text": f"cue {n}"})
            assert other.execute("SELECT COUNT(*) FROM events WHERE session_id = ?", (sid,)).fetchone()[0] == n
    finally:
        other.close()


CRASHER = """
import os, signal, sys
from datetime import datetime, timezone
from companion.care.store import open_store
store = open_store(sys.argv[1])
sid = store.start_session("Mum", "wall-standing", datetime(2024, 5, 6, 9, tzinfo=timezone.utc), virtual=False)
for n in range(int(sys.argv[2])):
    store.add_event(sid, {"t": n * 0.5, "who": "companion", "kind": "say", "text": f"cue {n}"})
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_sigkill_loses_no_event_already_written(tmp_path):
    path = tmp_path / "companion.db"
    n = 250
    done = subprocess.run([sys.executable, "-c", CRASHER, str(path), str(n)], cwd=ROOT, timeout=60,
                          capture_output=True, text=True, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr
    with open_store(path) as store:
        [session] = store.sessions(user="Mum")
        events = store.events(session.id)
        assert [e["text"] for e in events] == [f"cue {i}" for i in range(n)]
        assert session.ended_at is None and session.reason is None and session.last_t == (n - 1) * 0.5
        assert store.last_unfinished("Mum") == session


def test_sessions_filter_by_user_and_since_in_start_order(store):
    later = store.start_session("Mum", "wall-standing", START + timedelta(days=2), virtual=True)
    earlier = store.start_session("mum", "neck-gaze-rotation", START, virtual=True)
    other = store.start_session("Dad", "wall-standing", START + timedelta(days=1), virtual=True)
    anonymous = store.start_session(None, "wall-standing", START, virtual=False)
    assert [s.id for s in store.sessions(user="MUM")] == [earlier, later]
    assert [s.id for s in store.sessions()] == [earlier, anonymous, other, later]
    assert [s.id for s in store.sessions(since=START + timedelta(days=1))] == [other, later]
    # naive datetimes are local time
    naive = (START + timedelta(days=1)).astimezone().replace(tzinfo=None)
    assert [s.id for s in store.sessions(since=naive)] == [other, later]
    row = store.session(earlier)
    assert row.started_at == START and row.started_at.tzinfo is not None and row.virtual and row.user == "mum"


def test_last_unfinished_is_the_latest_session_if_it_did_not_end(store):
    assert store.last_unfinished("Mum") is None
    first = store.start_session("Mum", "wall-standing", START, virtual=False)
    assert store.last_unfinished("Mum").id == first  # killed: never closed
    store.finish_session(first, "interrupted", START + timedelta(minutes=2))
    assert store.last_unfinished("mum").id == first  # Ctrl-C
    second = store.start_session("Mum", "wall-standing", START + timedelta(hours=2), virtual=False)
    store.finish_session(second, "completed", START + timedelta(hours=2, minutes=6))
    assert store.last_unfinished("Mum") is None  # a later session ran: the old one is not offered
    anon = store.start_session(None, "desk-break", START, virtual=False)
    assert store.last_unfinished(None).id == anon and store.last_unfinished("Mum") is None


def test_add_event_to_a_missing_session_is_an_error(store):
    with pytest.raises(StoreError, match="no session 42"):
        store.add_event(42, {"t": 0.0, "who": "companion", "kind": "say", "text": "hello"})


def test_the_store_refuses_use_from_another_thread(store):
    errors = []

    def use():
        try:
            store.list_profiles()
        except sqlite3.ProgrammingError as exc:
            errors.append(exc)

    thread = threading.Thread(target=use)
    thread.start()
    thread.join()
    assert errors and "thread" in str(errors[0])


# -- the session output ---------------------------------------------------------


def test_store_output_records_a_whole_session(store, library):
    sid, records = run_into_store(store, library, "desk-break", START)
    session = store.session(sid)
    assert session.reason == "completed" and session.virtual
    events = store.events(sid)
    assert [{k: v for k, v in e.items() if k not in ("seq", "at")} for e in events] == records
    assert session.ended_at == START + timedelta(seconds=records[-1]["t"])
    assert store.last_unfinished("Mum") is None


def test_store_output_reasons(store, library):
    sid, _ = run_into_store(store, library, "wall-standing", START, script=[(100, "stop")])
    assert store.session(sid).reason == "stopped"
    # Ctrl-C: the runner notes "interrupted", then feeds stop ("finished: stopped")
    output = StoreOutput.begin(store, "Mum", "wall-standing", START, virtual=False)
    output.write({"t": 5.0, "who": "companion", "kind": "interrupted", "text": "Interrupted with Ctrl-C."})
    output.write({"t": 5.0, "who": "companion", "kind": "finished", "text": "stopped", "reason": "stopped"})
    output.close()
    output.close()  # closing twice is harmless
    assert store.session(output.session_id).reason == "interrupted"
    # no finished record at all
    output = StoreOutput.begin(store, "Mum", "wall-standing", START, virtual=False)
    output.write({"t": 7.5, "who": "companion", "kind": "say", "text": "Stand with your back to a wall."})
    output.close()
    session = store.session(output.session_id)
    assert session.reason == "interrupted" and session.ended_at == START + timedelta(seconds=7.5)
    # a future reason passes through
    output = StoreOutput.begin(store, "Mum", "wall-standing", START, virtual=False)
    output.write({"t": 3.0, "who": "companion", "kind": "finished", "text": "red-flag", "reason": "red-flag"})
    output.close()
    assert store.session(output.session_id).reason == "red-flag"


def test_store_output_carries_on_when_the_database_fails(store, capsys):
    output = StoreOutput.begin(store, "Mum", "wall-standing", START, virtual=False)
    output.write({"t": 0.0, "who": "companion", "kind": "say", "text": "one"})
    store._conn.close()
    output.write({"t": 1.0, "who": "companion", "kind": "say", "text": "two"})
    output.write({"t": 2.0, "who": "companion", "kind": "say", "text": "three"})
    output.close()
    assert output.problem and "Cannot write to the history database" in output.problem
    assert capsys.readouterr().err.count("Cannot write") == 1
    assert output.unsaved == 2


def test_store_output_stores_how_many_events_were_not_saved(store, capsys):
    output = StoreOutput.begin(store, "Mum", "wall-standing", START, virtual=False)
    output.write({"t": 0.0, "who": "companion", "kind": "say", "text": "one"})

    def full(session_id, record):
        raise sqlite_error("database or disk is full", 13)

    store.add_event = full
    output.write({"t": 1.0, "who": "companion", "kind": "say", "text": "two"})
    output.write({"t": 2.0, "who": "companion", "kind": "finished", "text": "completed", "reason": "completed"})
    output.close()
    session = store.session(output.session_id)
    assert session.reason == "completed" and session.unsaved == 2 and session.event_count == 1
    assert "the disk is full" in output.problem and "aside" not in output.problem
    assert capsys.readouterr().err.count("Cannot write") == 1


def test_store_output_that_cannot_even_start_lets_the_session_go_on(store, capsys):
    def full(*args):
        raise StoreError("cannot write to the database: the disk is full")

    store.start_session = full
    output = StoreOutput.begin(store, "Mum", "wall-standing", START, virtual=False)
    output.write({"t": 0.0, "who": "companion", "kind": "say", "text": "one"})
    output.close()
    assert output.session_id is None and output.unsaved == 1 and store.sessions() == []
    assert capsys.readouterr().err.count("Cannot write") == 1


# -- practice ---------------------------------------------------------------------


def test_practice_from_whole_and_stopped_programmes(store, library):
    whole, records = run_into_store(store, library, "desk-break", START)
    starts = [r for r in records if r["kind"] == "exercise_started"]
    assert [r["routine_id"] for r in starts] == ["neck-gaze-rotation", "wall-standing"]
    day2 = START + timedelta(days=1)
    stop_at = next(r["t"] for r in run_into_store(store, library, "desk-break", day2, user="Dad")[1]
                   if r["kind"] == "exercise_started" and r["routine_id"] == "wall-standing") + 30
    stopped, _ = run_into_store(store, library, "desk-break", day2, script=[(stop_at, "stop")])
    practice = store.practice("Mum")
    assert [(p.routine_id, p.completed, p.session_id) for p in practice] == [
        ("neck-gaze-rotation", True, whole), ("wall-standing", True, whole),
        ("neck-gaze-rotation", True, stopped), ("wall-standing", False, stopped)]
    assert practice[1].at == START + timedelta(seconds=starts[1]["t"])
    assert [p.session_id for p in store.practice("Mum", since=day2)] == [stopped, stopped]


def test_practice_for_a_killed_session_is_not_completed(store):
    sid = store.start_session("Mum", "mckenzie-1-prone-lying", START, virtual=False)
    store.add_event(sid, {"t": 10.0, "who": "companion", "kind": "exercise_started", "text": "Lying face down",
                          "routine_id": "mckenzie-1-prone-lying"})
    store.add_event(sid, {"t": 70.0, "who": "companion", "kind": "say", "text": "Relax completely."})
    assert store.practice("Mum") == [Practice("mckenzie-1-prone-lying", START + timedelta(seconds=10), False, sid)]


def test_practice_prefers_exercise_done_records(store):
    sid = store.start_session("Mum", "mckenzie-5", START, virtual=False)

    def event(t, kind, routine=None, **extra):
        store.add_event(sid, {"t": t, "who": "companion", "kind": kind, "text": kind,
                              **({"routine_id": routine} if routine else {}), **extra})

    event(0, "exercise_started", "mckenzie-5-flexion-lying")
    event(60, "exercise_done", "mckenzie-5-flexion-lying")
    event(61, "exercise_started", "mckenzie-3-prone-press-up")  # started, then "next"-ed to the end: no done
    event(70, "exercise_started", "mckenzie-1-prone-lying")
    event(90, "exercise_done", "mckenzie-1-prone-lying")
    event(91, "exercise_done", "neck-gaze-rotation")  # a done without a start still counts, at its own time
    event(92, "finished", reason="completed")
    got = [(p.routine_id, (p.at - START).total_seconds(), p.completed) for p in store.practice("Mum")]
    assert got == [("mckenzie-5-flexion-lying", 0, True), ("mckenzie-3-prone-press-up", 61, False),
                   ("mckenzie-1-prone-lying", 70, True), ("neck-gaze-rotation", 91, True)]


def test_practice_of_an_unknown_user_is_empty(store):
    assert store.practice("Nobody") == []
