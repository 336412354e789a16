"""People's data: profiles, sessions and every session event, in one SQLite file.

The database lives at :func:`default_db_path` (``companion.db`` in the data
folder; ``COMPANION_HOME`` moves it, ``--db PATH`` overrides it per command).
It is health data, so the file is created readable by its owner only (0600)
and, when the store creates its folder, so is the folder (0700). SQLite gives
its ``-wal`` and ``-shm`` files the same permissions as the database.

Durability
    WAL journal with ``synchronous=NORMAL``. Every event is its own committed
    transaction (:meth:`Store.add_event`), and in WAL mode a commit has been
    written to the operating system when it returns, so killing the process
    (kill -9, Ctrl-C, a crash) loses nothing already written, and another
    connection sees the event at once. NORMAL does not fsync on each commit:
    a power cut or OS crash may lose the last events (the file stays
    consistent). ``FULL`` would fsync after every cue, which can take tens of
    milliseconds on an SD card or a disk and would stall the session loop that
    times holds and listens for "stop". As a compromise the rare writes that
    matter most (profiles, starting and finishing a session) are committed
    with ``synchronous=FULL``; that fsync also makes every earlier event of
    the session durable, because it syncs the whole WAL file.

Times
    Stored as ISO 8601 text in UTC with a fixed width, so text order is time
    order. Naive datetimes passed in are taken as local time; datetimes come
    back timezone-aware, in local time.

Schema
    ``PRAGMA user_version`` is the schema version; :data:`MIGRATIONS` are
    applied in order, each in its own transaction, when an older file is
    opened. A file from a newer companion is refused with a clear message.

Profiles and history
    ``sessions.user`` is the profile name as text, not a foreign key:
    removing a profile keeps that person's sessions (a caregiver or
    physiotherapist may still need them; adding the profile again with the
    same name shows them again). Names compare case-insensitively.

Threads
    A :class:`Store` holds one sqlite3 connection and must be used from the
    thread that opened it (the runner thread: the runner is the only caller of
    its outputs). sqlite3's ``check_same_thread`` enforces this. Another
    process (``companion history`` while a session runs) may read at the same
    time: WAL lets readers and the one writer proceed together.

Damage
    Every row is checked as it is read (types, times, JSON). A row that
    cannot be read is skipped rather than fatal: :attr:`Store.damage` says
    which and why, and :meth:`Store.close` says once on stderr how many were
    skipped. A damaged page mid-file is read around, row by row through the
    indexes. :func:`scan_database` reads a file read-only for
    ``companion doctor --db``, and :func:`salvage` copies all that is readable
    into a new file. Errors get the advice that fits them
    (:func:`unreadable_message`): only a damaged file is worth moving aside;
    a full disk or a folder that cannot be written leaves a healthy history.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import shlex
import sqlite3
import sys
from collections import Counter
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from companion.care.profiles import Profile, ProfileError, set_value
from companion.content.datadir import data_dir

DB_NAME = "companion.db"
BUSY_TIMEOUT_SECONDS = 5.0
MAX_NAME_LENGTH = 60
RECORD_KEYS = ("t", "who", "kind", "text")  # columns; everything else in a record goes to ``data``
TABLES = ("profiles", "sessions", "events")

# SQLite's primary result codes: the low byte of an exception's ``sqlite_errorcode``.
SQLITE_PERM, SQLITE_BUSY, SQLITE_LOCKED, SQLITE_READONLY, SQLITE_IOERR = 3, 5, 6, 8, 10
SQLITE_CORRUPT, SQLITE_FULL, SQLITE_CANTOPEN, SQLITE_AUTH, SQLITE_NOTADB = 11, 13, 14, 23, 26


def default_db_path() -> Path:
    return data_dir() / DB_NAME


class StoreError(Exception):
    """The database cannot be used; the message says what to do."""


class DuplicateProfile(StoreError):
    pass


# -- what went wrong, and what to do about it ------------------------------------

FULL, PERMISSION, DAMAGED, BUSY, IO, OTHER = "full", "permission", "damaged", "busy", "io", "other"
_BY_CODE = {SQLITE_FULL: FULL, SQLITE_PERM: PERMISSION, SQLITE_READONLY: PERMISSION, SQLITE_AUTH: PERMISSION,
            SQLITE_CANTOPEN: PERMISSION, SQLITE_CORRUPT: DAMAGED, SQLITE_NOTADB: DAMAGED, SQLITE_BUSY: BUSY,
            SQLITE_LOCKED: BUSY, SQLITE_IOERR: IO}
_BY_WORDS = ((FULL, ("disk is full",)), (PERMISSION, ("readonly database", "unable to open database file")),
             (DAMAGED, ("malformed", "not a database")), (BUSY, ("database is locked",)),
             (IO, ("disk i/o error",)))
_BY_ERRNO = {errno.ENOSPC: FULL, errno.EDQUOT: FULL, errno.EACCES: PERMISSION, errno.EPERM: PERMISSION,
             errno.EROFS: PERMISSION, errno.EIO: IO}


def problem_kind(exc: BaseException) -> str:
    """full, permission, damaged, busy, io or other: what the advice depends on.

    SQLite's result code decides when there is one (Python 3.11 exceptions
    carry it); an error raised without one is judged by its words.
    """
    if isinstance(exc, OSError):
        return _BY_ERRNO.get(exc.errno or 0, OTHER)
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _BY_CODE:
        return _BY_CODE[code & 0xFF]
    text = str(exc).lower()
    return next((kind for kind, words in _BY_WORDS if any(w in text for w in words)), OTHER)


def _reason(exc: BaseException) -> str:
    return (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)) or type(exc).__name__


def _unwritable(path: Path) -> Path:
    """The file, or else the nearest existing folder, whose permissions stop companion writing."""
    try:
        if path.is_file() and not os.access(path, os.W_OK):
            return path
        folder = path.parent
        while not folder.exists() and folder != folder.parent:
            folder = folder.parent
    except OSError:  # a name the file system refuses outright
        return path.parent
    return folder


def damaged_advice(path: Path) -> str:
    """What to do with a damaged file: see and save what can be read first, only then move it aside."""
    place = shlex.quote(str(path))
    return (f"It is damaged: see what can still be read with `companion doctor --db {place}`, and add "
            f"`--salvage NEW_FILE` to copy all of that into a new file. Only then move the damaged file aside "
            f"(with any {path.name}-wal and {path.name}-shm next to it), and companion will start a new, empty one")


def unreadable_message(path: Path, exc: BaseException) -> str:
    """Why the database at ``path`` cannot be used, with the advice that fits the error.

    Only damage suggests moving the file aside: after a full disk, a folder
    that cannot be written or an input/output error the history is healthy
    (or worth copying first) and must not be abandoned.
    """
    kind, reason = problem_kind(exc), _reason(exc)
    if kind == FULL:
        return (f"cannot write to the database at {path}: the disk is full ({reason}). Free some space, then try "
                f"again; your history is safe")
    if kind == PERMISSION:
        return (f"cannot write to {_unwritable(path)}: check its permissions ({reason}); nothing was changed. "
                f"Companion keeps {path.name} and its -wal and -shm files there; or use another file with --db PATH")
    if kind == DAMAGED:
        return f"cannot read the database at {path}: {reason}. {damaged_advice(path)}"
    if kind == BUSY:
        return f"the database at {path} is busy ({reason}): another companion is using it; try again in a moment"
    if kind == IO:
        return (f"cannot read or write the database at {path}: {reason} (an input/output error: the disk or memory "
                f"card may be failing or was unplugged). Copy the file somewhere safe, then check it with "
                f"`companion doctor --db {shlex.quote(str(path))}`")
    return f"cannot use the database at {path}: {reason}"


_Result = TypeVar("_Result")


def _translated(method: Callable[..., _Result]) -> Callable[..., _Result]:
    """Turn a database error inside a :class:`Store` method into a :class:`StoreError` with fitting advice.

    ``ProgrammingError`` (a closed store, the wrong thread) is a bug in the caller and passes through.
    Text that is not UTF-8 (undecodable bytes in argv arrive as lone surrogates) cannot be stored or looked up.
    """

    @functools.wraps(method)
    def wrapper(self: "Store", *args: Any, **kwargs: Any) -> _Result:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.ProgrammingError:
            raise
        except sqlite3.Error as exc:
            raise StoreError(unreadable_message(self.path, exc)) from None
        except UnicodeEncodeError as exc:
            raise StoreError(f"{ascii(exc.object)[:80]} is not UTF-8 text, so it cannot be stored or looked up "
                             f"in the database") from None

    return wrapper


# -- times ----------------------------------------------------------------------


def to_text(moment: datetime) -> str:
    """UTC, fixed width: ``2024-05-01T08:00:00.000000+00:00``."""
    if moment.tzinfo is None:
        moment = moment.astimezone()  # naive: local time
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def from_text(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).astimezone()


def local_text(text: str) -> str:
    """A stored time as local ISO text, to the millisecond (for JSON)."""
    return datetime.fromisoformat(text).astimezone().isoformat(timespec="milliseconds")


# -- migrations -----------------------------------------------------------------


def _v1(conn: sqlite3.Connection) -> None:
    """Profiles, sessions and their events."""
    conn.execute("""CREATE TABLE profiles (
        name TEXT PRIMARY KEY COLLATE NOCASE,
        settings TEXT NOT NULL,
        created_at TEXT NOT NULL)""")
    conn.execute("""CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        user TEXT COLLATE NOCASE,
        entry_id TEXT NOT NULL,
        started_at TEXT NOT NULL,
        virtual INTEGER NOT NULL DEFAULT 0,
        ended_at TEXT,
        reason TEXT)""")
    conn.execute("""CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        t REAL NOT NULL,
        who TEXT NOT NULL,
        kind TEXT NOT NULL,
        text TEXT NOT NULL DEFAULT '',
        data TEXT NOT NULL DEFAULT '{}')""")


def _v2(conn: sqlite3.Connection) -> None:
    """Wall-clock time of each event (``at`` = session start + ``t``), and the indexes history needs."""
    conn.execute("ALTER TABLE events ADD COLUMN at TEXT")
    starts = dict(conn.execute("SELECT id, started_at FROM sessions"))
    updates = []
    for event_id, session_id, t in conn.execute("SELECT id, session_id, t FROM events"):
        start = starts.get(session_id)
        if start is not None:
            updates.append((to_text(datetime.fromisoformat(start) + timedelta(seconds=t)), event_id))
    conn.executemany("UPDATE events SET at = ? WHERE id = ?", updates)
    conn.execute("CREATE UNIQUE INDEX events_by_session ON events(session_id, seq)")
    conn.execute("CREATE INDEX sessions_by_user ON sessions(user, started_at)")


def _v3(conn: sqlite3.Connection) -> None:
    """How many of a session's events could not be written (a full disk...), so its ending can say so."""
    conn.execute("ALTER TABLE sessions ADD COLUMN unsaved INTEGER NOT NULL DEFAULT 0")


def _v4(conn: sqlite3.Connection) -> None:
    """Red flags that last: each stays open for its person until they have seen a doctor about it.

    The red flags already in the history become open flags, so an upgrade
    does not forget one that was never followed up.
    """
    conn.execute("""CREATE TABLE flags (
        id INTEGER PRIMARY KEY,
        user TEXT NOT NULL COLLATE NOCASE,
        flag_id TEXT NOT NULL,
        raised_at TEXT NOT NULL,
        session_id INTEGER REFERENCES sessions(id) ON DELETE SET NULL,
        source TEXT NOT NULL DEFAULT 'session',
        cleared_at TEXT,
        cleared_by TEXT,
        note TEXT NOT NULL DEFAULT '')""")
    conn.execute("CREATE INDEX flags_by_user ON flags(user, raised_at)")
    backfill_flags(conn)


def backfill_flags(conn: sqlite3.Connection) -> int:
    """Open a flag for every ``red_flag`` event of a person's session (oldest kept per flag); returns how many.

    For a file whose history predates the flags table (an upgrade, a salvaged copy of
    an old file). Events that cannot be read are passed over: the doctor command
    reports them, and an upgrade must not fail on them.
    """
    screened: set[tuple[int, str]] = set()
    found: dict[tuple[str, str], tuple[str, int, str, str]] = {}  # (person, flag) -> (person, session, at, source)
    try:
        rows = conn.execute("""SELECT s.id, s.user, e.kind, e.at, e.data FROM events e
                               JOIN sessions s ON s.id = e.session_id
                               WHERE s.user IS NOT NULL AND e.kind IN ('answered', 'red_flag')
                               ORDER BY e.at, e.session_id, e.seq""").fetchall()
    except sqlite3.DatabaseError as exc:
        if problem_kind(exc) != DAMAGED:
            raise
        return 0
    for sid, user, kind, at, data in rows:
        try:
            record = read_data(data)
            read_time(at, "time")
        except BadRow:
            continue
        flag = str(record.get("flag_id") or "")
        if not isinstance(user, str) or not user:
            continue
        if kind == "answered":
            if record.get("tag") == "screen" and record.get("answer") == "yes":
                screened.add((sid, flag))
            continue
        found.setdefault((user.casefold(), flag),
                         (user, sid, at, "screen" if (sid, flag) in screened else "session"))
    conn.executemany("INSERT INTO flags (user, flag_id, raised_at, session_id, source) VALUES (?, ?, ?, ?, ?)",
                     [(user, flag, at, sid, source) for (_, flag), (user, sid, at, source) in found.items()])
    return len(found)


# Index i upgrades a version-i file to version i + 1. Never edit a released
# migration: add a new one at the end.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2, _v3, _v4]
SCHEMA_VERSION = len(MIGRATIONS)


def user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def too_new(path: Path, version: int) -> StoreError:
    return StoreError(f"the database at {path} was written by a newer version of companion (schema {version}; "
                      f"this version understands up to {SCHEMA_VERSION}). Upgrade companion, or use another "
                      f"file with --db PATH")


def table_names(conn: sqlite3.Connection) -> set[str]:
    return {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            if isinstance(name, str) and not name.startswith("sqlite_")}


def schema_problem(path: Path, version: int, tables: set[str]) -> str | None:
    """Why a file cannot be companion's database at this version (its tables do not match), or None."""
    if version == 0:
        if not tables:
            return None  # new, or an empty file: the migrations make it
        return (f"the database at {path} is not companion's (it has the tables {', '.join(sorted(tables))}); "
                f"it was left as it was. Use another file with --db PATH")
    missing = [name for name in TABLES if name not in tables]
    if not missing:
        return None
    if len(missing) == len(TABLES):
        what = "nothing else" if not tables else f"only {', '.join(sorted(tables))}"
        return (f"the database at {path} is marked as companion's (schema {version}) but has none of its tables "
                f"({', '.join(TABLES)}) and {what}: it holds no history. Move it aside and companion will start "
                f"a new, empty one, or use another file with --db PATH")
    return (f"cannot read the database at {path}: its {' and '.join(missing)} table"
            f"{'s are' if len(missing) > 1 else ' is'} missing. {damaged_advice(path)}")


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    if user_version(conn) == SCHEMA_VERSION:
        return
    while True:
        conn.execute("BEGIN IMMEDIATE")  # one process migrates; others wait (busy timeout) and re-read
        try:
            version = user_version(conn)
            if version > SCHEMA_VERSION:
                raise too_new(path, version)
            if version == SCHEMA_VERSION:
                conn.execute("COMMIT")
                return
            try:
                MIGRATIONS[version](conn)
                conn.execute(f"PRAGMA user_version = {version + 1}")
                conn.execute("COMMIT")
            except (sqlite3.Error, ValueError, TypeError) as exc:  # ValueError: a damaged time in an old file
                kind = problem_kind(exc) if isinstance(exc, sqlite3.Error) else DAMAGED
                hint = {FULL: " Free some space, then try again.", PERMISSION: " Check the folder's permissions.",
                        DAMAGED: " " + damaged_advice(path)}.get(kind, "")
                raise StoreError(f"cannot upgrade the database at {path} from schema {version} to "
                                 f"{version + 1}: {exc}; it was left as it was.{hint}") from None
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise


# -- rows -----------------------------------------------------------------------


@dataclass(frozen=True)
class SessionRow:
    id: int
    user: str | None
    entry_id: str
    started_at: datetime
    virtual: bool
    ended_at: datetime | None  # None: the process never closed it (killed, crashed, still running)
    reason: str | None  # completed, stopped, interrupted, red-flag, ...; None with ended_at None
    last_t: float | None  # session time of the last event written
    event_count: int
    unsaved: int = 0  # events that could not be written (a full disk...): the record is incomplete

    @property
    def unfinished(self) -> bool:
        """Killed (never closed) or interrupted with Ctrl-C: a session ``--resume`` can continue."""
        return self.ended_at is None or self.reason == "interrupted"

    @property
    def duration(self) -> float:
        """Seconds from start to end; for a session never closed, to its last event."""
        if self.ended_at is not None:
            return max(0.0, (self.ended_at - self.started_at).total_seconds())
        return self.last_t or 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started_at"] = self.started_at.isoformat(timespec="milliseconds")
        data["ended_at"] = self.ended_at.isoformat(timespec="milliseconds") if self.ended_at else None
        data["duration_seconds"] = round(self.duration, 3)
        return data


@dataclass(frozen=True)
class Practice:
    """One routine attempted in one session (see :meth:`Store.practice` for the rule)."""

    routine_id: str
    at: datetime
    completed: bool
    session_id: int | None = None  # None for practice not read from the store (tests, imports)


FLAG_SOURCES = ("screen", "session", "ask")  # a yes to a safety question, said in a session, asked a question
CLEARED_BY = ("person", "caregiver")


@dataclass(frozen=True)
class FlagRow:
    """A red flag raised for a person; open until cleared because they have seen a doctor about it."""

    id: int
    user: str
    flag_id: str
    raised_at: datetime
    session_id: int | None  # the session it was raised in; None when raised by ``companion ask``
    source: str  # one of FLAG_SOURCES
    cleared_at: datetime | None = None
    cleared_by: str | None = None  # "person" (said so at a session start) or "caregiver" (profile clear-flag)
    note: str = ""

    def open_at(self, moment: datetime) -> bool:
        """Raised by ``moment`` and not yet cleared then (a virtual-clock replay sees the past as it was)."""
        return self.raised_at <= moment and (self.cleared_at is None or self.cleared_at > moment)

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["raised_at"] = self.raised_at.isoformat(timespec="seconds")
        data["cleared_at"] = self.cleared_at.isoformat(timespec="seconds") if self.cleared_at else None
        data["open"] = self.cleared_at is None
        return data


@dataclass(frozen=True)
class AnswerRow:
    """One answer to a question the companion asked in a session (an ``answered`` event)."""

    at: datetime
    tag: str  # "screen", "acute", "seen-doctor", ...
    answer: str  # "yes" | "no"
    flag_id: str
    session_id: int


@dataclass(frozen=True)
class Damage:
    """A row, or one profile setting, that could not be read, and why: for the skip notice and the doctor."""

    kind: str  # profile | profile setting | session | event
    key: str | int  # profile name (or "row N"), "NAME: setting", session id or event id
    problem: str
    session_id: int | None = None  # the session it belongs to, when that much can be read


class BadRow(ValueError):
    """A row that cannot be used as it is; the message says what is wrong with it."""


_SESSION_BASE = "s.id, s.user, s.entry_id, s.started_at, s.virtual, s.ended_at, s.reason, s.unsaved"
_SESSION_COLUMNS = _SESSION_BASE + """,
    (SELECT MAX(e.t) FROM events e WHERE e.session_id = s.id),
    (SELECT COUNT(*) FROM events e WHERE e.session_id = s.id)"""
_EVENT_COLUMNS = "id, seq, t, at, who, kind, text, data"
_FLAG_COLUMNS = "id, user, flag_id, raised_at, session_id, source, cleared_at, cleared_by, note"
_PRACTICE_KINDS = ("exercise_started", "exercise_done", "finished")  # the records practice is made of
UNREADABLE = "unreadable: the page of the file that holds it is damaged"


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_time(value: object, what: str) -> datetime:
    """A stored time, checked: :class:`BadRow` names ``what`` when it is not one."""
    if not isinstance(value, str):
        raise BadRow(f"its {what} is {value!r}, not a date and time")
    try:
        return datetime.fromisoformat(value).astimezone()
    except (ValueError, OverflowError):
        raise BadRow(f"its {what} {value!r} is not a date and time") from None


def read_data(value: object) -> dict[str, Any]:
    """An event's ``data`` column: a JSON object, or :class:`BadRow`."""
    if not isinstance(value, str):
        raise BadRow(f"its data is {type(value).__name__}, not JSON text")
    try:
        data = json.loads(value)
    except (ValueError, RecursionError):
        raise BadRow(f"its data is not valid JSON ({value[:40]!r})") from None
    if not isinstance(data, dict):
        raise BadRow("its data is not a JSON object")
    routine = data.get("routine_id")
    if routine is not None and not isinstance(routine, str):
        raise BadRow(f"its routine_id is {routine!r}, not a name")
    return data


def session_row(row: tuple) -> SessionRow:
    """A ``_SESSION_COLUMNS`` row, checked; :class:`BadRow` when it cannot be used."""
    sid, user, entry_id, started, virtual, ended, reason, unsaved, last_t, count = row
    if user is not None and not isinstance(user, str):
        raise BadRow(f"its person is {user!r}, not a name")
    if not isinstance(entry_id, str):
        raise BadRow(f"its routine is {entry_id!r}, not a name")
    if not isinstance(virtual, int) or not isinstance(unsaved, int):
        raise BadRow("its virtual-clock flag or unsaved count is not a number")
    if reason is not None and not isinstance(reason, str):
        raise BadRow(f"its ending is {reason!r}, not text")
    return SessionRow(sid, user, entry_id, read_time(started, "start time"), bool(virtual),
                      None if ended is None else read_time(ended, "end time"), reason,
                      last_t if is_number(last_t) else None, count, unsaved)


def event_record(row: tuple) -> dict[str, Any]:
    """An ``_EVENT_COLUMNS`` row as the record that was written (with ``seq`` and ``at``), or :class:`BadRow`."""
    _event_id, seq, t, at, who, kind, text, data = row
    if not isinstance(seq, int) or not is_number(t):
        raise BadRow(f"its sequence number or time is not a number ({seq!r}, {t!r})")
    if not all(isinstance(value, str) for value in (who, kind, text)):
        raise BadRow("its speaker, kind or text is not text")
    when = None if at is None else read_time(at, "time").isoformat(timespec="milliseconds")
    record = {"seq": seq, "t": t, "at": when, "who": who, "kind": kind, "text": text}
    record.update(read_data(data))
    return record


def flag_row(row: tuple) -> FlagRow:
    """A ``_FLAG_COLUMNS`` row, checked; :class:`BadRow` when it cannot be used."""
    rowid, user, flag_id, raised, session_id, source, cleared, cleared_by, note = row
    if not isinstance(user, str) or not user or not isinstance(flag_id, str):
        raise BadRow(f"its person or red flag is {user!r} / {flag_id!r}, not a name")
    if session_id is not None and not isinstance(session_id, int):
        raise BadRow(f"its session is {session_id!r}, not a number")
    if not isinstance(source, str) or (cleared_by is not None and not isinstance(cleared_by, str)):
        raise BadRow("its source or who cleared it is not text")
    return FlagRow(rowid, user, flag_id, read_time(raised, "time raised"), session_id, source,
                   None if cleared is None else read_time(cleared, "time cleared"), cleared_by,
                   note if isinstance(note, str) else "")


_PROFILE_FIELDS = [f.name for f in fields(Profile) if f.name != "name"]
_FLAGS = ("caregiver", "confirm_steps")
_WHOLE_NUMBERS = ("speech_rate", "repeat_cues")


def _setting(profile: Profile, key: str, value: object) -> Profile:
    """One stored setting, checked as strictly as ``profile set`` checks what is typed."""
    if key == "conditions":
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            raise ProfileError("conditions must be a list of names")
        return replace(profile, conditions=tuple(dict.fromkeys(value)))
    if key == "voice":
        if not isinstance(value, str):
            raise ProfileError("voice must be text")
        return replace(profile, voice=value)
    if key in _FLAGS:
        if not isinstance(value, bool):
            raise ProfileError(f"{key} must be true or false")
        return replace(profile, **{key: value})
    if not is_number(value) or (key in _WHOLE_NUMBERS and not isinstance(value, int)):
        raise ProfileError(f"{key} must be a number")
    return set_value(profile, key, str(value))


def read_profile(name: object, settings: object) -> tuple[Profile, list[str]]:
    """A stored profile and the settings that could not be read (their defaults are used instead).

    Only a name that is not text makes the whole row unusable (:class:`BadRow`):
    with a bad setting the person keeps their profile, and ``profile set``
    can put the setting right.
    """
    if not isinstance(name, str) or not name:
        raise BadRow(f"its name is {name!r}, not text")
    try:
        data = json.loads(settings) if isinstance(settings, str) else None
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        return Profile(name), ["settings"]
    profile, bad = Profile(name), []
    for key in _PROFILE_FIELDS:
        if key in data:
            try:
                profile = _setting(profile, key, data[key])
            except ProfileError:
                bad.append(key)
    return profile, bad


def check_name(name: str) -> str:
    """A profile name as typed: not empty, one line, at most 60 characters."""
    if not name or name != name.strip():
        raise ProfileError("a profile name cannot be empty or start or end with a space")
    if len(name) > MAX_NAME_LENGTH or any(not ch.isprintable() for ch in name):
        raise ProfileError(f"a profile name is at most {MAX_NAME_LENGTH} printable characters")
    return name


_NOUNS = {"profile": ("damaged profile", "damaged profiles"),
          "profile setting": ("damaged profile setting", "damaged profile settings"),
          "session": ("damaged session", "damaged sessions"), "event": ("damaged event", "damaged events"),
          "flag": ("damaged red flag record", "damaged red flag records")}


def skipped_note(path: Path, counts: Counter[str]) -> str | None:
    """The one line that says how many damaged rows a command skipped, or None when it skipped none."""
    parts = [f"{counts[kind]} {_NOUNS[kind][counts[kind] != 1]}" for kind in _NOUNS if counts[kind]]
    if not parts:
        return None
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    verb = "was" if len(parts) == 1 and sum(counts.values()) == 1 else "were"
    defaults = " (their defaults were used)" if counts["profile setting"] else ""
    return (f"{listed} {verb} skipped{defaults}; run `companion doctor --db {shlex.quote(str(path))}` "
            f"to see what is damaged")


def _tell_stderr(text: str) -> None:
    print(text, file=sys.stderr)


# -- the store ------------------------------------------------------------------


def _create_private(path: Path) -> None:
    """Create the folder (0700) and an empty file (0600) if missing, before SQLite opens it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)


def open_store(path: Path | str | None = None) -> "Store":
    """Open (creating and upgrading as needed) the database; raises :class:`StoreError` with advice."""
    path = Path(path) if path is not None else default_db_path()
    try:
        _create_private(path)
    except OSError as exc:
        if problem_kind(exc) in (FULL, PERMISSION):
            raise StoreError(unreadable_message(path, exc)) from None
        raise StoreError(f"cannot create the database at {path}: {_reason(exc)}") from None
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS)
    except sqlite3.Error as exc:
        raise StoreError(unreadable_message(path, exc)) from None
    try:
        version = user_version(conn)  # the first read: fails here if the file is not a database
        if version > SCHEMA_VERSION:
            raise too_new(path, version)
        problem = schema_problem(path, version, table_names(conn))
        if problem:
            raise StoreError(problem)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        _migrate(conn, path)
    except StoreError:
        conn.close()
        raise
    except sqlite3.Error as exc:
        conn.close()
        raise StoreError(unreadable_message(path, exc)) from None
    return Store(conn, path)


class Store:
    """Profiles and session history. Use from one thread (see the module notes); close when done.

    Rows that cannot be read are skipped and kept in :attr:`damage`; closing
    says how many through :attr:`tell` (stderr unless replaced; None: silent).
    """

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self._conn = conn
        self.path = path
        self._next: dict[int, int] = {}  # session id -> next event seq
        self._starts: dict[int, datetime] = {}
        self.damage: dict[tuple[str, str | int], Damage] = {}
        self.tell: Callable[[str], None] | None = _tell_stderr
        self._told = False

    @property
    def skipped(self) -> Counter[str]:
        """How many rows of each kind were skipped so far (``damage`` says which, and why)."""
        return Counter(kind for kind, _ in self.damage)

    def close(self) -> None:
        """Close the connection, first saying (once) how many damaged rows were skipped."""
        note = skipped_note(self.path, self.skipped)
        if note and self.tell is not None and not self._told:
            self._told = True
            self.tell(note)
        self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    @_translated
    def schema_version(self) -> int:
        return user_version(self._conn)

    def _note(self, kind: str, key: str | int, problem: str, session_id: int | None = None) -> None:
        self.damage.setdefault((kind, key), Damage(kind, key, problem, session_id))

    @contextmanager
    def _durable(self) -> Iterator[sqlite3.Connection]:
        """One transaction committed with an fsync (synchronous=FULL); see the module notes."""
        conn = self._conn
        conn.execute("PRAGMA synchronous = FULL")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            conn.execute("PRAGMA synchronous = NORMAL")

    # -- reading around damage ----------------------------------------------------

    def _fetch(self, sql: str, params: tuple, around: Callable[[], list[tuple]]) -> list[tuple]:
        """Every row of ``sql``; if a damaged page stops the query, what ``around`` can read without it."""
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.ProgrammingError) or problem_kind(exc) != DAMAGED:
                raise
        return around()

    def _event_rows(self, session_id: int) -> list[tuple]:
        """The session's raw event rows in order; around a damaged page, one by one through the index."""

        def around() -> list[tuple]:
            rows = []
            ids = self._conn.execute("SELECT id FROM events WHERE session_id = ? ORDER BY seq", (session_id,))
            for (event_id,) in ids.fetchall():
                try:
                    row = self._conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events WHERE id = ?",
                                             (event_id,)).fetchone()
                except sqlite3.DatabaseError as exc:
                    if problem_kind(exc) != DAMAGED:
                        raise
                    self._note("event", event_id, UNREADABLE, session_id)
                    continue
                if row is not None:
                    rows.append(row)
            return rows

        return self._fetch(f"SELECT {_EVENT_COLUMNS} FROM events WHERE session_id = ? ORDER BY seq",
                           (session_id,), around)

    def _session_rows(self, where: str, params: tuple) -> list[SessionRow]:
        """Sessions matching ``where`` (with its ORDER BY); damaged ones are skipped and noted."""

        def around() -> list[tuple]:
            rows = []
            for row in self._conn.execute(f"SELECT {_SESSION_BASE} FROM sessions s {where}", params).fetchall():
                events = self._event_rows(row[0])
                times = [event[2] for event in events if is_number(event[2])]
                rows.append((*row, max(times, default=None), len(events)))
            return rows

        sessions = []
        for row in self._fetch(f"SELECT {_SESSION_COLUMNS} FROM sessions s {where}", params, around):
            try:
                sessions.append(session_row(row))
            except BadRow as exc:
                self._note("session", row[0], str(exc), row[0])
        return sessions

    def _profile(self, name: object, settings: object) -> Profile | None:
        try:
            profile, bad = read_profile(name, settings)
        except BadRow as exc:
            self._note("profile", repr(name), str(exc))
            return None
        for key in bad:
            self._note("profile setting", f"{profile.name}: {key}", f"its {key} cannot be read; the default is used")
        return profile

    # -- profiles ---------------------------------------------------------------

    @_translated
    def add_profile(self, profile: Profile) -> None:
        """Add a new profile; :class:`DuplicateProfile` if the name (any case) is taken."""
        check_name(profile.name)
        settings = json.dumps({k: v for k, v in profile.as_dict().items() if k != "name"})
        try:
            with self._durable() as conn:
                conn.execute("INSERT INTO profiles (name, settings, created_at) VALUES (?, ?, ?)",
                             (profile.name, settings, to_text(datetime.now(timezone.utc))))
        except sqlite3.IntegrityError:
            raise DuplicateProfile(f"there is already a profile called '{profile.name}'") from None

    @_translated
    def save_profile(self, profile: Profile) -> None:
        """Insert or replace the settings of a profile (its name and creation time stay)."""
        check_name(profile.name)
        settings = json.dumps({k: v for k, v in profile.as_dict().items() if k != "name"})
        with self._durable() as conn:
            conn.execute("""INSERT INTO profiles (name, settings, created_at) VALUES (?, ?, ?)
                            ON CONFLICT(name) DO UPDATE SET settings = excluded.settings""",
                         (profile.name, settings, to_text(datetime.now(timezone.utc))))

    @_translated
    def get_profile(self, name: str) -> Profile | None:
        row = self._conn.execute("SELECT name, settings FROM profiles WHERE name = ?", (name,)).fetchone()
        return self._profile(*row) if row else None

    @_translated
    def profile_created(self, name: str) -> datetime | None:
        row = self._conn.execute("SELECT created_at FROM profiles WHERE name = ?", (name,)).fetchone()
        try:
            return read_time(row[0], "creation time") if row else None
        except BadRow:
            return None  # only shown as information

    @_translated
    def list_profiles(self) -> list[Profile]:
        rows = self._conn.execute("SELECT name, settings FROM profiles ORDER BY name COLLATE NOCASE").fetchall()
        return [profile for profile in (self._profile(*row) for row in rows) if profile is not None]

    @_translated
    def remove_profile(self, name: str) -> bool:
        """Remove the profile; its sessions and events are kept. False if there was none."""
        with self._durable() as conn:
            return conn.execute("DELETE FROM profiles WHERE name = ?", (name,)).rowcount > 0

    # -- sessions and events ----------------------------------------------------

    @_translated
    def start_session(self, user: str | None, entry_id: str, started_at: datetime, virtual: bool) -> int:
        """A new session; ``started_at`` is the wall-clock start (``--at`` for virtual-clock sessions)."""
        with self._durable() as conn:
            cursor = conn.execute("INSERT INTO sessions (user, entry_id, started_at, virtual) VALUES (?, ?, ?, ?)",
                                  (user, entry_id, to_text(started_at), int(virtual)))
        session_id = int(cursor.lastrowid)
        self._starts[session_id] = from_text(to_text(started_at))
        self._next[session_id] = 1
        return session_id

    def _start_of(self, session_id: int) -> datetime:
        start = self._starts.get(session_id)
        if start is None:
            row = self._conn.execute("SELECT started_at FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if row is None:
                raise StoreError(f"there is no session {session_id}")
            try:
                start = self._starts[session_id] = read_time(row[0], "start time")
            except BadRow as exc:
                raise StoreError(f"session {session_id} cannot be continued: {exc}") from None
        return start

    def _next_seq(self, session_id: int) -> int:
        seq = self._next.get(session_id)
        if seq is None:
            row = self._conn.execute("SELECT MAX(seq) FROM events WHERE session_id = ?", (session_id,)).fetchone()
            seq = (row[0] or 0) + 1
        return seq

    @_translated
    def add_event(self, session_id: int, record: dict[str, Any]) -> int:
        """Write one record (the :mod:`companion.app.records` format) and commit it at once. Returns its seq."""
        start = self._start_of(session_id)
        seq = self._next_seq(session_id)
        t = float(record.get("t", 0.0))
        data = {k: v for k, v in record.items() if k not in RECORD_KEYS}
        # Autocommit mode: this single INSERT is one transaction, committed when execute returns.
        self._conn.execute(
            "INSERT INTO events (session_id, seq, t, at, who, kind, text, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (session_id, seq, t, to_text(start + timedelta(seconds=t)), str(record.get("who", "")),
             str(record.get("kind", "")), str(record.get("text") or ""),
             json.dumps(data, ensure_ascii=False, default=str)))
        self._next[session_id] = seq + 1
        return seq

    @_translated
    def finish_session(self, session_id: int, reason: str, ended_at: datetime, unsaved: int = 0) -> None:
        """Mark the session ended; ``unsaved`` counts its events that could not be written."""
        with self._durable() as conn:
            conn.execute("UPDATE sessions SET ended_at = ?, reason = ?, unsaved = ? WHERE id = ?",
                         (to_text(ended_at), reason, unsaved, session_id))

    @_translated
    def session(self, session_id: int) -> SessionRow | None:
        rows = self._session_rows("WHERE s.id = ?", (session_id,))
        return rows[0] if rows else None

    @_translated
    def sessions(self, user: str | None = None, since: datetime | None = None) -> list[SessionRow]:
        """Sessions in start order; ``user`` None means everyone's, ``since`` a start at or after it."""
        since_text = to_text(since) if since is not None else None
        return self._session_rows("""WHERE (?1 IS NULL OR s.user = ?1) AND (?2 IS NULL OR s.started_at >= ?2)
                                     ORDER BY s.started_at, s.id""", (user, since_text))

    @_translated
    def users(self) -> list[str]:
        """Everyone with a profile or a session history (removed profiles keep their history)."""
        rows = self._conn.execute("""SELECT name FROM profiles UNION
                                     SELECT user FROM sessions WHERE user IS NOT NULL
                                     ORDER BY 1 COLLATE NOCASE""")
        return [name for (name,) in rows if isinstance(name, str) and name]

    @_translated
    def events(self, session_id: int) -> list[dict[str, Any]]:
        """The session's records as written, in order, each with ``seq`` and ``at`` (local ISO time) added."""
        out = []
        for row in self._event_rows(session_id):
            try:
                out.append(event_record(row))
            except BadRow as exc:
                self._note("event", row[0], str(exc), session_id)
        return out

    @_translated
    def last_unfinished(self, user: str | None) -> SessionRow | None:
        """The user's most recent session (``None``: sessions without a user) if it is unfinished.

        Unfinished means killed (never closed) or interrupted with Ctrl-C. Only
        the latest session counts: once the person has run another session,
        an older interrupted one is no longer offered for ``--resume``.
        """
        row = self._conn.execute("SELECT id FROM sessions WHERE user IS ? ORDER BY id DESC LIMIT 1",
                                 (user,)).fetchone()
        session = self.session(row[0]) if row else None
        return session if session is not None and session.unfinished else None

    @_translated
    def practice(self, user: str, since: datetime | None = None) -> list[Practice]:
        """Every routine the user attempted, in time order, and whether it was completed.

        The rule, per session (virtual-clock sessions count: they are how
        history is built with ``--at``):

        * If the session has ``exercise_done`` records (``data.routine_id``),
          they alone decide: a routine is completed when an ``exercise_done``
          for it follows its ``exercise_started`` (an ``exercise_done``
          without a start counts as a completed attempt at its own time).
        * Otherwise (older sessions): a routine is completed when its
          ``exercise_started`` is followed by another ``exercise_started`` in
          the same session, or by a ``finished`` record whose reason is
          "completed". A session stopped, interrupted or killed during a
          routine leaves that routine not completed.

        ``Practice.at`` is when the routine started (``exercise_started``'s wall time).
        Damaged sessions and events are skipped (and noted).
        """
        since_text = to_text(since) if since is not None else None

        def around() -> list[tuple]:
            rows = []
            for session in self.sessions(user, since):
                started = to_text(session.started_at)
                rows.extend((session.id, started, event_id, kind, at, text, data)
                            for event_id, _seq, _t, at, _who, kind, text, data in self._event_rows(session.id)
                            if kind in _PRACTICE_KINDS)
            return rows

        rows = self._fetch(
            """SELECT s.id, s.started_at, e.id, e.kind, e.at, e.text, e.data
                FROM sessions s JOIN events e ON e.session_id = s.id
                WHERE s.user = ?1 AND (?2 IS NULL OR s.started_at >= ?2)
                  AND e.kind IN ('exercise_started', 'exercise_done', 'finished')
                ORDER BY s.started_at, s.id, e.seq""", (user, since_text), around)
        by_session: dict[int, list[tuple[str, datetime, str, dict]]] = {}
        for sid, started, event_id, kind, at, text, data in rows:
            try:
                read_time(started, "start time")
            except BadRow as exc:
                self._note("session", sid, str(exc), sid)
                continue
            try:
                item = (kind, read_time(at, "time"), text if isinstance(text, str) else "", read_data(data))
            except BadRow as exc:
                self._note("event", event_id, str(exc), sid)
                continue
            by_session.setdefault(sid, []).append(item)
        result: list[Practice] = []
        for sid, items in by_session.items():
            result.extend(_practice_in_session(sid, items))
        result.sort(key=lambda p: (p.at, p.session_id))
        return result

    @_translated
    def answers(self, user: str, tag: str, since: datetime | None = None,
                until: datetime | None = None) -> list[AnswerRow]:
        """The user's answers to one kind of question (``tag``) between ``since`` and ``until``, in time order.

        How today's acute stage is known: the day's "acute" answer is an event like any other.
        """
        since_text = to_text(since) if since is not None else None
        until_text = to_text(until) if until is not None else None

        def around() -> list[tuple]:
            return [(session.id, row[0], row[3], row[7]) for session in self.sessions(user)
                    for row in self._event_rows(session.id) if row[5] == "answered"
                    and (since_text is None or (row[3] or "") >= since_text)
                    and (until_text is None or (row[3] or "") <= until_text)]

        rows = self._fetch("""SELECT s.id, e.id, e.at, e.data FROM sessions s JOIN events e ON e.session_id = s.id
                              WHERE s.user = ?1 AND e.kind = 'answered' AND (?2 IS NULL OR e.at >= ?2)
                                AND (?3 IS NULL OR e.at <= ?3)
                              ORDER BY e.at, s.id, e.seq""", (user, since_text, until_text), around)
        found = []
        for sid, event_id, at, data in rows:
            try:
                record, when = read_data(data), read_time(at, "time")
            except BadRow as exc:
                self._note("event", event_id, str(exc), sid)
                continue
            if record.get("tag") == tag:
                found.append(AnswerRow(when, tag, str(record.get("answer") or ""), str(record.get("flag_id") or ""),
                                       sid))
        found.sort(key=lambda a: a.at)
        return found

    # -- red flags ----------------------------------------------------------------

    @_translated
    def raise_flag(self, user: str, flag_id: str, raised_at: datetime, session_id: int | None = None,
                   source: str = "session") -> int:
        """Keep a red flag open for ``user``; the same flag still open stays the one record. Returns its id.

        Committed with an fsync: a red flag must outlast a power cut more than any cue.
        """
        with self._durable() as conn:
            row = conn.execute("""SELECT id FROM flags WHERE user = ? AND flag_id = ? AND cleared_at IS NULL
                                  ORDER BY raised_at LIMIT 1""", (user, flag_id)).fetchone()
            if row is not None:
                return int(row[0])
            cursor = conn.execute("INSERT INTO flags (user, flag_id, raised_at, session_id, source) "
                                  "VALUES (?, ?, ?, ?, ?)", (user, flag_id, to_text(raised_at), session_id, source))
        return int(cursor.lastrowid)

    @_translated
    def clear_flags(self, user: str, cleared_at: datetime, cleared_by: str, flag_id: str | None = None,
                    note: str = "") -> int:
        """Clear the user's open flags raised by ``cleared_at`` (only ``flag_id``'s, if given): they have
        seen a doctor. ``cleared_by`` is "person" or "caregiver". Returns how many were cleared."""
        if cleared_by not in CLEARED_BY:
            raise ValueError(f"cleared_by must be one of {CLEARED_BY}")
        when = to_text(cleared_at)
        with self._durable() as conn:
            return conn.execute("""UPDATE flags SET cleared_at = ?1, cleared_by = ?2, note = ?3
                                   WHERE user = ?4 AND cleared_at IS NULL AND raised_at <= ?1
                                     AND (?5 IS NULL OR flag_id = ?5)""",
                                (when, cleared_by, note, user, flag_id)).rowcount

    @_translated
    def flags(self, user: str | None = None) -> list[FlagRow]:
        """Red flags, open and cleared, in the order they were raised; ``user`` None means everyone's."""

        def around() -> list[tuple]:
            rows = []
            for (rowid,) in self._conn.execute("SELECT id FROM flags INDEXED BY flags_by_user "
                                               "WHERE ?1 IS NULL OR user = ?1", (user,)).fetchall():
                try:
                    row = self._conn.execute(f"SELECT {_FLAG_COLUMNS} FROM flags WHERE id = ?", (rowid,)).fetchone()
                except sqlite3.DatabaseError as exc:
                    if problem_kind(exc) != DAMAGED:
                        raise
                    self._note("flag", rowid, UNREADABLE)
                    continue
                if row is not None:
                    rows.append(row)
            return rows

        found = []
        for row in self._fetch(f"SELECT {_FLAG_COLUMNS} FROM flags WHERE ?1 IS NULL OR user = ?1 "
                               f"ORDER BY raised_at, id", (user,), around):
            try:
                found.append(flag_row(row))
            except BadRow as exc:
                self._note("flag", row[0], str(exc))
        found.sort(key=lambda f: (f.raised_at, f.id))
        return found

    def open_flags(self, user: str, now: datetime) -> list[FlagRow]:
        """The user's red flags still open at ``now``: no exercise until they have seen a doctor."""
        return [flag for flag in self.flags(user) if flag.open_at(now)]


def _practice_in_session(sid: int, items: list[tuple[str, datetime, str, dict]]) -> list[Practice]:
    out: list[Practice] = []
    if any(kind == "exercise_done" for kind, *_ in items):
        open_attempts: dict[str, int] = {}  # routine id -> index in out of its latest unfinished start
        for kind, at, _text, data in items:
            routine = data.get("routine_id")
            if not routine:
                continue
            if kind == "exercise_started":
                open_attempts[routine] = len(out)
                out.append(Practice(routine, at, False, sid))
            elif kind == "exercise_done":
                index = open_attempts.pop(routine, None)
                if index is None:
                    out.append(Practice(routine, at, True, sid))
                else:
                    out[index] = Practice(routine, out[index].at, True, sid)
        return out
    pending: Practice | None = None
    for kind, at, text, data in items:
        if kind == "exercise_started" and data.get("routine_id"):
            if pending is not None:
                out.append(Practice(pending.routine_id, pending.at, True, sid))
            pending = Practice(data["routine_id"], at, False, sid)
        elif kind == "finished" and pending is not None:
            completed = (data.get("reason") or text) == "completed"
            out.append(Practice(pending.routine_id, pending.at, completed, sid))
            pending = None
    if pending is not None:  # killed mid-routine: no finished record
        out.append(pending)
    return out


# -- the session output -----------------------------------------------------------


class StoreOutput:
    """An :class:`~companion.app.outputs.Output` writing every record into the store as it happens.

    On close the session is marked ended at ``started_at`` + the last record's
    ``t``, with the last ``finished`` record's reason; "interrupted" if there
    was none (or if the runner noted a Ctrl-C, whose ``finished`` record says
    "stopped"). A process that is killed never closes: the session keeps
    ``ended_at`` empty, which is what :meth:`Store.last_unfinished` looks for.
    Closing does not close the store (the caller owns it; the home menu runs
    several sessions on one store).

    Red flags are kept for the person (:meth:`Store.raise_flag`) as their record
    is written, and a yes to "Have you seen a doctor about this since?" (an
    ``answered`` record with tag "seen-doctor") clears that flag.

    If the database cannot be written (disk full, ...) the session carries on:
    the problem is printed once on stderr, kept in :attr:`problem`, and no
    more records are stored. :attr:`unsaved` counts them, and the ending
    stored on close says how many are missing (if the ending can be written).
    """

    def __init__(self, store: Store, session_id: int | None, started_at: datetime, user: str | None = None):
        self.store = store
        self.session_id = session_id  # None: the session could not even be started in the store
        self.started_at = started_at
        self.user = user  # whose red flags this session raises or clears (None: nobody's)
        self._screened: set[str] = set()  # flags answered yes in this session's safety questions
        self.problem: str | None = None
        self.unsaved = 0
        self._last_t = 0.0
        self._reason: str | None = None
        self._interrupted = False
        self._closed = False

    @classmethod
    def begin(cls, store: Store, user: str | None, entry_id: str, started_at: datetime,
              virtual: bool) -> "StoreOutput":
        """Start the session in the store; if that cannot be written, the session goes on unrecorded."""
        try:
            return cls(store, store.start_session(user, entry_id, started_at, virtual), started_at, user)
        except (sqlite3.Error, StoreError) as exc:
            output = cls(store, None, started_at, user)
            output._failed(exc)
            return output

    def _failed(self, exc: BaseException) -> None:
        if self.problem is None:
            detail = unreadable_message(self.store.path, exc) if isinstance(exc, sqlite3.Error) else str(exc)
            self.problem = (f"Cannot write to the history database at {self.store.path}, so the rest of this "
                            f"session is not recorded there: {detail}")
            print(self.problem, file=sys.stderr)

    def write(self, record: dict[str, Any]) -> None:
        kind = record.get("kind")
        self._last_t = max(self._last_t, float(record.get("t", 0.0)))
        if kind == "finished":
            self._reason = str(record.get("reason") or record.get("text") or "stopped")
        elif kind == "interrupted":
            self._interrupted = True
        if self.problem is None and self.session_id is not None:
            try:
                self.store.add_event(self.session_id, record)
            except (sqlite3.Error, StoreError) as exc:
                self._failed(exc)
            else:
                try:
                    self._keep_flag(record)
                except (sqlite3.Error, StoreError) as exc:
                    self._failed(exc)
                return
        self.unsaved += 1

    def _keep_flag(self, record: dict[str, Any]) -> None:
        """A red flag raised, or cleared by "yes, I have seen a doctor": kept for the person beyond this session."""
        kind, tag = record.get("kind"), record.get("tag")
        if self.user is None or kind not in ("red_flag", "answered"):
            return
        flag = str(record.get("flag_id") or "")
        at = self.started_at + timedelta(seconds=float(record.get("t", 0.0)))
        if kind == "red_flag":
            source = "screen" if flag in self._screened else "session"
            self.store.raise_flag(self.user, flag, at, self.session_id, source)
        elif tag == "screen" and record.get("answer") == "yes":
            self._screened.add(flag)
        elif tag == "seen-doctor" and record.get("answer") == "yes":
            self.store.clear_flags(self.user, at, "person", flag_id=flag)

    def interrupt(self) -> None:
        """Nothing to cut off: every record is already written."""

    @property
    def reason(self) -> str:
        return "interrupted" if self._interrupted or self._reason is None else self._reason

    def close(self) -> None:
        if self._closed or self.session_id is None:
            return
        self._closed = True
        try:
            self.store.finish_session(self.session_id, self.reason,
                                      self.started_at + timedelta(seconds=self._last_t), unsaved=self.unsaved)
        except (sqlite3.Error, StoreError) as exc:
            self._failed(exc)
