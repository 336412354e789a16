"""Read one person's history from the store into plain data for the report: no HTML here.

:func:`collect` turns the store's sessions and events of the ``days`` calendar
days ending on ``now``'s day into a :class:`ReportData`; :mod:`.html` and
:mod:`.csv` present it. Times are in the time zone of ``now`` (the local time
zone unless ``companion report --at`` names another).

Reading the records (:mod:`companion.app.records`, written by the session):

* ``pain`` {routine_id, when: before|after, score 0-10 (-1 when unknown), place}
* ``answered`` {tag, answer, flag_id}: tag "screen" is a red-flag screening question,
  "acute" the day's acute-stage question, "seen-doctor" the question about a red flag still open
* ``red_flag`` {flag_id}: from the screening or from something said in the session
* ``exercise_started`` / ``exercise_done`` {routine_id}
* ``pain_stop`` {routine_id, then: gentlest}: the pain rule stopped an exercise and the session went on
* ``finished`` {reason: completed|stopped|red-flag|pain|acute|...}; a session with no
  ``finished`` record and no end time was killed or is still running.

Red flags themselves (open until the person has seen a doctor) come from the
store's flags table (:meth:`~companion.care.store.Store.flags`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any

from companion.care.profiles import Profile
from companion.care.progression import check, family, find_setbacks, load_progression_text, today_report
from companion.care.report.wording import ReportWords, load_wording
from companion.care.session_setup import day_state, for_today, today_view
from companion.care.store import FlagRow, SessionRow, Store
from companion.content.library import Library
from companion.engine.pain import judge
from companion.knowledge.redflags import default_detector

UNKNOWN_SCORE = "?"
# Session endings with their own words; any other reason reads "Ended: <reason>".
STOP_ENDINGS = ("red-flag", "pain", "stopped", "interrupted", "acute")


# -- data ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One routine with a daily target in the adherence table."""

    routine_id: str
    title: str
    low: int
    high: int
    first_day: date  # the first day the person ever attempted it: earlier days are not counted against it

    @property
    def target(self) -> str:
        """The daily target as written in the table: "3", or a range such as "6-8" (with an en dash)."""
        return str(self.low) if self.low == self.high else f"{self.low}\u2013{self.high}"


@dataclass(frozen=True)
class Cell:
    """One routine on one day of the adherence table."""

    done: int
    attempted: int  # attempts that were not completed (stopped part-way)
    status: str  # met | part | missed | open (today, not yet met) | before (not started yet)


@dataclass(frozen=True)
class DayRow:
    """One day of the adherence table."""

    day: date
    sessions: int
    screening: str  # "passed" | "red-flag" | "" (not asked)
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Incident:
    """A red flag, a stop or a session that did not finish, for the highlighted list."""

    at: datetime
    kind: str  # red-flag | pain | stopped | interrupted | unfinished | unsaved
    label: str  # "RED FLAG", "PAIN STOP", ...
    what: str  # the exercise (or "Safety questions")
    reason: str


@dataclass(frozen=True)
class FlagView:
    """A red flag in the report: open at the report's time, or raised or cleared in its period."""

    raised_at: datetime
    flag_id: str
    name: str
    how: str  # how it was raised, in words
    open: bool
    status: str  # open, or when and by whom it was cleared, in words


@dataclass(frozen=True)
class PainPoint:
    """One session's pain: the first score before and the last score after its exercises."""

    at: datetime
    before: int | None
    after: int | None
    place_before: str | None
    place_after: str | None
    stopped: bool  # the pain rule ended the session


@dataclass
class ReportData:
    """Everything the report shows; the page and the CSV are made from this alone."""

    user: str
    now: datetime
    days: list[date]
    profile: Profile | None
    sessions: list[SessionRow]
    columns: list[Column]
    rows: list[DayRow]
    incidents: list[Incident]
    pain: list[PainPoint]
    events: list[dict[str, Any]]  # CSV rows
    mckenzie: dict[str, Any]
    today: dict[str, Any]
    completed_total: int = 0
    titles: dict[str, str] = field(default_factory=dict)
    flags: list[FlagView] = field(default_factory=list)

    @property
    def start(self) -> datetime:
        """Midnight at the start of the first day, in the report's time zone."""
        return datetime.combine(self.days[0], time(0), tzinfo=self.now.tzinfo)


# -- helpers --------------------------------------------------------------------------


@lru_cache(maxsize=1)
def flag_names() -> dict[str, str]:
    """Red-flag id -> its plain name ("loss of bladder or bowel control"), from the shipped detector.

    A broken red-flag file must not stop a caregiver's report: the flags then show by their ids.
    """
    try:
        flags = default_detector().spec.flags
    except RuntimeError:
        return {}
    return {flag.id: flag.name or flag.id for flag in flags}


def flag_name(flag_id: str, words: ReportWords | None = None) -> str:
    """The plain name of a red flag; an unknown id is shown as it is rather than hidden."""
    if not flag_id:
        return (words or load_wording()).events.unnamed_flag
    return flag_names().get(flag_id, flag_id)


def _local(moment: datetime, zone: tzinfo | None) -> datetime:
    return moment.astimezone(zone)


def _event_time(record: dict[str, Any], zone: tzinfo | None) -> datetime | None:
    at = record.get("at")
    if not at:
        return None
    try:
        return _local(datetime.fromisoformat(at), zone)
    except ValueError:
        return None


def _score(value: Any) -> int | None:
    try:
        score = int(value)
    except (TypeError, ValueError):
        return None
    return score if 0 <= score <= 10 else None


def _pain_change(before: dict[str, Any] | None, after: dict[str, Any], words: ReportWords) -> str:
    """Why the pain rule stopped an exercise, in words."""
    if before is None:
        return ""
    b, a = _score(before.get("score")), _score(after.get("score"))
    pb, pa = before.get("place") or "none", after.get("place") or "none"
    verdict = judge(b if b is not None else -1, pb, a if a is not None else -1, pa)
    if verdict.kind == "spread":
        return words.events.pain_spread.format(before=words.places.get(pb, pb), after=words.places.get(pa, pa))
    if verdict.kind == "rise":
        return words.events.pain_rise.format(rise=verdict.rise, before=b, after=a)
    return words.events.pain_change.format(before=b if b is not None else UNKNOWN_SCORE,
                                           after=a if a is not None else UNKNOWN_SCORE)


# -- collecting -------------------------------------------------------------------------


def collect(store: Store, user: str, now: datetime, library: Library, days: int = 7) -> ReportData:
    """Everything the report shows, for the ``days`` calendar days ending on ``now``'s day."""
    words = load_wording()
    said = words.events
    if now.tzinfo is None:
        now = now.astimezone()
    zone = now.tzinfo
    last = now.date()
    day_list = [last - timedelta(days=n) for n in range(days - 1, -1, -1)]
    start = datetime.combine(day_list[0], time(0), tzinfo=zone)
    titles = {rid: r.title for rid, r in library.routines.items()}
    titles.update({pid: p.title for pid, p in library.programmes.items()})

    def title(rid: str | None) -> str:
        return titles.get(rid or "", rid or "")

    profile = store.get_profile(user)
    sessions = [s for s in store.sessions(user, since=start) if s.started_at <= now]
    history = [p for p in store.practice(user) if p.at <= now]

    # -- events of each session: CSV rows, incidents, pain, screening -----------------------
    csv: list[dict[str, Any]] = []
    incidents: list[Incident] = []
    pain_points: list[PainPoint] = []
    screening: dict[date, str] = {}
    sessions_by_day: dict[date, int] = {}
    for session in sessions:
        started = _local(session.started_at, zone)
        sessions_by_day[started.date()] = sessions_by_day.get(started.date(), 0) + 1
        current: str | None = None  # the routine being done
        open_routines: list[str] = []  # started, not yet done
        pain: dict[tuple[str, str], dict[str, Any]] = {}
        first_before: dict[str, Any] | None = None
        last_after: dict[str, Any] | None = None
        finished: tuple[str, datetime] | None = None
        flagged = False
        last_at = started

        def row(at: datetime, routine: str | None, kind: str, value: Any, detail: str = "",
                session_id: int = session.id) -> None:
            csv.append({"date": at.date().isoformat(), "time": at.strftime("%H:%M:%S"), "session": session_id,
                        "routine": title(routine), "kind": kind, "value": value, "detail": detail})

        for record in store.events(session.id):
            at = _event_time(record, zone) or last_at
            if at > now:
                break
            last_at = at
            kind = record.get("kind")
            routine = record.get("routine_id") or None
            if kind == "exercise_started" and routine:
                current = routine
                open_routines.append(routine)
            elif kind == "exercise_done" and routine:
                if routine in open_routines:
                    open_routines.remove(routine)
                row(at, routine, "completed", "yes")
            elif kind == "pain":
                when = str(record.get("when") or "")
                score = _score(record.get("score"))
                place = str(record.get("place") or "")
                entry = {"score": score, "place": place, "at": at}
                pain[(routine or "", when)] = entry
                if when == "before" and first_before is None and score is not None:
                    first_before = entry
                if when == "after" and score is not None:
                    last_after = entry
                row(at, routine or current, f"pain-{when}" if when else "pain",
                    "" if score is None else score, words.places.get(place, place))
            elif kind == "answered" and record.get("tag") == "seen-doctor":
                answer = str(record.get("answer") or "")
                flag = str(record.get("flag_id") or "")
                row(at, None, "seen-doctor", answer, flag_name(flag, words))
                if answer != "yes":  # the flag stays open; the session ended with its advice
                    flagged = True
                    incidents.append(Incident(at, "red-flag", words.stops["red-flag"].label, said.safety_questions,
                                              said.seen_doctor_no.format(flag=flag_name(flag, words))))
            elif kind == "answered" and record.get("tag") == "acute":
                row(at, None, "acute", str(record.get("answer") or ""))
            elif kind == "answered" and record.get("tag") == "screen":
                answer = str(record.get("answer") or "")
                flag = str(record.get("flag_id") or "")
                row(at, None, "screening", answer, flag_name(flag, words))
                if answer == "yes":
                    screening[at.date()] = "red-flag"
                else:
                    screening.setdefault(at.date(), "passed")
            elif kind == "red_flag":
                flag = str(record.get("flag_id") or "")
                flagged = True
                screening_yes = any(r["kind"] == "screening" and r["value"] == "yes" and r["session"] == session.id
                                    and r["detail"] == flag_name(flag, words) for r in csv)
                how = said.red_flag_answered if screening_yes else said.red_flag_heard
                row(at, current, "red-flag", flag, flag_name(flag, words))
                incidents.append(Incident(at, "red-flag", words.stops["red-flag"].label,
                                          title(current) if current and not screening_yes else said.safety_questions,
                                          how.format(flag=flag_name(flag, words))))
            elif kind == "pain_stop" and record.get("then") == "gentlest":
                # The session went on with the gentlest exercise; the stop still belongs in the report.
                detail = _pain_change(pain.get((routine or "", "before")), pain.get((routine or "", "after")) or {},
                                      words)
                text = words.stops["pain"].text
                text = said.with_detail.format(text=text, detail=detail) if detail else text
                row(at, routine, "stopped", "pain", text)
                incidents.append(Incident(at, "pain", words.stops["pain"].label, title(routine),
                                          said.went_on_gentlest.format(text=text)))
                if routine in open_routines:
                    open_routines.remove(routine)
            elif kind == "finished":
                reason = str(record.get("reason") or record.get("text") or "stopped")
                finished = (reason, at)
        # -- how the session ended ----------------------------------------------------------
        if finished is None and session.ended_at is not None:
            finished = (session.reason or "interrupted", _local(session.ended_at, zone))
        reason, end_at = finished if finished else (None, last_at)
        stopped_routine = open_routines[-1] if open_routines else None
        if reason == "completed":
            row(end_at, None, "session-end", "completed")
        elif reason == "red-flag":
            stop = words.stops["red-flag"]
            row(end_at, stopped_routine, "stopped", "red-flag", stop.text)
            if not flagged:  # a red-flag ending without its own record (should not happen)
                incidents.append(Incident(end_at, "red-flag", stop.label, title(stopped_routine) or said.session,
                                          said.sentence.format(text=stop.text)))
        elif session.ended_at is None and finished is None and session.id == _latest_id(sessions) \
                and now - last_at < timedelta(hours=1):
            pass  # may still be running right now: not a stop
        else:
            kind = reason if reason in STOP_ENDINGS else ("stopped" if reason else "unfinished")
            label, text = words.stops[kind].label, words.stops[kind].text
            if reason and reason not in STOP_ENDINGS:
                text = said.ended.format(reason=reason)
            if kind == "pain":
                pain_routine = stopped_routine or current
                detail = _pain_change(pain.get((pain_routine or "", "before")),
                                      pain.get((pain_routine or "", "after")) or {}, words)
                text = said.with_detail.format(text=text, detail=detail) if detail else text
                stopped_routine = pain_routine
            what = title(stopped_routine) if stopped_routine else \
                said.after_exercises.format(title=title(session.entry_id))
            row(end_at, stopped_routine, "stopped", kind, text)
            incidents.append(Incident(end_at, kind, label, what, said.sentence.format(text=text)))
        if session.unsaved:  # the disk was full (or could not be written): this session's record is incomplete
            note = said.unsaved_one if session.unsaved == 1 else said.unsaved_many.format(count=session.unsaved)
            row(end_at, None, "unsaved", session.unsaved, note)
            incidents.append(Incident(end_at, "unsaved", said.unsaved_label, title(session.entry_id), note))
        if first_before is not None or last_after is not None:
            pain_points.append(PainPoint(
                started,
                first_before["score"] if first_before else None,
                last_after["score"] if last_after else None,
                first_before["place"] if first_before else None,
                last_after["place"] if last_after else None,
                reason == "pain"))

    # -- adherence -----------------------------------------------------------------------
    first_attempt: dict[str, date] = {}
    for practice in history:
        day = _local(practice.at, zone).date()
        if practice.routine_id not in first_attempt or day < first_attempt[practice.routine_id]:
            first_attempt[practice.routine_id] = day
    columns = []
    for routine in library.routines.values():
        per_day = routine.frequency.per_day
        if per_day is None or routine.id not in first_attempt:
            continue
        columns.append(Column(routine.id, routine.title, int(per_day.low), int(per_day.high),
                              first_attempt[routine.id]))
    columns.sort(key=lambda c: (c.first_day, c.routine_id))
    counts: dict[tuple[date, str], list[int]] = {}
    completed_total = 0
    for practice in history:
        at = _local(practice.at, zone)
        if at < start:
            continue
        slot = counts.setdefault((at.date(), practice.routine_id), [0, 0])
        slot[0 if practice.completed else 1] += 1
        completed_total += practice.completed
    rows = []
    for day in day_list:
        cells = []
        for column in columns:
            done, stopped = counts.get((day, column.routine_id), [0, 0])
            if day < column.first_day:
                status = "before"
            elif done >= column.low:
                status = "met"
            elif day == last:
                status = "open"
            elif done > 0:
                status = "part"
            else:
                status = "missed"
            cells.append(Cell(done, stopped, status))
        rows.append(DayRow(day, sessions_by_day.get(day, 0), screening.get(day, ""), tuple(cells)))

    incidents.sort(key=lambda i: i.at)
    pain_points.sort(key=lambda p: p.at)
    rules_profile = for_today(profile, day_state(store, user, now).acute_today)
    setbacks = find_setbacks(history, store.events)  # a session whose pain spread is no practice
    return ReportData(user=user, now=now, days=day_list, profile=profile, sessions=sessions, columns=columns,
                      rows=rows, incidents=incidents, pain=pain_points, events=csv,
                      mckenzie=_mckenzie(history, now, library, rules_profile, start, words, setbacks),
                      today=today_view(store, profile, now, library) if profile is not None
                      else today_report(user, history, now, library, profile, setbacks=setbacks),
                      completed_total=completed_total, titles=titles,
                      flags=_flags(store.flags(user), start, now, words))


def _flags(flags: list[FlagRow], start: datetime, now: datetime, words: ReportWords) -> list[FlagView]:
    """Every flag open at ``now``, and those raised or cleared between ``start`` and ``now``, oldest first."""
    page, zone = words.page, now.tzinfo
    how = {"screen": page.flag_from_screen, "session": page.flag_from_session, "ask": page.flag_from_ask}
    views = []
    for flag in flags:
        if flag.raised_at > now:
            continue
        still = flag.open_at(now)
        cleared = flag.cleared_at if not still else None
        if not still and flag.raised_at < start and (cleared is None or cleared < start):
            continue
        if cleared is None:
            status = page.flag_open
        else:
            when = _local(cleared, zone).strftime("%Y-%m-%d %H:%M")
            template = page.flag_cleared_caregiver if flag.cleared_by == "caregiver" else page.flag_cleared_person
            status = template.format(when=when)
            if flag.note:
                status = page.flag_note.format(text=status, note=flag.note)
        views.append(FlagView(_local(flag.raised_at, zone), flag.flag_id, flag_name(flag.flag_id, words),
                              how.get(flag.source, flag.source), still, status))
    return views


def _latest_id(sessions: list[SessionRow]) -> int | None:
    return sessions[-1].id if sessions else None


def _mckenzie(history: list[Any], now: datetime, library: Library, profile: Profile | None,
              start: datetime, words: ReportWords, setbacks: frozenset[Any] = frozenset()) -> dict[str, Any]:
    """The McKenzie stage: which exercises are done, allowed now, not yet (and why), and what is next."""
    text = load_progression_text()
    if text.first_aid not in library.routines:
        return {"stage": "", "next": "", "rows": []}
    members = sorted(family(library, text.first_aid))
    ever = {p.routine_id for p in history if p.completed}
    period: dict[str, int] = {}
    for p in history:
        if p.completed and p.at >= start:
            period[p.routine_id] = period.get(p.routine_id, 0) + 1
    rows = []
    for rid in members:
        verdict = check(rid, history, now, library, profile, text=text, setbacks=setbacks)
        routine = library.routines[rid]
        rows.append({"routine_id": rid, "title": routine.title, "allowed": verdict.allowed,
                     "reason": verdict.reason, "done_ever": rid in ever, "done_period": period.get(rid, 0),
                     "alternative": routine.alternative_to is not None})
    practised = [r for r in rows if r["done_ever"]]
    if practised:
        stage = words.events.stage_practising.format(
            title=practised[-1]["title"], done=", ".join(r["title"].split(":")[0] for r in practised))
    else:
        stage = words.events.stage_not_started.format(title=library.routines[text.first_aid].title)
    nxt = ""
    for r in rows:
        if r["done_ever"] or r["alternative"]:
            continue
        nxt = words.events.next_not_done.format(reason=r["reason"]) if r["allowed"] else r["reason"]
        break
    if not nxt:
        nxt = words.events.next_all_started
    return {"stage": stage, "next": nxt, "rows": rows}


__all__ = ["Cell", "Column", "DayRow", "FlagView", "Incident", "PainPoint", "ReportData", "collect", "flag_name"]
