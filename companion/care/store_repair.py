"""Checking a history file and salvaging what can be read (``companion doctor --db``).

The original is only ever opened read-only; a salvaged copy is a new file made by
:func:`companion.care.store.open_store`, so it has the current schema and modes.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from companion.care.store import (
    BadRow, DAMAGED, Damage, PERMISSION, SCHEMA_VERSION, UNREADABLE, backfill_flags, event_record, flag_row,
    is_number, StoreError, open_store, problem_kind, read_profile, read_time, schema_problem, session_row,
    table_names, to_text, too_new, unreadable_message, user_version,
)


WHOLE_TABLE = "cannot be read at all: the pages that index it are damaged"
UNKNOWN_ROUTINE = "unknown"


@dataclass
class Scan:
    """A read-only pass over a database file: every row that can be read, and what cannot (``damage``)."""

    path: Path
    schema: int | None = None
    problem: str | None = None  # why the file cannot be read at all (not a database, a newer schema...)
    note: str | None = None  # how it was read, when not the usual way
    integrity: list[str] = field(default_factory=list)  # SQLite's integrity_check findings; empty when fine
    profiles: list[tuple] = field(default_factory=list)  # rowid, name, settings, created_at
    sessions: list[tuple] = field(default_factory=list)  # _SESSION_BASE's columns (unsaved 0 in old files)
    events: list[tuple] = field(default_factory=list)  # id, session_id, seq, t, at, who, kind, text, data
    flags: list[tuple] | None = None  # the flags table's rows; None: a file from before red flags were kept
    damage: list[Damage] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return self.problem is None and not self.integrity and not self.damage

    @property
    def damaged_sessions(self) -> list[int]:
        """Sessions that are damaged themselves or have damaged events, by id."""
        return sorted({d.session_id for d in self.damage if d.session_id is not None})


def _connect_read_only(path: Path) -> tuple[sqlite3.Connection, str | None]:
    """A connection that cannot change the file; in a folder that cannot be written, the file as it is on disk."""
    uri = path.resolve().as_uri()
    conn = sqlite3.connect(f"{uri}?mode=ro", uri=True)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
        return conn, None
    except sqlite3.Error as exc:
        conn.close()
        if problem_kind(exc) != PERMISSION:
            raise
    conn = sqlite3.connect(f"{uri}?mode=ro&immutable=1", uri=True)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        conn.close()
        raise
    return conn, (f"{path.parent} cannot be written, so the file was read as it is on disk, without any "
                  f"{path.name}-wal next to it")


def _read_table(conn: sqlite3.Connection, table: str, select: str,
                id_sql: str) -> tuple[list[tuple], list[tuple[int, Any]], bool]:
    """Readable rows of ``table`` (``select`` starts with the rowid), the rowids that cannot be read (with
    what the index ``id_sql`` knows of them), and False when not even the ids can be found."""
    try:
        return conn.execute(f"SELECT {select} FROM {table} ORDER BY rowid").fetchall(), [], True
    except sqlite3.DatabaseError as exc:
        if problem_kind(exc) != DAMAGED:
            raise
    try:
        known: dict[int, Any] = dict(conn.execute(id_sql).fetchall())
    except sqlite3.Error:
        try:
            top = conn.execute(f"SELECT MAX(rowid) FROM {table}").fetchone()[0] or 0
        except sqlite3.Error:
            return [], [], False
        known = dict.fromkeys(range(1, top + 1))
    rows, lost = [], []
    for rowid, label in sorted(known.items()):
        try:
            row = conn.execute(f"SELECT {select} FROM {table} WHERE rowid = ?", (rowid,)).fetchone()
        except sqlite3.DatabaseError:
            lost.append((rowid, label))
            continue
        if row is not None:
            rows.append(row)
    return rows, lost, True


def _integrity(conn: sqlite3.Connection) -> list[str]:
    try:
        found = [str(row[0]) for row in conn.execute("PRAGMA integrity_check(20)")]
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [] if found == ["ok"] else found


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}


def _scan_rows(conn: sqlite3.Connection, scan: Scan) -> None:
    sessions = _columns(conn, "sessions")
    events = _columns(conn, "events")
    reads = {
        "profile": ("profiles", "rowid, name, settings, created_at",
                    "SELECT rowid, name FROM profiles INDEXED BY sqlite_autoindex_profiles_1"),
        "session": ("sessions", "id, user, entry_id, started_at, virtual, ended_at, reason, "
                                + ("unsaved" if "unsaved" in sessions else "0"),
                    "SELECT id, id FROM sessions INDEXED BY sessions_by_user"),
        "event": ("events", "id, session_id, seq, t, " + ("at" if "at" in events else "NULL")
                            + ", who, kind, text, data",
                  "SELECT id, session_id FROM events INDEXED BY events_by_session"),
    }
    found: dict[str, list[tuple]] = {}
    for kind, (table, select, id_sql) in reads.items():
        rows, lost, complete = _read_table(conn, table, select, id_sql)
        found[kind] = rows
        if not complete:
            scan.damage.append(Damage(kind, "*", f"the {table} table {WHOLE_TABLE}"))
        for rowid, label in lost:
            key = label if kind == "profile" and isinstance(label, str) else rowid
            session = label if kind != "profile" and isinstance(label, int) else None
            scan.damage.append(Damage(kind, key, UNREADABLE, session))
    scan.profiles, scan.sessions, scan.events = found["profile"], found["session"], found["event"]
    if "flags" in table_names(conn):
        rows, lost, complete = _read_table(conn, "flags", "id, user, flag_id, raised_at, session_id, source, "
                                           "cleared_at, cleared_by, note", "SELECT id, id FROM flags")
        if not complete:
            scan.damage.append(Damage("flag", "*", f"the flags table {WHOLE_TABLE}"))
        scan.damage.extend(Damage("flag", rowid, UNREADABLE) for rowid, _ in lost)
        scan.flags = rows
        for row in rows:
            try:
                flag_row(row)
            except BadRow as exc:
                scan.damage.append(Damage("flag", row[0], str(exc)))
    for rowid, name, settings, _created in scan.profiles:
        try:
            _profile, bad = read_profile(name, settings)
        except BadRow as exc:
            scan.damage.append(Damage("profile", f"row {rowid}", str(exc)))
            continue
        scan.damage.extend(Damage("profile setting", f"{name}: {key}", f"its {key} cannot be read")
                           for key in bad)
    for row in scan.sessions:
        try:
            session_row((*row, None, 0))
        except BadRow as exc:
            scan.damage.append(Damage("session", row[0], str(exc), row[0]))
    for event_id, session_id, seq, t, at, who, kind, text, data in scan.events:
        try:
            event_record((event_id, seq, t, at, who, kind, text, data))
        except BadRow as exc:
            scan.damage.append(Damage("event", event_id, str(exc), session_id if isinstance(session_id, int) else None))


def scan_database(path: Path) -> Scan:
    """Read every row of the file at ``path`` without changing it, checking each as the store does."""
    scan = Scan(path)
    if not path.is_file():
        scan.problem = f"there is no database file at {path}"
        return scan
    try:
        conn, scan.note = _connect_read_only(path)
    except sqlite3.Error as exc:
        scan.problem = unreadable_message(path, exc)
        return scan
    with closing(conn):
        try:
            scan.schema = user_version(conn)
            if scan.schema > SCHEMA_VERSION:
                scan.problem = str(too_new(path, scan.schema))
                return scan
            tables = table_names(conn)
            scan.problem = schema_problem(path, scan.schema, tables)
            if scan.problem is None and tables:
                scan.integrity = _integrity(conn)
                _scan_rows(conn, scan)
        except sqlite3.Error as exc:
            scan.problem = unreadable_message(path, exc)
    return scan


@dataclass
class Salvaged:
    """What :func:`salvage` copied into the new file, what it had to rebuild, and what it could not copy."""

    path: Path
    copied: Counter[str] = field(default_factory=Counter)  # profile, session, event, flag
    repaired: list[str] = field(default_factory=list)
    skipped: list[Damage] = field(default_factory=list)


def _start_from(events: list[tuple]) -> datetime | None:
    """A session's start worked out from its first event with a readable wall time (``at`` - ``t``)."""
    for _id, _sid, _seq, t, at, *_ in events:
        try:
            return read_time(at, "time") - timedelta(seconds=t)
        except BadRow:
            continue
    return None


def _copy_profiles(scan: Scan, conn: sqlite3.Connection, result: Salvaged) -> None:
    for rowid, name, settings, created in scan.profiles:
        try:
            profile, bad = read_profile(name, settings)
        except BadRow as exc:
            result.skipped.append(Damage("profile", f"row {rowid}", str(exc)))
            continue
        if bad:
            result.repaired.append(f"profile {profile.name}: {', '.join(bad)} set to the default")
        try:
            created_text = to_text(read_time(created, "creation time"))
        except BadRow:
            created_text = to_text(datetime.now(timezone.utc))
        try:
            conn.execute("INSERT INTO profiles (name, settings, created_at) VALUES (?, ?, ?)",
                         (profile.name, json.dumps({k: v for k, v in profile.as_dict().items() if k != "name"}),
                          created_text))
        except sqlite3.IntegrityError:
            result.skipped.append(Damage("profile", profile.name, "another profile has the same name"))
            continue
        result.copied["profile"] += 1


def _session_values(row: tuple, events: list[tuple], result: Salvaged) -> tuple | None:
    """The session row to write, with what can be rebuilt rebuilt; None when its start cannot be known."""
    sid, user, entry_id, started, virtual, ended, reason, unsaved = row
    try:
        start = read_time(started, "start time")
    except BadRow as exc:
        start = _start_from(events)
        if start is None:
            result.skipped.append(Damage("session", sid, f"{exc}, and none of its events has a time", sid))
            return None
        result.repaired.append(f"session {sid}: {exc}; its start was worked out from its events")
    if ended is not None:
        try:
            ended = to_text(read_time(ended, "end time"))
        except BadRow as exc:
            last = max((e[3] for e in events if is_number(e[3])), default=0.0)
            ended = to_text(start + timedelta(seconds=last))
            result.repaired.append(f"session {sid}: {exc}; its end was set to its last event")
    if not isinstance(entry_id, str):
        entry_id = UNKNOWN_ROUTINE
        result.repaired.append(f"session {sid}: its routine cannot be read; it is called '{UNKNOWN_ROUTINE}'")
    return (sid, user if isinstance(user, str) else None, entry_id, to_text(start),
            virtual if isinstance(virtual, int) else 0, ended, reason if isinstance(reason, str) else None,
            unsaved if isinstance(unsaved, int) else 0)


def _copy_history(scan: Scan, conn: sqlite3.Connection, result: Salvaged) -> None:
    by_session: dict[int, list[tuple]] = {}
    for row in scan.events:
        event_id, session_id, seq, t, _at, who, kind, text, data = row
        try:
            if not isinstance(session_id, int):
                raise BadRow(f"its session is {session_id!r}, not a number")
            event_record((event_id, seq, t, None, who, kind, text, data))
        except BadRow as exc:
            result.skipped.append(Damage("event", event_id, str(exc), session_id if isinstance(session_id, int)
                                         else None))
            continue
        by_session.setdefault(session_id, []).append(row)
    starts: dict[int, datetime] = {}
    rows = {row[0]: row for row in scan.sessions}
    for sid in sorted(rows.keys() | by_session.keys()):
        events = by_session.get(sid, [])
        if sid in rows:
            values = _session_values(rows[sid], events, result)
        else:  # the session's own row is lost: keep its events under an unnamed session
            start = _start_from(events)
            if start is None:
                result.skipped.append(Damage("session", sid, f"{UNREADABLE}, and none of its events has a time",
                                             sid))
                values = None
            else:
                last = max((e[3] for e in events), default=0.0)
                values = (sid, None, UNKNOWN_ROUTINE, to_text(start), 0, to_text(start + timedelta(seconds=last)),
                          UNKNOWN_ROUTINE, 0)
                result.repaired.append(f"session {sid}: {UNREADABLE}; its {len(events)} events are kept in a "
                                       f"session with no person and routine '{UNKNOWN_ROUTINE}'")
        if values is None:
            result.skipped.extend(Damage("event", e[0], "its session cannot be copied", sid) for e in events)
            continue
        conn.execute("""INSERT INTO sessions (id, user, entry_id, started_at, virtual, ended_at, reason, unsaved)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?)""", values)
        result.copied["session"] += 1
        starts[sid] = read_time(values[3], "start time")
    rebuilt = 0
    for sid, events in by_session.items():
        if sid not in starts:
            continue
        for event_id, _sid, seq, t, at, who, kind, text, data in events:
            try:
                at = to_text(read_time(at, "time"))
            except BadRow:
                rebuilt += at is not None  # an old file has no times yet: not a repair
                at = to_text(starts[sid] + timedelta(seconds=t))
            try:
                conn.execute("""INSERT INTO events (id, session_id, seq, t, at, who, kind, text, data)
                                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                             (event_id, sid, seq, t, at, who, kind, text, data))
            except sqlite3.IntegrityError:
                result.skipped.append(Damage("event", event_id, "another event has its place in the session", sid))
                continue
            result.copied["event"] += 1
    if rebuilt:
        result.repaired.append(f"{rebuilt} event time(s) were worked out from their session's start")


def _copy_flags(scan: Scan, conn: sqlite3.Connection, result: Salvaged) -> None:
    """Red flags as they were (open ones stay open); a file from before the flags table gets them from its events."""
    if scan.flags is None:
        result.copied["flag"] += backfill_flags(conn)
        return
    sessions = {row[0] for row in conn.execute("SELECT id FROM sessions")}
    for row in scan.flags:
        try:
            flag = flag_row(row)
        except BadRow as exc:
            result.skipped.append(Damage("flag", row[0], str(exc)))
            continue
        conn.execute("""INSERT INTO flags (id, user, flag_id, raised_at, session_id, source, cleared_at, cleared_by,
                        note) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                     (flag.id, flag.user, flag.flag_id, to_text(flag.raised_at),
                      flag.session_id if flag.session_id in sessions else None, flag.source,
                      to_text(flag.cleared_at) if flag.cleared_at else None, flag.cleared_by, flag.note))
        result.copied["flag"] += 1


def _remove_database(path: Path) -> None:
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        (path.parent / name).unlink(missing_ok=True)


def salvage(scan: Scan, out: Path) -> Salvaged:
    """Copy every readable row that :func:`scan_database` found into a new database at ``out``.

    Sessions and events keep their ids. What can be rebuilt is (a start time
    from the session's events, a setting from its default); what cannot is
    skipped and listed. The original file is not opened again. ``out`` must
    not exist yet; if the copy fails, the half-written file is removed.
    """
    if scan.problem is not None:
        raise StoreError(f"nothing can be copied: {scan.problem}")
    if out.exists() or out.is_symlink():
        raise StoreError(f"{out} already exists; give the name of a new file to copy into")
    store = open_store(out)
    store.tell = None
    result = Salvaged(out, skipped=[d for d in scan.damage if d.problem == UNREADABLE or d.key == "*"])
    try:
        with store._durable() as conn:
            _copy_profiles(scan, conn, result)
            _copy_history(scan, conn, result)
            _copy_flags(scan, conn, result)
    except BaseException as exc:
        store.close()
        _remove_database(out)
        if isinstance(exc, sqlite3.Error):
            raise StoreError(unreadable_message(out, exc)) from None
        raise
    store.close()
    return result


