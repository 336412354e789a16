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
named ``first_aid`` in progression.yaml must have been completed at least once
before any routine of its *family* - the routines linked to it through
``requires``, ``then`` and ``alternative_to``, directly or through each other
(today McKenzie 1-7). One exception: an ``alternative_to`` routine is offered
without it when the routine it replaces is ruled out by the acute condition,
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
600): practice is *continuous* while no more than 7 days pass between one
completion and the next. A run of continuous practice lasts from its first
completion to ``now``, or to a week after its last completion if it has
lapsed. The requirement is met once any run has lasted the stated weeks, and
stays met (stopping exercise 5 after moving on to 6 does not take 6 away).
Exercise 5 done daily from day 0 allows 6 at day 35 at the same time of day,
not a minute earlier.

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

import string
from collections.abc import Iterable, Sequence
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


WEEK = timedelta(days=7)
# Practice is continuous while no more than this passes between completions.
CONTINUOUS_GAP = WEEK


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
    "practised_weeks": {"title", "why", "required", "done", "weeks"},
    "practised_weeks_none": {"title", "why", "required", "weeks"},
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
        raise ValueError(f"{path}: expected a mapping with first_aid, conditions and reasons")
    unknown_top = sorted(set(data) - {"first_aid", "conditions", "reasons"})
    if unknown_top:
        problems.append(f"unknown keys {unknown_top}")
    first_aid = data.get("first_aid")
    if not isinstance(first_aid, str) or not first_aid:
        problems.append("first_aid: must be a routine id")
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
                           {k: str(v) for k, v in reasons.items()})


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


def practised_span(times: Sequence[datetime], now: datetime) -> tuple[timedelta, timedelta | None]:
    """(longest run of continuous practice, the current run or None if it has lapsed).

    A run breaks when more than :data:`CONTINUOUS_GAP` passes between completions;
    it lasts from its first completion to ``now``, or to a week after its last one.
    """
    best, current = timedelta(0), None
    runs: list[list[datetime]] = []
    for at in sorted(times):
        if runs and at - runs[-1][-1] <= CONTINUOUS_GAP:
            runs[-1].append(at)
        else:
            runs.append([at])
    for run in runs:
        span = min(now, run[-1] + CONTINUOUS_GAP) - run[0]
        best = max(best, span)
    if runs and now - runs[-1][-1] <= CONTINUOUS_GAP:
        current = now - runs[-1][0]
    return best, current


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
    def __init__(self, library: Library, profile: Profile | None, now: datetime, text: ProgressionText):
        self.library, self.now, self.text = library, now, text
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
        if (first and routine.id != first and routine.id in self.family and not done.get(first)
                and not standing_in):
            return Verdict(False, say("first_aid", title=title, first=self.title(first)), first)

        own = done.get(routine.id, [])
        for req in routine.requires:
            theirs = done.get(req.routine, [])
            values = {"title": title, "why": req.why.strip(), "required": self.title(req.routine)}
            if req.first_time_only and own:
                continue
            if req.practised_weeks > 0:
                weeks = req.practised_weeks
                best, current = practised_span(theirs, self.now)
                if best >= weeks * WEEK:
                    continue
                if current is None:
                    reason = say("practised_weeks_none", weeks=_num(weeks), **values)
                else:
                    reason = say("practised_weeks", weeks=_num(weeks), done=current // WEEK, **values)
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
          profile: Profile | None = None, *, text: ProgressionText | None = None) -> Verdict:
    """May ``routine_id`` (a routine or a programme) be done at ``now``, given ``history``?"""
    rules = _Rules(library, profile, now, text or load_progression_text())
    return rules.check(routine_id, _completions(history, now))


def _spacing_text(hours: float) -> str:
    if hours < 1:
        return f"{_num(round(hours * 60))} minutes"
    return "1 hour" if hours == 1 else f"{_num(hours)} hours"


def due_now(history: Iterable[Practice], now: datetime, library: Library, profile: Profile | None = None,
            *, text: ProgressionText | None = None) -> list[Due]:
    """Every routine with a daily count that the progression allows now, with today's count."""
    text = text or load_progression_text()
    rules = _Rules(library, profile, now, text)
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
            *, text: ProgressionText | None = None) -> dict[str, Verdict]:
    """Every routine that may not be done now, with its verdict (for "not yet, because ...")."""
    rules = _Rules(library, profile, now, text or load_progression_text())
    done = _completions(history, now)
    verdicts = {rid: rules.check(rid, done) for rid in library.routines}
    return {rid: v for rid, v in verdicts.items() if not v.allowed}


# -- companion today ---------------------------------------------------------------------


def today_report(user: str, history: Iterable[Practice], now: datetime, library: Library,
                 profile: Profile | None = None, *, text: ProgressionText | None = None) -> dict[str, Any]:
    """What ``companion today`` shows, as plain data (JSON-ready)."""
    text = text or load_progression_text()
    history = list(history)
    dues = due_now(history, now, library, profile, text=text)
    rules = _Rules(library, profile, now, text)
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


__all__ = ["PLACEHOLDERS", "Due", "Practice", "ProgressionText", "Verdict", "check",
           "due_now", "family", "load_progression_text", "practised_span", "refused", "today_lines",
           "today_report"]
