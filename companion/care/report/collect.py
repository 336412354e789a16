"""A printable report of one person's week: adherence, pain, red flags and stops, McKenzie stage.

``companion report --user NAME --html FILE [--csv FILE]`` (see
:mod:`companion.cli.report`) reads the history from the store and writes

* one self-contained HTML page for a caregiver or physiotherapist to print on
  A4: inline CSS, the pain chart embedded as a base64 PNG drawn with
  matplotlib (Agg canvas, no pyplot state), no scripts and no external
  references. Everything that a colour marks is also written as text or a
  symbol, so the page reads the same in black and white;
* optionally a CSV file with one row per event of interest: pain scores,
  screening answers, red flags, exercises completed and sessions stopped.

The work is split in three: :func:`collect` turns the store's sessions and
events into a :class:`ReportData` (plain data, no HTML), :func:`render_html`
and :func:`csv_rows` present it. Times are shown in the time zone of the
report's ``now`` (the local time zone unless ``--at`` names another).

Reading the records (:mod:`companion.app.records`, written by the session):

* ``pain`` {routine_id, when: before|after, score 0-10 (-1 when unknown), place}
* ``answered`` {tag, answer, flag_id}: tag "screen" is a red-flag screening question
* ``red_flag`` {flag_id}: from the screening or from something said in the session
* ``exercise_started`` / ``exercise_done`` {routine_id}
* ``finished`` {reason: completed|stopped|red-flag|pain|...}; a session with no
  ``finished`` record and no end time was killed or is still running.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any


from companion.engine.pain import PLACE_ORDER, judge
from companion.care.profiles import Profile
from companion.care.progression import (
    check,
    family,
    load_progression_text,
    today_report,
)
from companion.care.store import SessionRow, Store
from companion.content.library import Library
from companion.knowledge.redflags import load_redflags


CSV_FIELDS = ("date", "time", "session", "routine", "kind", "value", "detail")

PLACE_LABELS = {"none": "none", "back": "back only", "buttock": "buttock", "thigh": "thigh",
                "below-knee": "below the knee"}

# How each session ending reads on the page and in the CSV.
STOP_LABELS = {
    "red-flag": ("RED FLAG", "Red flag: the session ended with advice to see a doctor urgently"),
    "pain": ("PAIN STOP", "Stopped by the pain rule"),
    "stopped": ("STOPPED", "Stopped by the user (said \"stop\")"),
    "interrupted": ("INTERRUPTED", "Interrupted at the computer (Ctrl-C)"),
    None: ("DID NOT FINISH", "Did not finish: the program was closed or killed"),
}
DISCLAIMER = ("companion is not a doctor. This report shows what was done and what was said during the "
              "exercise sessions; it is not a diagnosis and does not replace a doctor or physiotherapist. "
              "Loss of bladder or bowel control, numbness between the legs, weakness spreading in the legs, "
              "fever with back pain, or back pain after a fall need a doctor at once.")


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
        return str(self.low) if self.low == self.high else f"{self.low}\u2013{self.high}"


@dataclass(frozen=True)
class Cell:
    done: int
    attempted: int  # attempts that were not completed (stopped part-way)
    status: str  # met | part | missed | open (today, not yet met) | before (not started yet)


@dataclass(frozen=True)
class DayRow:
    day: date
    sessions: int
    screening: str  # "passed" | "RED FLAG" | "" (not asked)
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Incident:
    """A red flag, a stop or a session that did not finish, for the highlighted list."""

    at: datetime
    kind: str  # red-flag | pain | stopped | interrupted | unfinished
    label: str  # "RED FLAG", "PAIN STOP", ...
    what: str  # the exercise (or "Safety questions")
    reason: str


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

    @property
    def start(self) -> datetime:
        return datetime.combine(self.days[0], time(0), tzinfo=self.now.tzinfo)


# -- helpers --------------------------------------------------------------------------


@lru_cache(maxsize=1)
def flag_names() -> dict[str, str]:
    """Red-flag id -> its plain name ("loss of bladder or bowel control")."""
    loaded = load_redflags()
    if loaded.detector is None:
        return {}
    return {flag.id: flag.name or flag.id for flag in loaded.detector.spec.flags}


def flag_name(flag_id: str) -> str:
    if not flag_id:
        return "a red flag"
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


def day_label(day: date) -> str:
    return f"{day.strftime('%a')} {day.day} {day.strftime('%b')}"


def _score(value: Any) -> int | None:
    try:
        score = int(value)
    except (TypeError, ValueError):
        return None
    return score if 0 <= score <= 10 else None


def _pain_change(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    """Why the pain rule stopped an exercise, in words."""
    if before is None:
        return ""
    b, a = _score(before.get("score")), _score(after.get("score"))
    pb, pa = before.get("place") or "none", after.get("place") or "none"
    verdict = judge(b if b is not None else -1, pb, a if a is not None else -1, pa)
    if verdict.kind == "spread":
        return f"pain spread further down the leg ({PLACE_LABELS.get(pb, pb)} \u2192 {PLACE_LABELS.get(pa, pa)})"
    if verdict.kind == "rise":
        return f"pain rose by {verdict.rise} points ({b} \u2192 {a} out of 10)"
    return f"pain {b if b is not None else '?'} \u2192 {a if a is not None else '?'} out of 10"


# -- collecting -------------------------------------------------------------------------


def collect(store: Store, user: str, now: datetime, library: Library, days: int = 7) -> ReportData:
    """Everything the report shows, for the ``days`` calendar days ending on ``now``'s day."""
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
                    "" if score is None else score, PLACE_LABELS.get(place, place))
            elif kind == "answered" and record.get("tag") == "screen":
                answer = str(record.get("answer") or "")
                flag = str(record.get("flag_id") or "")
                row(at, None, "screening", answer, flag_name(flag))
                if answer == "yes":
                    screening[at.date()] = "RED FLAG"
                else:
                    screening.setdefault(at.date(), "passed")
            elif kind == "red_flag":
                flag = str(record.get("flag_id") or "")
                flagged = True
                screening_yes = any(r["kind"] == "screening" and r["value"] == "yes" and r["session"] == session.id
                                    and r["detail"] == flag_name(flag) for r in csv)
                how = ("Answered yes to the safety question about " if screening_yes
                       else "Said during the session something that sounds like ")
                row(at, current, "red-flag", flag, flag_name(flag))
                incidents.append(Incident(at, "red-flag", "RED FLAG",
                                          title(current) if current and not screening_yes else "Safety questions",
                                          f"{how}{flag_name(flag)}. Advice given: see a doctor urgently."))
            elif kind == "pain_stop" and record.get("then") == "gentlest":
                # The session went on with the gentlest exercise; the stop still belongs in the report.
                detail = _pain_change(pain.get((routine or "", "before")), pain.get((routine or "", "after")) or {})
                text = STOP_LABELS["pain"][1] + (f": {detail}" if detail else "")
                row(at, routine, "stopped", "pain", text)
                incidents.append(Incident(at, "pain", STOP_LABELS["pain"][0], title(routine),
                                          f"{text}. Went on with the gentlest exercise."))
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
            row(end_at, stopped_routine, "stopped", "red-flag", STOP_LABELS["red-flag"][1])
            if not flagged:  # a red-flag ending without its own record (should not happen)
                incidents.append(Incident(end_at, "red-flag", "RED FLAG", title(stopped_routine) or "Session",
                                          STOP_LABELS["red-flag"][1] + "."))
        elif session.ended_at is None and finished is None and session.id == _latest_id(sessions) \
                and now - last_at < timedelta(hours=1):
            pass  # may still be running right now: not a stop
        else:
            code = reason if reason in STOP_LABELS else ("stopped" if reason else None)
            label, text = STOP_LABELS[code]
            kind = {"pain": "pain", "stopped": "stopped", "interrupted": "interrupted", None: "unfinished"}[code]
            if reason not in STOP_LABELS and reason:
                text = f"Ended: {reason}"
            if code == "pain":
                pain_routine = stopped_routine or current
                detail = _pain_change(pain.get((pain_routine or "", "before")),
                                      pain.get((pain_routine or "", "after")) or {})
                text = f"{text}: {detail}" if detail else text
                stopped_routine = pain_routine
            what = title(stopped_routine) if stopped_routine else f"{title(session.entry_id)} (after the exercises)"
            row(end_at, stopped_routine, "stopped", kind, text)
            incidents.append(Incident(end_at, kind, label, what, text + "."))
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
    return ReportData(user=user, now=now, days=day_list, profile=profile, sessions=sessions, columns=columns,
                      rows=rows, incidents=incidents, pain=pain_points, events=csv,
                      mckenzie=_mckenzie(history, now, library, profile, start),
                      today=today_report(user, history, now, library, profile),
                      completed_total=completed_total, titles=titles)


def _latest_id(sessions: list[SessionRow]) -> int | None:
    return sessions[-1].id if sessions else None


def _mckenzie(history: list[Any], now: datetime, library: Library, profile: Profile | None,
              start: datetime) -> dict[str, Any]:
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
        verdict = check(rid, history, now, library, profile, text=text)
        routine = library.routines[rid]
        rows.append({"routine_id": rid, "title": routine.title, "allowed": verdict.allowed,
                     "reason": verdict.reason, "done_ever": rid in ever, "done_period": period.get(rid, 0),
                     "alternative": routine.alternative_to is not None})
    practised = [r for r in rows if r["done_ever"]]
    if practised:
        stage = f"Practising up to {practised[-1]['title']} (done so far: " \
                f"{', '.join(r['title'].split(':')[0] for r in practised)})."
    else:
        stage = f"Not started yet. {library.routines[text.first_aid].title} comes first."
    nxt = ""
    for r in rows:
        if r["done_ever"] or r["alternative"]:
            continue
        nxt = f"{r['reason']} It has not been done yet." if r["allowed"] else r["reason"]
        break
    if not nxt:
        nxt = "Every McKenzie exercise has been started. Keep to the daily counts below."
    return {"stage": stage, "next": nxt, "rows": rows}


# -- the chart ---------------------------------------------------------------------------


def pain_chart_png(data: ReportData) -> bytes | None:
    """The pain trend (scores, and where the pain is felt) as a PNG; None when there is nothing to draw."""
    points = [p for p in data.pain if p.before is not None or p.after is not None]
    if not points:
        return None
    from matplotlib import dates as mdates
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    zone = data.now.tzinfo
    fig = Figure(figsize=(7.6, 7.4), dpi=150)
    FigureCanvasAgg(fig)
    ax_score, ax_place = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    start = data.start
    end = start + timedelta(days=len(data.days))

    def xs(items: list[PainPoint]) -> list[datetime]:
        return [p.at.astimezone(zone) for p in items]

    before_style: dict[str, Any] = {"color": "#1f4e9c", "linestyle": "-", "linewidth": 3, "marker": "o",
                                    "markersize": 10, "markerfacecolor": "white", "markeredgewidth": 2.5,
                                    "label": "before"}
    after_style: dict[str, Any] = {"color": "#111111", "linestyle": "--", "linewidth": 3, "marker": "s",
                                   "markersize": 9, "markerfacecolor": "#111111", "label": "after"}

    def series(ax: Any, value: str, transform: Any) -> None:
        for p in points:  # a thin grey line joins each session's before and after
            b, a = transform(getattr(p, f"{value}_before" if value == "place" else "before")), \
                transform(getattr(p, f"{value}_after" if value == "place" else "after"))
            if b is not None and a is not None:
                x = p.at.astimezone(zone)
                ax.plot([x, x], [b, a], color="#999999", linewidth=1.5, zorder=1)
        for style, attr in ((before_style, "before"), (after_style, "after")):
            got = [(p.at.astimezone(zone), transform(getattr(p, attr if value == "score" else f"place_{attr}")))
                   for p in points]
            got = [(x, y) for x, y in got if y is not None]
            if got:
                ax.plot([x for x, _ in got], [y for _, y in got], zorder=3, **style)
        stops = [(p.at.astimezone(zone), transform(p.after if value == "score" else p.place_after))
                 for p in points if p.stopped]
        stops = [(x, y) for x, y in stops if y is not None]
        if stops:
            ax.plot([x for x, _ in stops], [y for _, y in stops], linestyle="none", marker="X", markersize=17,
                    color="#c0392b", markeredgecolor="black", markeredgewidth=1.2, zorder=4)

    series(ax_score, "score", lambda v: v)
    series(ax_place, "place", lambda v: PLACE_ORDER.index(v) if v in PLACE_ORDER else None)

    ax_score.set_ylim(-0.5, 10.5)
    ax_score.set_yticks(range(0, 11, 2))
    ax_score.set_ylabel("Pain (0 = none, 10 = worst)", fontsize=13)
    ax_score.set_title("Pain before and after each session", fontsize=16, fontweight="bold", loc="left")
    ax_place.set_ylim(-0.5, len(PLACE_ORDER) - 0.5)
    ax_place.set_yticks(range(len(PLACE_ORDER)))
    ax_place.set_yticklabels([PLACE_LABELS[p] for p in PLACE_ORDER])
    ax_place.invert_yaxis()  # the spine at the top, the foot at the bottom
    ax_place.set_title("Where the pain is felt (higher = closer to the spine: a good sign)", fontsize=13,
                       loc="left")
    for ax in (ax_score, ax_place):
        ax.grid(True, axis="y", color="#bbbbbb", linewidth=1)
        ax.grid(True, axis="x", color="#dddddd", linewidth=1)
        ax.tick_params(labelsize=12, width=1.5, length=6)
        for spine in ax.spines.values():
            spine.set_linewidth(1.5)
        ax.set_xlim(start, end)
    # Gridlines at midnight separate the days; each day is named under its middle.
    every = max(1, -(-len(data.days) // 10))
    ax_place.xaxis.set_major_locator(mdates.DayLocator(tz=zone))
    ax_place.xaxis.set_major_formatter(mdates.DateFormatter("", tz=zone))
    ax_place.xaxis.set_minor_locator(mdates.HourLocator(byhour=[12], tz=zone)
                                     if every == 1 else mdates.DayLocator(interval=every, tz=zone))
    def day_name(value: float, _pos: Any = None) -> str:
        moment = mdates.num2date(value, tz=zone)
        return f"{moment.strftime('%a')}\n{moment.day} {moment.strftime('%b')}" if every == 1 else \
            f"{moment.day} {moment.strftime('%b')}"

    ax_place.xaxis.set_minor_formatter(day_name)
    ax_place.tick_params(axis="x", which="minor", length=0, labelsize=12)
    handles = [Line2D([], [], **before_style), Line2D([], [], **after_style)]
    labels = ["before the exercises", "after the exercises"]
    if any(p.stopped for p in points):
        handles.append(Line2D([], [], linestyle="none", marker="X", markersize=15, color="#c0392b",
                              markeredgecolor="black"))
        labels.append("stopped by the pain rule")
    fig.legend(handles, labels, loc="lower center", ncol=len(handles), fontsize=11.5, frameon=True,
               handlelength=2.6, columnspacing=1.2, bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, 0.055, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


# -- HTML -------------------------------------------------------------------------------

CSS = """
@page { size: A4; margin: 14mm 12mm; }
* { -webkit-print-color-adjust: exact; print-color-adjust: exact; box-sizing: border-box; }
body { font-family: "DejaVu Sans", Verdana, Arial, sans-serif; font-size: 12pt; color: #000; margin: 0 auto;
       max-width: 186mm; line-height: 1.35; padding: 0 2mm; }
@media screen { body { margin: 8mm auto; } }
@media print { body { max-width: none; padding: 0; } }
h1 { font-size: 21pt; margin: 0 0 2mm; }
h2 { font-size: 15pt; margin: 7mm 0 2mm; border-bottom: 2px solid #000; padding-bottom: 1mm;
     break-after: avoid; page-break-after: avoid; }
p { margin: 1.5mm 0; }
.period { font-size: 13pt; margin: 0 0 3mm; }
.note { border: 2px solid #000; padding: 2.5mm 3mm; margin: 3mm 0; font-size: 11pt; background: #f4f4f4; }
.summary { display: flex; flex-wrap: wrap; gap: 2mm; margin: 3mm 0; }
.summary div { border: 1.5px solid #000; padding: 1.5mm 3mm; font-size: 11pt; }
.summary b { font-size: 15pt; display: block; }
table { border-collapse: collapse; width: 100%; margin: 2mm 0; font-size: 11pt; }
th, td { border: 1px solid #000; padding: 1.2mm 1.6mm; vertical-align: top; text-align: left; }
th { background: #e6e6e6; font-weight: bold; }
tr { break-inside: avoid; page-break-inside: avoid; }
.adherence td.cell { text-align: center; white-space: nowrap; font-size: 12pt; }
.adherence th.routine { font-size: 9.5pt; text-align: center; }
.adherence th.routine span { display: block; font-weight: normal; }
.adherence td.day { white-space: nowrap; font-weight: bold; }
.adherence th.fit { width: 1%; }
.met { background: #cdebd0; }
.part { background: #fde9b5; }
.missed { background: #f6c7c2; }
.open { background: #ffffff; }
.before { background: #ffffff; color: #555; }
.small { font-size: 9pt; display: block; }
.legend { font-size: 10pt; margin: 1mm 0 0; }
.legend span { border: 1px solid #000; padding: 0 1.5mm; margin-right: 1mm; white-space: nowrap; }
.chart { break-inside: avoid; page-break-inside: avoid; text-align: center; margin: 2mm 0; }
.chart img { width: 100%; max-width: 175mm; height: auto; }
.incidents td.label { font-weight: bold; white-space: nowrap; }
td.when { white-space: nowrap; }
tr.red-flag td { background: #f6c7c2; }
tr.red-flag td.label { border-left: 6px solid #000; }
tr.pain td { background: #fde9b5; }
tr.stopped td, tr.interrupted td, tr.unfinished td { background: #eeeeee; }
.mck { font-size: 10.5pt; }
.mck td { padding: 1mm 1.6mm; }
.allowed { font-weight: bold; white-space: nowrap; }
.notyet { font-weight: bold; white-space: nowrap; }
.keep { break-inside: avoid; page-break-inside: avoid; }
.next { border: 2px dashed #000; padding: 2mm 3mm; margin: 2mm 0; font-size: 12pt; }
footer { margin-top: 6mm; font-size: 9.5pt; border-top: 1px solid #000; padding-top: 2mm; }
ul { margin: 1mm 0 1mm 5mm; padding-left: 4mm; }
li { margin: 0.6mm 0; }
"""

SYMBOLS = {"met": "\u2713", "part": "\u25d0", "missed": "\u2717", "open": "\u2026", "before": ""}
STATUS_WORDS = {"met": "target met", "part": "some done", "missed": "none done", "open": "today, not yet met",
                "before": "not started yet"}


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _cell_html(cell: Cell, column: Column) -> str:
    if cell.status == "before":
        return '<td class="cell before" title="not started yet">\u2013</td>'
    extra = f'<span class="small">+{cell.attempted} stopped</span>' if cell.attempted else ""
    return (f'<td class="cell {cell.status}" title="{_e(STATUS_WORDS[cell.status])}">'
            f"{cell.done}/{_e(column.target)} {SYMBOLS[cell.status]}{extra}</td>")


def _adherence_html(data: ReportData) -> str:
    out = ["<h2>Exercises done, day by day</h2>"]
    if not data.columns:
        out.append("<p>No exercise with a daily target has been done yet, so there is no schedule to compare "
                   "against.</p>")
    head = [('<table class="adherence"><thead><tr><th class="fit">Day</th><th class="fit">Sessions</th>'
             '<th class="fit">Safety questions</th>')]
    for column in data.columns:
        head.append(f'<th class="routine">{_e(column.title)}<span>target {_e(column.target)} a day</span></th>')
    head.append("</tr></thead><tbody>")
    out.append("".join(head))
    today = data.now.date()
    for row in data.rows:
        label = _e(day_label(row.day)) + ('<span class="small">today, so far</span>' if row.day == today else "")
        screen = {"passed": "passed", "RED FLAG": "<b>RED FLAG</b>", "": "\u2013"}[row.screening]
        cells = "".join(_cell_html(cell, column) for cell, column in zip(row.cells, data.columns))
        out.append(f'<tr><td class="day">{label}</td><td class="cell">{row.sessions}</td>'
                   f'<td class="cell">{screen}</td>{cells}</tr>')
    out.append("</tbody></table>")
    if data.columns:
        out.append('<p class="legend">Each cell: sets done / daily target. '
                   '<span class="met">\u2713 target met</span> <span class="part">\u25d0 some done</span> '
                   '<span class="missed">\u2717 none done</span> <span class="open">\u2026 today, not yet met</span> '
                   '<span class="before">\u2013 not started yet</span>. "+1 stopped": started but not finished. '
                   "A target of 6\u20138 is met at 6.</p>")
    return "\n".join(out)


def _pain_html(data: ReportData, chart: bytes | None, chart_note: str) -> str:
    out = ["<h2>Pain</h2>"]
    if chart is not None:
        encoded = base64.b64encode(chart).decode("ascii")
        out.append(f'<div class="chart"><img alt="Chart: pain score before and after each session, and where '
                   f'the pain is felt, over the days of the report" src="data:image/png;base64,{encoded}"></div>')
    elif chart_note:
        out.append(f"<p>{_e(chart_note)}</p>")
    if not data.pain:
        out.append("<p>No pain scores were recorded in this period.</p>")
        return "\n".join(out)
    out.append("<table><thead><tr><th>Day</th><th>Sessions with scores</th><th>Pain before (average, range)</th>"
               "<th>Pain after (average, range)</th><th>Furthest place felt</th></tr></thead><tbody>")
    for day in data.days:
        points = [p for p in data.pain if p.at.astimezone(data.now.tzinfo).date() == day]
        if not points:
            continue

        def summary(values: list[int]) -> str:
            if not values:
                return "\u2013"
            avg = sum(values) / len(values)
            if min(values) == max(values):
                return str(values[0])
            return f"{avg:.1f}  ({min(values)}\u2013{max(values)})"

        places = [p for pt in points for p in (pt.place_before, pt.place_after) if p in PLACE_ORDER]
        furthest = PLACE_LABELS[max(places, key=PLACE_ORDER.index)] if places else "\u2013"
        out.append(f'<tr><td class="when">{_e(day_label(day))}</td><td>{len(points)}</td>'
                   f"<td>{summary([p.before for p in points if p.before is not None])}</td>"
                   f"<td>{summary([p.after for p in points if p.after is not None])}</td>"
                   f"<td>{_e(furthest)}</td></tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def _incidents_html(data: ReportData) -> str:
    out = ["<h2>Red flags and stopped exercises</h2>"]
    if not data.incidents:
        out.append("<p>None in this period: no red flag was raised and no exercise was stopped.</p>")
        return "\n".join(out)
    out.append('<table class="incidents"><thead><tr><th>When</th><th>What</th><th>Exercise</th><th>Reason</th>'
               "</tr></thead><tbody>")
    for item in data.incidents:
        at = item.at.astimezone(data.now.tzinfo)
        out.append(f'<tr class="{_e(item.kind)}"><td class="when">{_e(day_label(at.date()))} {at.strftime("%H:%M")}</td>'
                   f'<td class="label">{_e(item.label)}</td><td>{_e(item.what)}</td><td>{_e(item.reason)}</td></tr>')
    out.append("</tbody></table>")
    return "\n".join(out)


def _mckenzie_html(data: ReportData) -> str:
    m, today = data.mckenzie, data.today
    out = ['<div class="keep"><h2>McKenzie stage and what is next</h2>']
    if m["rows"]:
        out.append(f"<p><b>Stage:</b> {_e(m['stage'])}</p>")
        out.append(f'<div class="next"><b>What is next:</b> {_e(m["next"])}</div>')
    out.append("</div>")
    if m["rows"]:
        out.append('<table class="mck"><thead><tr><th>Exercise</th><th>Done in this period</th><th>Now</th><th>Why</th>'
                   "</tr></thead><tbody>")
        for row in m["rows"]:
            now_text = ('<span class="allowed">\u2713 allowed</span>' if row["allowed"]
                        else '<span class="notyet">\u2717 not yet</span>')
            out.append(f"<tr><td>{_e(row['title'])}</td><td>{row['done_period']}</td><td>{now_text}</td>"
                       f"<td>{_e(row['reason'])}</td></tr>")
        out.append("</tbody></table>")
    at = datetime.fromisoformat(today["at"])
    out.append(f"<h2>Due on {_e(day_label(at.date()))} (at {at.strftime('%H:%M')})</h2>")
    groups = (("Due now", today["due"]), ("Later today", today["later"]), ("Done for today", today["done"]))
    shown = False
    for heading, rows in groups:
        if rows:
            shown = True
            out.append(f"<p><b>{_e(heading)}:</b></p><ul>")
            out.extend(f"<li>{_e(row['reason'])}</li>" for row in rows)
            out.append("</ul>")
    if not shown:
        out.append("<p>Nothing with a daily count is allowed for now.</p>")
    mckenzie_ids = {row["routine_id"] for row in m["rows"]}
    others = [row for row in today["not_yet"] if row["routine_id"] not in mckenzie_ids]
    if others:
        out.append("<p><b>Other exercises not allowed for now:</b></p><ul>")
        out.extend(f"<li>{_e(row['reason'])}</li>" for row in others)
        out.append("</ul>")
    return "\n".join(out)


def render_html(data: ReportData, chart: bytes | None = None, chart_note: str = "") -> str:
    """The whole page. ``chart`` is the PNG from :func:`pain_chart_png` (None: no chart)."""
    first, last = data.days[0], data.days[-1]
    period = (f"{day_label(first)} {first.year} to {day_label(last)} {last.year} "
              f"({len(data.days)} day{'s' if len(data.days) != 1 else ''}, up to {data.now.strftime('%H:%M')} "
              f"on the last day)")
    conditions = ", ".join(data.profile.conditions) if data.profile and data.profile.conditions else "none recorded"
    caregiver = " A caregiver is present for the sessions." if data.profile and data.profile.caregiver else ""
    red_flags = sum(1 for i in data.incidents if i.kind == "red-flag")
    stops = sum(1 for i in data.incidents if i.kind != "red-flag")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>Exercise report: {_e(data.user)}, {_e(first.isoformat())} to {_e(last.isoformat())}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>Exercise report for {_e(data.user)}</h1>",
        f'<p class="period">{_e(period)}</p>',
        f"<p>Health conditions in the profile: {_e(conditions)}.{_e(caregiver)}</p>",
        f'<div class="note"><b>Not medical advice.</b> {_e(DISCLAIMER)}</div>',
    ]
    if not data.sessions:
        parts.append('<div class="note"><b>No sessions in this period.</b> Nothing was recorded for '
                     f"{_e(data.user)} between {_e(day_label(first))} and {_e(day_label(last))}.</div>")
    parts.append('<div class="summary">'
                 f"<div><b>{len(data.sessions)}</b>sessions</div>"
                 f"<div><b>{data.completed_total}</b>exercises completed</div>"
                 f"<div><b>{red_flags}</b>red flag{'s' if red_flags != 1 else ''}</div>"
                 f"<div><b>{stops}</b>stopped or unfinished</div></div>")
    parts.append(_incidents_html(data))
    parts.append(_adherence_html(data))
    parts.append(_pain_html(data, chart, chart_note))
    parts.append(_mckenzie_html(data))
    made = data.now.strftime("%Y-%m-%d %H:%M")
    parts.append(f"<footer>Made by companion for {_e(data.user)} on {_e(made)}. companion is not a doctor: "
                 "this record of the sessions does not replace a doctor or physiotherapist.</footer>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render(data: ReportData) -> tuple[str, str]:
    """The page with its chart; the second value is a note when the chart could not be drawn."""
    note = ""
    try:
        chart = pain_chart_png(data)
    except ImportError:
        chart, note = None, "The pain chart needs matplotlib, which is not installed: pip install matplotlib"
    return render_html(data, chart, note), note


# -- CSV ----------------------------------------------------------------------------------


def csv_rows(data: ReportData) -> list[dict[str, Any]]:
    """One row per event of interest, in time order (CSV_FIELDS)."""
    return sorted(data.events, key=lambda r: (r["date"], r["time"], r["session"]))


__all__ = ["CSV_FIELDS", "Cell", "Column", "DayRow", "Incident", "PainPoint", "ReportData", "collect",
           "csv_rows", "flag_name", "pain_chart_png", "render", "render_html"]
