"""`companion profile ...` and `companion history`: messages, exit codes, JSON, confirmation, bad files."""

from __future__ import annotations

import argparse
import io
import json
import re
import sqlite3
from datetime import datetime, timedelta

import pytest

from companion.cli.history import register as add_history_parser
from companion.cli.profile import register as add_profile_parser
from companion.care.profiles import CAREGIVER_PRESET, Profile
from companion.care.store import SCHEMA_VERSION, StoreOutput, open_store
from companion.engine.clock import VirtualClock
from companion.language.heard import Heard
from companion.app.runner import Runner
from companion.language.vocabulary import load_vocabulary
from tests.conftest import make_session

START = datetime(2024, 5, 6, 9, 0).astimezone()  # local time, as a caregiver would pass --at


def parser() -> argparse.ArgumentParser:
    """The two parsers wired the way cli.build_parser wires them."""
    p = argparse.ArgumentParser(prog="companion")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    add_profile_parser(sub)
    add_history_parser(sub)
    return p


@pytest.fixture
def db(tmp_path):
    return tmp_path / "household.db"


@pytest.fixture
def cli(capsys, db):
    def run(*argv, use_db=True):
        args = parser().parse_args([*argv, *(["--db", str(db)] if use_db else [])])
        code = args.func(args)
        out = capsys.readouterr()
        assert "Traceback" not in out.err
        return code, out.out, out.err

    return run


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


# -- profile ----------------------------------------------------------------------


def test_add_list_show(cli, db):
    assert cli("profile", "list")[1].startswith("No profiles yet. Add one with: companion profile add NAME")
    code, out, _ = cli("profile", "add", "Mum", "--preset", "caregiver")
    assert code == 0 and "Added profile Mum with the caregiver preset." in out and "confirm_steps  yes" in out
    assert cli("profile", "add", "Dad")[0] == 0
    code, out, _ = cli("profile", "list")
    assert code == 0 and re.search(r"^\s+Dad\s+default settings$", out, re.M)
    assert re.search(r"^\s+Mum\s+caregiver; pace x1.5$", out, re.M)
    code, out, _ = cli("profile", "show", "mum")
    assert code == 0 and "Profile Mum" in out and re.search(r"speech_rate\s+130", out)
    assert "0 session(s) recorded" in out
    with open_store(db) as store:
        mum = store.get_profile("Mum")
    assert {k: getattr(mum, k) for k in CAREGIVER_PRESET} == CAREGIVER_PRESET


def test_list_and_show_json(cli):
    cli("profile", "add", "Mum", "--preset", "caregiver")
    cli("profile", "add", "Dad")
    code, out, _ = cli("profile", "list", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["name"] for r in rows] == ["Dad", "Mum"]
    assert rows[0] == Profile("Dad").as_dict()
    code, out, _ = cli("profile", "show", "Mum", "--json")
    data = json.loads(out)
    assert data["caregiver"] is True and data["pace"] == 1.5 and data["conditions"] == [] and data["sessions"] == 0
    assert datetime.fromisoformat(data["created_at"])


def test_adding_twice_is_refused(cli):
    cli("profile", "add", "Mum")
    code, _, err = cli("profile", "add", "mum")
    assert code == 1 and "There is already a profile called 'Mum'" in err and "profile set" in err


def test_bad_name_is_refused(cli):
    code, _, err = cli("profile", "add", " Mum")
    assert code == 1 and "Cannot add ' Mum'" in err


def test_set_changes_and_persists(cli, db):
    cli("profile", "add", "Mum")
    code, out, _ = cli("profile", "set", "Mum", "pace", "1.5")
    assert code == 0 and out.strip() == "Mum: pace = 1.5"
    code, out, _ = cli("profile", "set", "Mum", "conditions", "acute,osteoporosis")
    assert code == 0 and out.strip() == "Mum: conditions = acute, osteoporosis"
    code, out, _ = cli("profile", "set", "Mum", "preset", "caregiver")
    assert code == 0 and "Mum: confirm_steps = yes" in out and "Mum: speech_rate = 130" in out
    with open_store(db) as store:
        mum = store.get_profile("Mum")
    assert mum.pace == 1.5 and mum.conditions == ("acute", "osteoporosis") and mum.confirm_steps


@pytest.mark.parametrize("key, value, allowed", [
    ("pace", "3", "pace must be one of 0.75, 1, 1.25, 1.5, 2"),
    ("volume", "loud", "volume needs a number"),
    ("speech_rate", "500", "between 80 and 260"),
    ("conditions", "flu", "known: acute, osteoporosis, pregnancy, recent-surgery"),
    ("caregiver", "maybe", "caregiver must be yes or no"),
    ("colour", "red", "settings: caregiver, conditions, confirm_steps, pace, preset, repeat_cues, speech_rate"),
    ("preset", "athlete", "the only preset is 'caregiver'"),
])
def test_set_errors_say_what_is_allowed(cli, db, key, value, allowed):
    cli("profile", "add", "Mum")
    code, out, err = cli("profile", "set", "Mum", key, value)
    assert code == 1 and f"Cannot set {key}:" in err and allowed in err and out == ""
    with open_store(db) as store:
        assert store.get_profile("Mum") == Profile("Mum")


def test_unknown_profile_lists_the_known_ones(cli):
    code, _, err = cli("profile", "show", "Mum")
    assert code == 1 and "There is no profile called 'Mum', and there are no profiles yet" in err
    cli("profile", "add", "Margaret")
    cli("profile", "add", "Dad")
    for action in (["show", "Margret"], ["set", "Margret", "pace", "1.5"], ["remove", "Margret", "--yes"]):
        code, _, err = cli("profile", *action)
        assert code == 1 and "There is no profile called 'Margret'. Did you mean 'Margaret'?" in err
        assert "Known profiles: Dad, Margaret." in err


def test_remove_with_yes(cli, db):
    cli("profile", "add", "Mum")
    code, out, _ = cli("profile", "remove", "Mum", "--yes")
    assert code == 0 and out.strip() == "Removed profile Mum."
    with open_store(db) as store:
        assert store.list_profiles() == []


def test_remove_without_a_terminal_needs_yes(cli, db, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))  # piped input is not a confirmation
    cli("profile", "add", "Mum")
    code, _, err = cli("profile", "remove", "Mum")
    assert code == 2 and "Not removing profile Mum" in err and "--yes" in err
    with open_store(db) as store:
        assert store.get_profile("Mum") is not None


@pytest.mark.parametrize("answer, removed", [("y\n", True), ("yes\n", True), ("n\n", False), ("\n", False),
                                             ("", False)])
def test_remove_asks_on_a_terminal(cli, db, monkeypatch, answer, removed):
    cli("profile", "add", "Mum")
    monkeypatch.setattr("sys.stdin", Terminal(answer))
    code, out, _ = cli("profile", "remove", "Mum")
    assert out.startswith("Remove profile Mum? [y/N] ")
    assert (code == 0) is removed and ("Removed profile Mum." in out) is removed
    with open_store(db) as store:
        assert (store.get_profile("Mum") is None) is removed


def test_bare_profile_prints_help(cli):
    code, out, _ = cli("profile", use_db=False)
    assert code == 2 and "add" in out and "remove" in out


def test_default_database_is_in_companion_home(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("COMPANION_HOME", str(tmp_path / "home"))
    assert cli("profile", "add", "Mum", use_db=False)[0] == 0
    with open_store(tmp_path / "home" / "companion.db") as store:
        assert store.get_profile("Mum") is not None


# -- history -----------------------------------------------------------------------


def record_session(db, library, user, entry_id, started_at, script=()):
    with open_store(db) as store:
        output = StoreOutput.begin(store, user, entry_id, started_at, virtual=True)
        runner = Runner(make_session(library, entry_id), VirtualClock(), load_vocabulary(), [output],
                        script=[Heard(t, text, "script") for t, text in script])
        runner.run()
        return output.session_id, runner.records


def kill_session(db, user, entry_id, started_at):
    """A real-clock session whose process died: events, but never closed."""
    with open_store(db) as store:
        sid = store.start_session(user, entry_id, started_at, virtual=False)
        store.add_event(sid, {"t": 0.0, "who": "companion", "kind": "say", "text": "Lie face down."})
        store.add_event(sid, {"t": 95.0, "who": "user", "kind": "heard", "text": "pause", "command": "pause",
                              "source": "voice"})
        return sid


@pytest.fixture
def history(cli, db, library):
    cli("profile", "add", "Mum", "--preset", "caregiver")
    done, records = record_session(db, library, "Mum", "wall-standing", START)
    stopped, _ = record_session(db, library, "Mum", "desk-break", START + timedelta(days=1), script=[(100, "stop")])
    killed = kill_session(db, "Mum", "mckenzie-1-prone-lying", START + timedelta(days=1, hours=3))
    record_session(db, library, "Dad", "wall-standing", START)
    return {"done": (done, records), "stopped": stopped, "killed": killed}


def test_history_lists_date_routine_duration_and_ending(cli, history):
    code, out, _ = cli("history", "--user", "mum")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "Sessions for Mum (3):"
    duration = history["done"][1][-1]["t"]
    minutes, seconds = divmod(round(duration), 60)
    assert re.match(rf"\s+2024-05-06 09:00\s+wall-standing\s+{minutes}:{seconds:02d}\s+completed  \(virtual clock\)$",
                    lines[1]), lines[1]
    assert re.match(r"\s+2024-05-07 09:00\s+desk-break\s+1:40\s+stopped early", lines[2]), lines[2]
    assert re.match(r"\s+2024-05-07 12:00\s+mckenzie-1-prone-lying\s+1:35\s+did not finish", lines[3]), lines[3]
    assert "Dad" not in out


def test_history_events_in_text(cli, history):
    code, out, _ = cli("history", "--user", "Mum", "--events")
    assert code == 0 and re.search(r"\[1:35\] you\s+heard\s+pause", out)


def test_history_json_has_sessions_and_their_events(cli, history):
    code, out, _ = cli("history", "--user", "Mum", "--json")
    data = json.loads(out)
    assert code == 0 and data["user"] == "Mum" and len(data["sessions"]) == 3
    first, second, third = data["sessions"]
    sid, records = history["done"]
    assert first["id"] == sid and first["entry_id"] == "wall-standing" and first["reason"] == "completed"
    assert first["virtual"] is True and first["event_count"] == len(records)
    assert [{k: v for k, v in e.items() if k not in ("seq", "at")} for e in first["events"]] == records
    assert datetime.fromisoformat(first["events"][-1]["at"]) == START + timedelta(seconds=records[-1]["t"])
    assert second["reason"] == "stopped" and second["duration_seconds"] == 100.0
    assert third["reason"] is None and third["ended_at"] is None and third["ending"].startswith("did not finish")
    assert [e["text"] for e in third["events"]] == ["Lie face down.", "pause"]


def test_history_of_everyone(cli, history):
    code, out, _ = cli("history")
    assert code == 0 and out.startswith("Sessions for everyone (4):") and re.search(r"Dad\s+wall-standing", out)


def test_history_is_kept_after_the_profile_is_removed(cli, history):
    cli("profile", "remove", "Mum", "--yes")
    code, out, _ = cli("history", "--user", "Mum")
    assert code == 0 and "Sessions for Mum (3):" in out


def test_history_unknown_user(cli, history):
    code, out, err = cli("history", "--user", "Bob")
    assert code == 1 and out == ""
    assert "There is no profile or history for 'Bob'. Known profiles: Dad, Mum." in err


def test_history_for_a_profile_without_sessions(cli):
    cli("profile", "add", "Mum")
    code, out, _ = cli("history", "--user", "Mum")
    assert code == 0 and out.strip() == "No sessions recorded for Mum yet."
    code, out, _ = cli("history", "--user", "Mum", "--json")
    assert json.loads(out)["sessions"] == []


# -- bad database files -------------------------------------------------------------


@pytest.mark.parametrize("argv", [["profile", "list"], ["profile", "add", "Mum"], ["profile", "show", "Mum"],
                                  ["profile", "set", "Mum", "pace", "1.5"], ["profile", "remove", "Mum", "--yes"],
                                  ["history", "--user", "Mum"], ["history", "--json"]])
def test_a_corrupt_database_is_one_clear_line(cli, db, argv):
    db.write_bytes(b"SQLite format 2\x00" + b"\x07" * 4000)
    code, out, err = cli(*argv)
    assert code == 1 and out == ""
    assert err.startswith(f"cannot read the database at {db}: file is not a database. It is damaged")
    assert f"companion doctor --db {db}" in err and "move the damaged file aside" in err
    assert len(err.strip().splitlines()) == 1


def test_damage_found_after_opening_is_one_clear_line(cli, db, library):
    cli("profile", "add", "Mum")
    record_session(db, library, "Mum", "desk-break", START)
    with open_store(db) as store:  # checkpoint everything into the main file, then close
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(db.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data), page):  # scribble over every page but the first
        data[offset:offset + 200] = b"\xff" * 200
    db.write_bytes(bytes(data))
    code, _, err = cli("history", "--user", "Mum", "--json")
    assert code == 1
    assert err.startswith(f"cannot read the database at {db}: database disk image is malformed. It is damaged")
    assert "--salvage" in err and len(err.strip().splitlines()) == 1


def test_a_newer_database_is_refused(cli, db):
    cli("profile", "add", "Mum")
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 5}")
    conn.commit()
    conn.close()
    code, _, err = cli("profile", "list")
    assert code == 1 and "written by a newer version of companion" in err and "--db PATH" in err


def test_an_unwritable_database_place(cli, tmp_path):
    (tmp_path / "folder.db").mkdir()
    args = parser().parse_args(["profile", "list", "--db", str(tmp_path / "folder.db")])
    assert args.func(args) == 1
