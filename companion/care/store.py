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
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from companion.care.profiles import Profile, ProfileError
from companion.content.datadir import data_dir

DB_NAME = "companion.db"
BUSY_TIMEOUT_SECONDS = 5.0
MAX_NAME_LENGTH = 60
RECORD_KEYS = ("t", "who", "kind", "text")  # columns; everything else in a record goes to ``data``


def default_db_path() -> Path:
    return data_dir() / DB_NAME


class StoreError(Exception):
    """The database cannot be used; the message says what to do."""


class DuplicateProfile(StoreError):
    pass


def unreadable_message(path: Path, exc: BaseException) -> str:
    return (f"cannot read the database at {path}: {exc}; move it aside (together with any {path.name}-wal and "
            f"{path.name}-shm next to it), and companion will start a new, empty one")


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


# Index i upgrades a version-i file to version i + 1. Never edit a released
# migration: add a new one at the end.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_v1, _v2]
SCHEMA_VERSION = len(MIGRATIONS)


def _user_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def _too_new(path: Path, version: int) -> StoreError:
    return StoreError(f"the database at {path} was written by a newer version of companion (schema {version}; "
                      f"this version understands up to {SCHEMA_VERSION}). Upgrade companion, or use another "
                      f"file with --db PATH")


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    if _user_version(conn) == SCHEMA_VERSION:
        return
    while True:
        conn.execute("BEGIN IMMEDIATE")  # one process migrates; others wait (busy timeout) and re-read
        try:
            version = _user_version(conn)
            if version > SCHEMA_VERSION:
                raise _too_new(path, version)
            if version == SCHEMA_VERSION:
                conn.execute("COMMIT")
                return
            try:
                MIGRATIONS[version](conn)
                conn.execute(f"PRAGMA user_version = {version + 1}")
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot upgrade the database at {path} from schema {version} to "
                                 f"{version + 1}: {exc}; it was left as it was") from None
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


_SESSION_COLUMNS = """s.id, s.user, s.entry_id, s.started_at, s.virtual, s.ended_at, s.reason,
    (SELECT MAX(e.t) FROM events e WHERE e.session_id = s.id),
    (SELECT COUNT(*) FROM events e WHERE e.session_id = s.id)"""


def _session_row(row: tuple) -> SessionRow:
    sid, user, entry_id, started, virtual, ended, reason, last_t, count = row
    return SessionRow(sid, user, entry_id, from_text(started), bool(virtual), from_text(ended), reason,
                      last_t, count)


_PROFILE_FIELDS = {f.name for f in fields(Profile)} - {"name"}


def _profile(name: str, settings: str) -> Profile:
    data = {k: v for k, v in json.loads(settings).items() if k in _PROFILE_FIELDS}
    if "conditions" in data:
        data["conditions"] = tuple(data["conditions"])
    return Profile(name=name, **data)


def check_name(name: str) -> str:
    """A profile name as typed: not empty, one line, at most 60 characters."""
    if not name or name != name.strip():
        raise ProfileError("a profile name cannot be empty or start or end with a space")
    if len(name) > MAX_NAME_LENGTH or any(not ch.isprintable() for ch in name):
        raise ProfileError(f"a profile name is at most {MAX_NAME_LENGTH} printable characters")
    return name


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
        raise StoreError(f"cannot create the database at {path}: {exc.strerror or exc}") from None
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS)
    except sqlite3.Error as exc:
        raise StoreError(unreadable_message(path, exc)) from None
    try:
        version = _user_version(conn)  # the first read: fails here if the file is not a database
        if version > SCHEMA_VERSION:
            raise _too_new(path, version)
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
    """Profiles and session history. Use from one thread (see the module notes); close when done."""

    def __init__(self, conn: sqlite3.Connection, path: Path):
        self._conn = conn
        self.path = path
        self._next: dict[int, int] = {}  # session id -> next event seq
        self._starts: dict[int, datetime] = {}

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return _user_version(self._conn)

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

    # -- profiles ---------------------------------------------------------------

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

    def save_profile(self, profile: Profile) -> None:
        """Insert or replace the settings of a profile (its name and creation time stay)."""
        check_name(profile.name)
        settings = json.dumps({k: v for k, v in profile.as_dict().items() if k != "name"})
        with self._durable() as conn:
            conn.execute("""INSERT INTO profiles (name, settings, created_at) VALUES (?, ?, ?)
                            ON CONFLICT(name) DO UPDATE SET settings = excluded.settings""",
                         (profile.name, settings, to_text(datetime.now(timezone.utc))))

    def get_profile(self, name: str) -> Profile | None:
        row = self._conn.execute("SELECT name, settings FROM profiles WHERE name = ?", (name,)).fetchone()
        return _profile(*row) if row else None

    def profile_created(self, name: str) -> datetime | None:
        row = self._conn.execute("SELECT created_at FROM profiles WHERE name = ?", (name,)).fetchone()
        return from_text(row[0]) if row else None

    def list_profiles(self) -> list[Profile]:
        rows = self._conn.execute("SELECT name, settings FROM profiles ORDER BY name COLLATE NOCASE")
        return [_profile(*row) for row in rows]

    def remove_profile(self, name: str) -> bool:
        """Remove the profile; its sessions and events are kept. False if there was none."""
        with self._durable() as conn:
            return conn.execute("DELETE FROM profiles WHERE name = ?", (name,)).rowcount > 0

    # -- sessions and events ----------------------------------------------------

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
            start = self._starts[session_id] = from_text(row[0])
        return start

    def _next_seq(self, session_id: int) -> int:
        seq = self._next.get(session_id)
        if seq is None:
            row = self._conn.execute("SELECT MAX(seq) FROM events WHERE session_id = ?", (session_id,)).fetchone()
            seq = (row[0] or 0) + 1
        return seq

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

    def finish_session(self, session_id: int, reason: str, ended_at: datetime) -> None:
        with self._durable() as conn:
            conn.execute("UPDATE sessions SET ended_at = ?, reason = ? WHERE id = ?",
                         (to_text(ended_at), reason, session_id))

    def session(self, session_id: int) -> SessionRow | None:
        row = self._conn.execute(f"SELECT {_SESSION_COLUMNS} FROM sessions s WHERE s.id = ?",
                                 (session_id,)).fetchone()
        return _session_row(row) if row else None

    def sessions(self, user: str | None = None, since: datetime | None = None) -> list[SessionRow]:
        """Sessions in start order; ``user`` None means everyone's, ``since`` a start at or after it."""
        since_text = to_text(since) if since is not None else None
        rows = self._conn.execute(
            f"""SELECT {_SESSION_COLUMNS} FROM sessions s
                WHERE (?1 IS NULL OR s.user = ?1) AND (?2 IS NULL OR s.started_at >= ?2)
                ORDER BY s.started_at, s.id""", (user, since_text))
        return [_session_row(row) for row in rows]

    def users(self) -> list[str]:
        """Everyone with a profile or a session history (removed profiles keep their history)."""
        rows = self._conn.execute("""SELECT name FROM profiles UNION
                                     SELECT user FROM sessions WHERE user IS NOT NULL
                                     ORDER BY 1 COLLATE NOCASE""")
        return [row[0] for row in rows]

    def events(self, session_id: int) -> list[dict[str, Any]]:
        """The session's records as written, in order, each with ``seq`` and ``at`` (local ISO time) added."""
        rows = self._conn.execute("""SELECT seq, t, at, who, kind, text, data FROM events
                                     WHERE session_id = ? ORDER BY seq""", (session_id,))
        out = []
        for seq, t, at, who, kind, text, data in rows:
            record = {"seq": seq, "t": t, "at": local_text(at) if at else None, "who": who, "kind": kind,
                      "text": text}
            record.update(json.loads(data))
            out.append(record)
        return out

    def last_unfinished(self, user: str | None) -> SessionRow | None:
        """The user's most recent session (``None``: sessions without a user) if it is unfinished.

        Unfinished means killed (never closed) or interrupted with Ctrl-C. Only
        the latest session counts: once the person has run another session,
        an older interrupted one is no longer offered for ``--resume``.
        """
        row = self._conn.execute(f"SELECT {_SESSION_COLUMNS} FROM sessions s WHERE s.user IS ? "
                                 f"ORDER BY s.id DESC LIMIT 1", (user,)).fetchone()
        if row is None:
            return None
        session = _session_row(row)
        return session if session.unfinished else None

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
        """
        since_text = to_text(since) if since is not None else None
        rows = self._conn.execute(
            """SELECT s.id, e.kind, e.at, e.text, e.data FROM sessions s JOIN events e ON e.session_id = s.id
               WHERE s.user = ?1 AND (?2 IS NULL OR s.started_at >= ?2)
                 AND e.kind IN ('exercise_started', 'exercise_done', 'finished')
               ORDER BY s.started_at, s.id, e.seq""", (user, since_text))
        by_session: dict[int, list[tuple[str, str, str, dict]]] = {}
        for sid, kind, at, text, data in rows:
            by_session.setdefault(sid, []).append((kind, at, text, json.loads(data)))
        result: list[Practice] = []
        for sid, items in by_session.items():
            result.extend(_practice_in_session(sid, items))
        result.sort(key=lambda p: (p.at, p.session_id))
        return result


def _practice_in_session(sid: int, items: list[tuple[str, str, str, dict]]) -> list[Practice]:
    out: list[Practice] = []
    if any(kind == "exercise_done" for kind, *_ in items):
        open_attempts: dict[str, int] = {}  # routine id -> index in out of its latest unfinished start
        for kind, at, _text, data in items:
            routine = data.get("routine_id")
            if not routine:
                continue
            if kind == "exercise_started":
                open_attempts[routine] = len(out)
                out.append(Practice(routine, from_text(at), False, sid))
            elif kind == "exercise_done":
                index = open_attempts.pop(routine, None)
                if index is None:
                    out.append(Practice(routine, from_text(at), True, sid))
                else:
                    out[index] = Practice(routine, out[index].at, True, sid)
        return out
    pending: Practice | None = None
    for kind, at, text, data in items:
        if kind == "exercise_started" and data.get("routine_id"):
            if pending is not None:
                out.append(Practice(pending.routine_id, pending.at, True, sid))
            pending = Practice(data["routine_id"], from_text(at), False, sid)
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

    If the database cannot be written (disk full, ...) the session carries on:
    the problem is printed once on stderr, kept in :attr:`problem`, and no
    more records are stored.
    """

    def __init__(self, store: Store, session_id: int, started_at: datetime):
        self.store = store
        self.session_id = session_id
        self.started_at = started_at
        self.problem: str | None = None
        self._last_t = 0.0
        self._reason: str | None = None
        self._interrupted = False
        self._closed = False

    @classmethod
    def begin(cls, store: Store, user: str | None, entry_id: str, started_at: datetime,
              virtual: bool) -> "StoreOutput":
        return cls(store, store.start_session(user, entry_id, started_at, virtual), started_at)

    def _failed(self, exc: BaseException) -> None:
        if self.problem is None:
            self.problem = f"Cannot write to the history database at {self.store.path} ({exc}); " \
                           f"the rest of this session is not recorded there."
            print(self.problem, file=sys.stderr)

    def write(self, record: dict[str, Any]) -> None:
        kind = record.get("kind")
        self._last_t = max(self._last_t, float(record.get("t", 0.0)))
        if kind == "finished":
            self._reason = str(record.get("reason") or record.get("text") or "stopped")
        elif kind == "interrupted":
            self._interrupted = True
        if self.problem is not None:
            return
        try:
            self.store.add_event(self.session_id, record)
        except (sqlite3.Error, StoreError) as exc:
            self._failed(exc)

    def interrupt(self) -> None:
        """Nothing to cut off: every record is already written."""

    @property
    def reason(self) -> str:
        return "interrupted" if self._interrupted or self._reason is None else self._reason

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.store.finish_session(self.session_id, self.reason,
                                      self.started_at + timedelta(seconds=self._last_t))
        except (sqlite3.Error, StoreError) as exc:
            self._failed(exc)
