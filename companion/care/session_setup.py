"""Before a session starts: whose it is, what is allowed, and what to ask.

Opens the person's profile and history, refuses what is not safe or not yet
allowed for them (with the reason, in words for the screen and for the ear),
works out where an interrupted session resumes, and plans the questions that
surround the exercises: red-flag screening before the first session of the
day, pain before and after each exercise, and the caregiver's confirmations.

Two things outlast the session they were said in (:func:`day_state`):

* a red flag stays open until the person has seen a doctor about it. Each
  session start asks about it before anything else ("Have you seen a doctor
  about this since?"): a yes clears it, a no repeats the advice and ends the
  session; ``companion today`` shows no exercise while it is open.
* a yes to the day's acute question ("Is your pain new, or much worse?") makes
  the rest of that day the acute stage, as if the profile had the ``acute``
  condition (:func:`for_today`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from companion.care.profiles import Profile
from companion.care.progression import check, find_setbacks, load_progression_text, today_lines, today_report
from companion.care.progression import family as linked
from companion.care.screening import flag_words, hold_lines, load_screening, seen_doctor_question
from companion.care.store import FlagRow, Store, StoreError, open_store
from companion.content.library import Entry, Library
from companion.engine.plan import Care

ACUTE = "acute"


@dataclass
class Setup:
    """Who the session is for and what surrounds it (profile, history store, questions)."""

    user: str | None = None
    profile: Profile | None = None
    store: Store | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now().astimezone())
    first_step: int = 0
    care: Care = field(default_factory=Care)
    open_flags: tuple[FlagRow, ...] = ()  # red flags still open when the session starts
    acute_today: bool = False  # today's acute question was answered yes


@dataclass(frozen=True)
class DayState:
    """What the person's earlier answers decide now: red flags still open, and whether today is acute."""

    open_flags: tuple[FlagRow, ...] = ()
    acute_today: bool = False

    def hold(self) -> list[str]:
        """Why no exercise is offered, with each open flag's advice; empty when nothing is on hold."""
        return hold_lines((flag.flag_id, flag.raised_at) for flag in self.open_flags)


def day_state(store: Store, user: str, now: datetime) -> DayState:
    """Red flags open at ``now``, and whether a yes to today's acute question makes today the acute stage.

    "Today" is the calendar day of ``now`` (naive: local time), as in the order rules.
    """
    now = now if now.tzinfo is not None else now.astimezone()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    acute = any(answer.answer == "yes" for answer in store.answers(user, ACUTE, since=midnight, until=now))
    return DayState(tuple(store.open_flags(user, now)), acute)


def for_today(profile: Profile | None, acute_today: bool) -> Profile | None:
    """The profile the order rules see today: with the acute condition when today's answer said so."""
    if profile is None or not acute_today or ACUTE in profile.conditions:
        return profile
    return replace(profile, conditions=(*profile.conditions, ACUTE))


def today_view(store: Store, profile: Profile, now: datetime, library: Library) -> dict[str, Any]:
    """``companion today`` as data: the order rules for today's state, refused while a red flag is open.

    ``acute_today`` and ``open_flags`` are added to :func:`today_report`'s keys. While a flag is open
    nothing is due or allowed: every routine is listed under ``not_yet`` with the reason.
    """
    state = day_state(store, profile.name, now)
    history = store.practice(profile.name)
    report = today_report(profile.name, history, now, library, for_today(profile, state.acute_today),
                          setbacks=find_setbacks(history, store.events))
    report["acute_today"] = state.acute_today
    report["open_flags"] = [{**flag.as_dict(), **dict(zip(("name", "advice"), flag_words(flag.flag_id)))}
                            for flag in state.open_flags]
    hold = state.hold()
    if hold:
        held = [row for key in ("due", "later", "anytime") for row in report[key]]
        report["not_yet"] = [{"routine_id": row["routine_id"], "title": row["title"], "reason": hold[0],
                              "instead": None} for row in held] + report["not_yet"]
        report["due"], report["later"], report["anytime"] = [], [], []
    report["hold"] = hold
    return report


def today_view_lines(report: dict[str, Any]) -> list[str]:
    """:func:`today_view` as lines of text: while a red flag is open, only that and its advice."""
    lines = today_lines(report)
    if report.get("hold"):
        return lines[:1] + report["hold"]
    if report.get("acute_today"):
        return lines[:1] + [load_screening().acute_today] + lines[1:]
    return lines


class SetupError(Exception):
    """Why the session cannot start (unknown person, refused exercise, --at without the virtual clock).

    ``spoken`` is the same reason in words for the ear (no command lines).
    """

    def __init__(self, message: str, spoken: str | None = None):
        super().__init__(message)
        self.spoken = spoken or message


def care_for(setup: Setup, screen: bool, library: Library | None = None, entry: Entry | None = None) -> Care:
    """Open red flags first; screening and the acute question before the first session of the day;
    pain check-ins for a known person.

    After a pain stop in a McKenzie exercise the session goes on with the gentlest one
    (the method's "first aid", named in progression.yaml); elsewhere it ends. The acute
    question is not asked when the acute stage is already known (the profile's
    condition, or a yes earlier today); a yes to it ends the session when ``entry``
    is not for the acute stage, with the order rules' reason.
    """
    if setup.user is None:
        return Care()
    gentlest = load_progression_text().first_aid
    family = linked(library, gentlest) if library is not None else set()
    sc = load_screening()
    profile = setup.profile
    ask_acute = screen and not setup.acute_today and not (profile and ACUTE in profile.conditions)
    open_ids = dict.fromkeys(flag.flag_id for flag in setup.open_flags)
    return Care(
        screening=tuple((q.flag_id, q.ask, q.advice) for q in sc.questions) if screen else (),
        screening_intro=sc.intro, screening_done=sc.all_clear,
        pain_checks=True, pain_score=sc.pain.score, pain_place=sc.pain.place,
        confirm_steps=bool(profile and profile.confirm_steps), repeat=profile.repeat_cues if profile else 0,
        gentlest=gentlest, gentlest_for=tuple(sorted(family)),
        acute_question=sc.acute_question if ask_acute else "",
        acute_refusal=_acute_refusal(setup, library, entry) if ask_acute else "",
        open_flags=tuple(seen_doctor_question(flag_id, sc) for flag_id in open_ids))


def _acute_refusal(setup: Setup, library: Library | None, entry: Entry | None) -> str:
    """What a yes to the acute question says when ``entry`` is not for the acute stage; "" when it is.

    The order rules decide, as for a profile with the acute condition: what is not
    for the acute stage is refused with what to do instead (McKenzie 4 for 3, rest...).
    """
    if library is None or entry is None or setup.user is None:
        return ""
    history = setup.store.practice(setup.user) if setup.store is not None else []
    setbacks = find_setbacks(history, setup.store.events) if setup.store is not None else frozenset()
    acute = for_today(setup.profile or Profile(setup.user), True)
    verdict = check(entry.id, history, setup.started_at, library, acute, setbacks=setbacks)
    return "" if verdict.allowed else verdict.reason


def prepare(lib: Library, entry: Entry | None, *, user: str | None = None, db: str | None = None,
            at: datetime | None = None, virtual: bool = False, resume: bool = False,
            keep_history: bool = True) -> tuple[Entry, Setup]:
    """Open the person's profile and history, check the exercise is allowed, plan questions.

    ``at`` is the simulated start of a virtual-clock session, already read and
    range-checked by the command line before anything is opened; naive is local time.
    """
    setup = Setup()
    if at is not None:
        if not virtual:
            raise SetupError("--at only works with --virtual-clock (it sets a simulated start time)")
        setup.started_at = at if at.tzinfo is not None else at.astimezone()
    wants_store = user or db or resume or not virtual
    if wants_store and keep_history:
        try:
            setup.store = open_store(Path(db) if db else None)
        except StoreError as exc:
            raise SetupError(str(exc)) from None
    try:
        entry = _for_person(lib, entry, setup, user, resume)
    except (SetupError, StoreError) as exc:  # a damaged history, a full disk...: one clear line, never a traceback
        if setup.store is not None:
            setup.store.close()
        if isinstance(exc, StoreError):
            raise SetupError(str(exc)) from None
        raise
    return entry, setup


def _for_person(lib: Library, entry: Entry | None, setup: Setup, user: str | None, resume: bool) -> Entry:
    """The person's profile, where a resumed session starts, whether the exercise is allowed, the questions."""
    if user:
        if setup.store is None:
            raise SetupError("--user needs the history database; do not combine it with --no-log")
        setup.profile = setup.store.get_profile(user)
        if setup.profile is None:
            known = ", ".join(p.name for p in setup.store.list_profiles()) or "none yet"
            raise SetupError(f"There is no profile called '{user}' (known: {known}). "
                             f"Create one with: companion profile add {user}")
        setup.user = setup.profile.name
        state = day_state(setup.store, setup.user, setup.started_at)
        setup.open_flags, setup.acute_today = state.open_flags, state.acute_today
    if resume:
        if setup.open_flags:  # its plan would start past the question that must come first
            hold = DayState(setup.open_flags).hold()
            spoken = " ".join([*hold, load_screening().open_flag.resume])
            raise SetupError(spoken, spoken)
        row = setup.store.last_unfinished(setup.user) if setup.store else None
        if row is None:
            raise SetupError("There is no interrupted session to resume.")
        entry = lib.get(row.entry_id)
        if entry is None:
            raise SetupError(f"The interrupted session was '{row.entry_id}', which no longer exists.")
        steps = [e.get("index") for e in setup.store.events(row.id) if e.get("kind") == "step_started"]
        setup.first_step = int(steps[-1]) if steps and steps[-1] is not None else 0
    if entry is None:
        raise SetupError("Name a routine to run (see companion list), or use --resume.")
    _check_allowed(lib, entry, setup)
    day_start = setup.started_at.replace(hour=0, minute=0, second=0, microsecond=0)
    earlier_today = setup.store.sessions(setup.user, since=day_start) if setup.store and setup.user else []
    first_today = not [r for r in earlier_today if r.started_at <= setup.started_at]
    # After an open red flag is cleared, the safety questions are asked again before any exercise.
    screen = (first_today or bool(setup.open_flags)) and setup.first_step == 0
    setup.care = care_for(setup, screen=screen, library=lib, entry=entry)
    return entry


def _check_allowed(lib: Library, entry: Entry, setup: Setup) -> None:
    """Refuse what is not safe or not yet allowed for this person, with the reason.

    Today's acute answer counts as the acute condition. An open red flag does not
    refuse here (the session asks about it first), but leads any refusal.
    """
    if setup.user is None or setup.first_step:
        return
    history = setup.store.practice(setup.user)
    setbacks = find_setbacks(history, setup.store.events)  # a session whose pain spread is no practice
    verdict = check(entry.id, history, setup.started_at, lib, for_today(setup.profile, setup.acute_today),
                    setbacks=setbacks)
    if not verdict.allowed:
        reason = verdict.reason
        if setup.acute_today and check(entry.id, history, setup.started_at, lib, setup.profile,
                                       setbacks=setbacks).allowed:
            reason = f"{load_screening().acute_today} {reason}"
        hold = " ".join(DayState(setup.open_flags).hold())
        reason = f"{hold} {reason}" if hold else reason
        instead = f" Instead: companion run {verdict.instead} --user {setup.user}" if verdict.instead else ""
        other = lib.get(verdict.instead) if verdict.instead else None
        spoken = f"{reason} You could do {other.title} instead." if other else reason
        raise SetupError(f"{reason}{instead}", spoken)


