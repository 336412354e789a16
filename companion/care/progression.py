"""McKenzie progression from history: what may be done now, and what is due today.

Pure functions: no files, no clock. The caller passes the person's history
(a list of :class:`Practice`), the time (``now``), the routine library and
optionally the :class:`~companion.care.profiles.Profile`. Every order rule is
read from the routine files; the wording comes from ``progression.yaml``.

How the source's rules are read (lines refer to back-pain-articles.txt)
-----------------------------------------------------------------------
Only *completed* practices at or before ``now`` count: a set stopped half-way
does not satisfy a prerequisite or count toward the day, and a practice
after ``now`` (replaying history with ``--at``) is ignored. "Today" is the
calendar day of ``now``.

``not_for`` (line 620, "not suitable for the acute period"): a routine that
lists one of the profile's conditions is refused. For "acute" the refusal
offers, in this order: an allowed routine whose ``alternative_to`` names the
refused one (line 558: exercise 4 instead of 3 when acute pain stops you
lying down), else the first-aid routine if the refused one is in its family,
else rest. For the other conditions nothing is offered instead: ask a doctor.

First aid (line 512, "should be done before any other training"): the routine
named ``first_aid`` in progression.yaml must have been completed *earlier the
same day* before any routine of its *family* - the routines linked to it through
``requires``, ``then`` and ``alternative_to``, directly or through each other
(today McKenzie 1-7) - so McKenzie 1 opens each day's McKenzie practice, and a
programme that starts with it is fine. "Day" is the calendar day of ``now``.
One exception: an ``alternative_to`` routine is offered without it when the
routine it replaces is ruled out by the acute condition,
because the alternative exists for when you cannot lie down, and the first-aid
exercise is lying down (line 558).

``requires`` without ``first_time_only`` or ``practised_weeks`` (exercise 2,
line 528 "Only after doing exercise one can do exercise two", line 538 "Do it
every 2 hours like exercise 1"): every time, the required routine must have been
completed *since the last completion of this one* and within this routine's
``spacing_hours`` before ``now`` (within the same day when it has no spacing).
So each set of 2 follows its own set of 1, in the same two-hourly round.

``requires`` with ``first_time_only`` (exercise 3, line 542): until this routine
has been completed once, the required routine must have been completed at some
time before now; afterwards the requirement is met for good.

``requires`` with ``practised_weeks`` (exercise 6 after five weeks of 5, line
584 "after five weeks of continuous practice"; 7 after two weeks of 6, line
600 "continue to practice 6 for two weeks"): practice is *continuous* over N
weeks when there are N whole weeks back to back (seven calendar days each, the
first starting on a day of practice) in each of which the required routine was
completed on at least ``continuous_days_per_week`` different days (5, set in
progression.yaml). A fraction of a week counts as a whole one. The weeks must be over: exercise 5
done daily from day 0 allows 6 from the start of day 35. Once met the
requirement stays met (stopping exercise 5 after moving on to 6 does not take 6
away). A completion after which the pain spread, or that a pain rule stopped
(``setbacks``, from :func:`find_setbacks`), does not count as a day of practice.

``then`` (lines 580, 598, 608: "do exercise 3 immediately after 5/6/7"): not a
prerequisite of its own, but the follow-on runs automatically, so a routine
is refused when its ``then`` routine would be refused right after it (for a
newcomer to 5 who has never done 2, that means "do 2 first"). An allowed
verdict names the follow-on in ``then``.

A programme is allowed when each of its routines is, in order, counting the
earlier ones as done at ``now`` (so the McKenzie 1-2-3 programme is fine for a
newcomer).

Daily counts (``due_now``): ``frequency.per_day`` gives the wanted range and
``frequency.spacing_hours`` the gap after the last completion today. Spacing
is advice for the schedule, not an order rule: ``check`` does not refuse a set
done early or an extra set.
"""

from __future__ import annotations

import math
import string
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from companion.content.locale import data_file

from companion.care.store import Practice  # noqa: F401 - one Practice type, re-exported
from companion.care.profiles import CONDITIONS, Profile
from companion.content.library import Library
from companion.content.schema import Programme, Routine
from companion.engine.pain import ARM_PLACE_ORDER, PLACE_ORDER, judge


# -- data ------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """May the routine be done now? ``reason`` is spoken; ``instead`` is what can be done now."""

    allowed: bool
    reason: str
    instead: str | None = None
    then: str | None = None  # allowed routines with a ``then`` link: the routine that follows at once


@dataclass(frozen=True)
class Due:
    """One routine with a daily count: how many are done today and when the next one fits."""

    routine_id: str
    done_today: int
    wanted_low: int
    wanted_high: int
    next_at: datetime | None  # None when the day's count is complete
    reason: str

    def is_due(self, now: datetime) -> bool:
        return self.next_at is not None and self.next_at <= now


@dataclass(frozen=True)
class Continuity:
    """How far continuous practice has got, for "not yet, because ..." (see :func:`continuous_practice`)."""

    met: bool
    weeks_done: int  # whole weeks in a row that count, in the best run still going
    days_this_week: int  # days of practice so far in that run's current week


# -- wording -----------------------------------------------------------------------

# Every reason key and the placeholders it may use. A template with a placeholder
# not listed here fails at load time, not mid-sentence.
_DUE = {"title", "done", "wanted", "time", "spacing"}
PLACEHOLDERS: dict[str, set[str]] = {
    "allowed": {"title"},
    "allowed_then": {"title", "then"},
    "allowed_alternative": {"title", "other", "when"},
    "unknown": {"routine"},
    "not_for": {"title", "condition"},
    "not_for_acute": {"title", "condition", "instead"},
    "not_for_acute_rest": {"title", "condition"},
    "not_for_alternative": {"title", "condition", "instead", "when"},
    "first_aid": {"title", "first"},
    "requires": {"title", "why", "required"},
    "practised_weeks": {"title", "why", "required", "done", "weeks", "days", "per_week"},
    "practised_weeks_none": {"title", "why", "required", "weeks", "per_week"},
    "then_blocked": {"title", "then", "reason"},
    "due_now": _DUE,
    "due_later": _DUE,
    "enough_now": _DUE,
    "enough_later": _DUE,
    "all_done": _DUE,
    "today_header": {"user", "date", "time"},
    "today_due": set(),
    "today_later": set(),
    "today_done": set(),
    "today_anytime": set(),
    "today_anytime_item": {"title"},
    "today_not_yet": set(),
    "today_nothing": set(),
}


@dataclass(frozen=True)
class ProgressionText:
    """The contents of progression.yaml, checked."""

    first_aid: str
    conditions: dict[str, str]
    reasons: dict[str, str]
    days_per_week: int = 5  # continuous practice: days of every week the required routine is done

    def say(self, key: str, **values: Any) -> str:
        return self.reasons[key].format(**values)


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def load_progression_text(path: Path | None = None) -> ProgressionText:
    return _load_progression_text(path or data_file("progression.yaml"))


@lru_cache(maxsize=4)
def _load_progression_text(path: Path) -> ProgressionText:
    """Read and check progression.yaml: every key present, no unknown key or placeholder."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    problems: list[str] = []
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping with first_aid, continuous_days_per_week, "
                         "conditions and reasons")
    unknown_top = sorted(set(data) - {"first_aid", "continuous_days_per_week", "conditions", "reasons"})
    if unknown_top:
        problems.append(f"unknown keys {unknown_top}")
    first_aid = data.get("first_aid")
    if not isinstance(first_aid, str) or not first_aid:
        problems.append("first_aid: must be a routine id")
    days_per_week = data.get("continuous_days_per_week")
    if isinstance(days_per_week, bool) or not isinstance(days_per_week, int) or not 1 <= days_per_week <= 7:
        problems.append("continuous_days_per_week: must be a whole number of days from 1 to 7")
    conditions = data.get("conditions") or {}
    reasons = data.get("reasons") or {}
    if not isinstance(conditions, dict) or not isinstance(reasons, dict):
        raise ValueError(f"{path}: conditions and reasons must be mappings")
    missing = sorted(set(CONDITIONS) - set(conditions))
    extra = sorted(set(conditions) - set(CONDITIONS))
    if missing or extra:
        problems.append(f"conditions: missing {missing}, unknown {extra}")
    missing = sorted(set(PLACEHOLDERS) - set(reasons))
    extra = sorted(set(reasons) - set(PLACEHOLDERS))
    if missing or extra:
        problems.append(f"reasons: missing {missing}, unknown {extra}")
    for key, template in reasons.items():
        if key not in PLACEHOLDERS:
            continue
        if not isinstance(template, str) or not template.strip():
            problems.append(f"reasons.{key}: must be a non-empty sentence")
            continue
        try:
            bad = sorted(_placeholders(template) - PLACEHOLDERS[key])
        except ValueError as exc:  # an unbalanced brace
            problems.append(f"reasons.{key}: {exc}")
            continue
        if bad:
            problems.append(f"reasons.{key}: unknown placeholder(s) {bad}; allowed: {sorted(PLACEHOLDERS[key])}")
    if problems:
        raise ValueError(f"{path}: " + "; ".join(problems))
    return ProgressionText(first_aid, {k: str(v) for k, v in conditions.items()},
                           {k: str(v) for k, v in reasons.items()}, days_per_week)


# -- history -----------------------------------------------------------------------


def _align(at: datetime, now: datetime) -> datetime:
    """``at`` on the same footing as ``now`` (naive times are local time)."""
    if now.tzinfo is None:
        return at.astimezone().replace(tzinfo=None) if at.tzinfo is not None else at
    return at.astimezone(now.tzinfo)


Done = dict[str, list[datetime]]


def _completions(history: Iterable[Practice], now: datetime) -> Done:
    done: Done = {}
    for practice in history:
        if not practice.completed:
            continue
        at = _align(practice.at, now)
        if at <= now:
            done.setdefault(practice.routine_id, []).append(at)
    for times in done.values():
        times.sort()
    return done


def _with(done: Done, routine_id: str, at: datetime) -> Done:
    copy = {k: list(v) for k, v in done.items()}
    copy.setdefault(routine_id, []).append(at)
    copy[routine_id].sort()
    return copy


def continuous_practice(times: Iterable[datetime], now: datetime, weeks: float, days_per_week: int) -> Continuity:
    """Has the routine done at ``times`` been practised continuously for ``weeks``, as of ``now``?

    Continuous means whole weeks back to back (seven calendar days each, the first
    starting on a day of practice), each with completions on at least ``days_per_week``
    different days, all over by ``now``'s day. When not met, the progress is that of the
    best run that can still get there: its whole weeks so far, and its days in the week
    it is in.
    """
    today = now.date()
    days = {at.date() for at in times if at <= now}
    need = math.ceil(weeks)
    if need <= 0:
        return Continuity(True, 0, 0)
    if not days:
        return Continuity(False, 0, 0)
    first = min(days)
    span = (today - first).days + 1
    counted = [0]
    for offset in range(span):
        counted.append(counted[-1] + (first + timedelta(days=offset) in days))

    def in_week(start: int) -> int:
        """Days of practice in the seven days from day ``start`` (days after today count as none)."""
        return counted[min(start + 7, span)] - counted[min(start, span)]

    best = (0, 0)
    for start in (offset for offset in range(span) if first + timedelta(days=offset) in days):
        whole = (span - 1 - start) // 7  # weeks from ``start`` that are over (before today)
        run = 0
        while run < min(whole, need) and in_week(start + 7 * run) >= days_per_week:
            run += 1
        if run >= need:
            return Continuity(True, need, 0)
        if run < whole:
            continue  # a week of this run fell short: it is broken
        so_far = in_week(start + 7 * run)
        left = 6 - (span - 1 - (start + 7 * run))  # days of that week after today
        if so_far + left + (today not in days) >= days_per_week:
            best = max(best, (run, so_far))
    return Continuity(False, *best)


def find_setbacks(history: Iterable[Practice],
                  events_of: Callable[[int], Iterable[Mapping[str, Any]]]) -> frozenset[Practice]:
    """The completed practices after which the pain spread, or that a pain rule stopped.

    Pass them as ``setbacks`` to :func:`check` and the other rules: a session that made the
    pain spread down the leg is no week of practice towards the next exercise.
    ``events_of`` gives a session's records in order (``Store.events``).
    """
    by_session: dict[int, list[Practice]] = {}
    for practice in history:
        if practice.completed and practice.session_id is not None:
            by_session.setdefault(practice.session_id, []).append(practice)
    found = set()
    for session_id, practices in by_session.items():
        hurt = pain_setbacks(events_of(session_id))
        found.update(p for p in practices if p.routine_id in hurt)
    return frozenset(found)


def pain_setbacks(records: Iterable[Mapping[str, Any]]) -> set[str]:
    """Routines in one session's records with a ``pain_stop``, or whose pain after spread (engine/pain.py)."""
    stopped: set[str] = set()
    pain: dict[tuple[str, str], Mapping[str, Any]] = {}
    for record in records:
        routine_id = record.get("routine_id")
        if not isinstance(routine_id, str) or not routine_id:
            continue
        if record.get("kind") == "pain_stop":
            stopped.add(routine_id)
        elif record.get("kind") == "pain" and record.get("when") in ("before", "after"):
            pain[(routine_id, record["when"])] = record
    for (routine_id, when), after in pain.items():
        before = pain.get((routine_id, "before"))
        if when != "after" or before is None:
            continue
        place = str(after.get("place") or "none")
        order = ARM_PLACE_ORDER if place in ARM_PLACE_ORDER else PLACE_ORDER
        if judge(_score(before.get("score")), str(before.get("place") or "none"), _score(after.get("score")),
                 place, order).kind == "spread":
            stopped.add(routine_id)
    return stopped


def _score(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else -1


# -- the rules -----------------------------------------------------------------------


def _conditions(profile: Profile | None) -> tuple[str, ...]:
    return tuple(profile.conditions) if profile else ()


def family(library: Library, root: str) -> set[str]:
    """The routines linked to ``root`` by requires / then / alternative_to, directly or not."""
    links: dict[str, set[str]] = {rid: set() for rid in library.routines}
    for routine in library.routines.values():
        others = [req.routine for req in routine.requires]
        if routine.then:
            others.append(routine.then)
        if routine.alternative_to:
            others.append(routine.alternative_to.routine)
        for other in others:
            if other in links:
                links[routine.id].add(other)
                links[other].add(routine.id)
    if root not in links:
        return set()
    seen, todo = {root}, [root]
    while todo:
        for other in links[todo.pop()] - seen:
            seen.add(other)
            todo.append(other)
    return seen


def _lower_first(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].lower() + text[1:]


class _Rules:
    def __init__(self, library: Library, profile: Profile | None, now: datetime, text: ProgressionText,
                 setbacks: Collection[Practice] = ()):
        self.library, self.now, self.text = library, now, text
        # Completion times that are no day of practice towards practised_weeks (the pain spread).
        self.setbacks: dict[str, set[datetime]] = {}
        for practice in setbacks:
            self.setbacks.setdefault(practice.routine_id, set()).add(_align(practice.at, now))
        self.conditions = _conditions(profile)
        self.first_aid = text.first_aid if text.first_aid in library.routines else None
        self.family = family(library, self.first_aid) if self.first_aid else set()

    def title(self, routine_id: str) -> str:
        entry = self.library.get(routine_id)
        return entry.title if entry else routine_id

    def blocked_by(self, routine: Routine) -> list[str]:
        return [c for c in CONDITIONS if c in routine.not_for and c in self.conditions]

    def stands_in_for_acute(self, routine: Routine) -> bool:
        """An alternative whose original is ruled out by the acute condition (exercise 4 for 3)."""
        alt = routine.alternative_to
        if alt is None or "acute" not in self.conditions:
            return False
        original = self.library.routines.get(alt.routine)
        return original is not None and "acute" in self.blocked_by(original)

    def alternatives_to(self, routine_id: str) -> list[Routine]:
        return [r for r in self.library.routines.values()
                if r.alternative_to and r.alternative_to.routine == routine_id]

    # ``seen`` guards against loops through then / instead links.
    def check(self, routine_id: str, done: Done, seen: frozenset[str] = frozenset()) -> Verdict:
        entry = self.library.get(routine_id)
        if entry is None:
            return Verdict(False, self.text.say("unknown", routine=routine_id))
        if isinstance(entry, Programme):
            return self.check_programme(entry, done, seen)
        verdict = self.check_routine(entry, done, seen)
        if not verdict.allowed and verdict.instead:
            return Verdict(False, verdict.reason, self.resolve(verdict.instead, done, seen | {routine_id}))
        return verdict

    def check_programme(self, programme: Programme, done: Done, seen: frozenset[str]) -> Verdict:
        for routine_id in programme.routine_ids():
            verdict = self.check(routine_id, done, seen)
            if not verdict.allowed:
                return verdict
            done = _with(done, routine_id, self.now)
        return Verdict(True, self.text.say("allowed", title=programme.title))

    def resolve(self, routine_id: str, done: Done, seen: frozenset[str]) -> str | None:
        """``routine_id`` if it may be done now, else what it offers instead, and so on."""
        while routine_id not in seen:
            seen = seen | {routine_id}
            verdict = self.check_routine(self.library.routines[routine_id], done, seen) \
                if routine_id in self.library.routines else Verdict(False, "")
            if verdict.allowed:
                return routine_id
            if not verdict.instead:
                return None
            routine_id = verdict.instead
        return None

    def check_routine(self, routine: Routine, done: Done, seen: frozenset[str]) -> Verdict:
        title = routine.title
        say = self.text.say

        blocked = self.blocked_by(routine)
        if blocked:
            if "acute" not in blocked:
                return Verdict(False, say("not_for", title=title, condition=self.text.conditions[blocked[0]]))
            condition = self.text.conditions["acute"]
            for alt in self.alternatives_to(routine.id):
                if alt.id not in seen and self.check_routine(alt, done, seen | {routine.id}).allowed:
                    return Verdict(False, say("not_for_alternative", title=title, condition=condition,
                                              instead=alt.title, when=_lower_first(alt.alternative_to.when)),
                                   alt.id)
            first = self.first_aid
            if (first and first != routine.id and routine.id in self.family and first not in seen
                    and self.check_routine(self.library.routines[first], done, seen | {routine.id}).allowed):
                return Verdict(False, say("not_for_acute", title=title, condition=condition,
                                          instead=self.title(first)), first)
            return Verdict(False, say("not_for_acute_rest", title=title, condition=condition))

        standing_in = self.stands_in_for_acute(routine)
        first = self.first_aid
        if (first and routine.id != first and routine.id in self.family and not standing_in
                and not any(t.date() == self.now.date() for t in done.get(first, []))):
            return Verdict(False, say("first_aid", title=title, first=self.title(first)), first)

        own = done.get(routine.id, [])
        for req in routine.requires:
            theirs = done.get(req.routine, [])
            values = {"title": title, "why": req.why.strip(), "required": self.title(req.routine)}
            if req.first_time_only and own:
                continue
            if req.practised_weeks > 0:
                weeks, per_week = req.practised_weeks, self.text.days_per_week
                hurt = self.setbacks.get(req.routine, set())
                got = continuous_practice([t for t in theirs if t not in hurt], self.now, weeks, per_week)
                if got.met:
                    continue
                if got.weeks_done == 0 and got.days_this_week == 0:
                    reason = say("practised_weeks_none", weeks=_num(weeks), per_week=per_week, **values)
                else:
                    reason = say("practised_weeks", weeks=_num(weeks), done=got.weeks_done,
                                 days=got.days_this_week, per_week=per_week, **values)
                return Verdict(False, reason, req.routine)
            if req.first_time_only:
                if theirs:
                    continue
                return Verdict(False, say("requires", **values), req.routine)
            # Every time: a fresh completion since this routine's last one, in the same round.
            spacing = routine.frequency.spacing_hours
            fresh = [t for t in theirs
                     if (not own or t > own[-1])
                     and (self.now - t <= timedelta(hours=spacing) if spacing else t.date() == self.now.date())]
            if not fresh:
                return Verdict(False, say("requires", **values), req.routine)

        if routine.then and routine.then not in seen and routine.then in self.library.routines:
            after = self.check(routine.then, _with(done, routine.id, self.now), seen | {routine.id})
            if not after.allowed:
                return Verdict(False, say("then_blocked", title=title, then=self.title(routine.then),
                                          reason=after.reason), after.instead)

        if standing_in:
            alt = routine.alternative_to
            return Verdict(True, say("allowed_alternative", title=title, other=self.title(alt.routine),
                                     when=_lower_first(alt.when)), then=routine.then)
        if routine.then:
            return Verdict(True, say("allowed_then", title=title, then=self.title(routine.then)), then=routine.then)
        return Verdict(True, say("allowed", title=title))


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# -- public API ----------------------------------------------------------------------


def check(routine_id: str, history: Iterable[Practice], now: datetime, library: Library,
          profile: Profile | None = None, *, text: ProgressionText | None = None,
          setbacks: Collection[Practice] = ()) -> Verdict:
    """May ``routine_id`` (a routine or a programme) be done at ``now``, given ``history``?

    ``setbacks`` (:func:`find_setbacks`) are completions that do not count as practice weeks.
    """
    rules = _Rules(library, profile, now, text or load_progression_text(), setbacks)
    return rules.check(routine_id, _completions(history, now))


def _spacing_text(hours: float) -> str:
    if hours < 1:
        return f"{_num(round(hours * 60))} minutes"
    return "1 hour" if hours == 1 else f"{_num(hours)} hours"


def due_now(history: Iterable[Practice], now: datetime, library: Library, profile: Profile | None = None,
            *, text: ProgressionText | None = None, setbacks: Collection[Practice] = ()) -> list[Due]:
    """Every routine with a daily count that the progression allows now, with today's count."""
    text = text or load_progression_text()
    rules = _Rules(library, profile, now, text, setbacks)
    done = _completions(history, now)
    result = []
    for routine in library.routines.values():
        per_day = routine.frequency.per_day
        if per_day is None or not rules.check(routine.id, done).allowed:
            continue
        today = [t for t in done.get(routine.id, []) if t.date() == now.date()]
        low, high = int(per_day.low), int(per_day.high)
        spacing = routine.frequency.spacing_hours
        values = {"title": routine.title, "done": len(today), "wanted": per_day.describe(),
                  "spacing": _spacing_text(spacing) if spacing else "", "time": ""}
        if len(today) >= high:
            next_at, key = None, "all_done"
        else:
            next_at = now
            if spacing and today:
                next_at = max(now, today[-1] + timedelta(hours=spacing))
            later = next_at > now
            values["time"] = next_at.strftime("%H:%M")
            if len(today) < low:
                key = "due_later" if later else "due_now"
            else:
                key = "enough_later" if later else "enough_now"
        result.append(Due(routine.id, len(today), low, high, next_at, text.say(key, **values)))
    return result


def refused(history: Iterable[Practice], now: datetime, library: Library, profile: Profile | None = None,
            *, text: ProgressionText | None = None, setbacks: Collection[Practice] = ()) -> dict[str, Verdict]:
    """Every routine that may not be done now, with its verdict (for "not yet, because ...")."""
    rules = _Rules(library, profile, now, text or load_progression_text(), setbacks)
    done = _completions(history, now)
    verdicts = {rid: rules.check(rid, done) for rid in library.routines}
    return {rid: v for rid, v in verdicts.items() if not v.allowed}


# -- companion today ---------------------------------------------------------------------


def today_report(user: str, history: Iterable[Practice], now: datetime, library: Library,
                 profile: Profile | None = None, *, text: ProgressionText | None = None,
                 setbacks: Collection[Practice] = ()) -> dict[str, Any]:
    """What ``companion today`` shows, as plain data (JSON-ready)."""
    text = text or load_progression_text()
    history = list(history)
    dues = due_now(history, now, library, profile, text=text, setbacks=setbacks)
    rules = _Rules(library, profile, now, text, setbacks)
    done = _completions(history, now)
    verdicts = {rid: rules.check(rid, done) for rid in library.routines}

    def due_row(due: Due) -> dict[str, Any]:
        row = asdict(due)
        row["title"] = library.routines[due.routine_id].title
        row["next_at"] = due.next_at.isoformat() if due.next_at else None
        row["due"] = due.is_due(now)
        return row

    rows = [due_row(d) for d in dues]
    counted = {d.routine_id for d in dues}
    return {
        "user": user,
        "at": now.isoformat(),
        "conditions": list(_conditions(profile)),
        "due": [r for r in rows if r["due"]],
        "later": [r for r in rows if r["next_at"] and not r["due"]],
        "done": [r for r in rows if r["next_at"] is None],
        "anytime": [{"routine_id": rid, "title": library.routines[rid].title, "reason": v.reason}
                    for rid, v in verdicts.items() if v.allowed and rid not in counted],
        "not_yet": [{"routine_id": rid, "title": library.routines[rid].title, "reason": v.reason,
                     "instead": v.instead} for rid, v in verdicts.items() if not v.allowed],
    }


def today_lines(report: dict[str, Any], text: ProgressionText | None = None) -> list[str]:
    """The report as lines of plain text, each sentence ready to be spoken."""
    text = text or load_progression_text()
    now = datetime.fromisoformat(report["at"])
    lines = [text.say("today_header", user=report["user"], date=now.strftime("%A %d %B").replace(" 0", " "),
                      time=now.strftime("%H:%M"))]
    sections = (("today_due", report["due"]), ("today_later", report["later"]), ("today_done", report["done"]))
    for key, rows in sections:
        if rows:
            lines.append(text.say(key))
            lines.extend(f"  {row['reason']}" for row in rows)
    if not (report["due"] or report["later"] or report["done"]):
        lines.append(text.say("today_nothing"))
    if report["anytime"]:
        lines.append(text.say("today_anytime"))
        lines.extend(f"  {row['reason'] if row['reason'] else text.say('today_anytime_item', title=row['title'])}"
                     for row in report["anytime"])
    if report["not_yet"]:
        lines.append(text.say("today_not_yet"))
        lines.extend(f"  {row['reason']}" for row in report["not_yet"])
    return lines


__all__ = ["PLACEHOLDERS", "Continuity", "Due", "Practice", "ProgressionText", "Verdict", "check",
           "continuous_practice", "due_now", "family", "find_setbacks", "load_progression_text", "pain_setbacks",
           "refused", "today_lines", "today_report"]
