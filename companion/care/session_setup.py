"""Before a session starts: whose it is, what is allowed, and what to ask.

Opens the person's profile and history, refuses what is not safe or not yet
allowed for them (with the reason, in words for the screen and for the ear),
works out where an interrupted session resumes, and plans the questions that
surround the exercises: red-flag screening before the first session of the
day, pain before and after each exercise, and the caregiver's confirmations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from companion.care.profiles import Profile
from companion.care.progression import check, load_progression_text
from companion.care.progression import family as linked
from companion.care.screening import load_screening
from companion.care.store import Store, StoreError, open_store
from companion.content.library import Entry, Library
from companion.engine.plan import Care


@dataclass
class Setup:
    """Who the session is for and what surrounds it (profile, history store, questions)."""

    user: str | None = None
    profile: Profile | None = None
    store: Store | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now().astimezone())
    first_step: int = 0
    care: Care = field(default_factory=Care)


class SetupError(Exception):
    """Why the session cannot start (unknown person, refused exercise, --at without the virtual clock).

    ``spoken`` is the same reason in words for the ear (no command lines).
    """

    def __init__(self, message: str, spoken: str | None = None):
        super().__init__(message)
        self.spoken = spoken or message


def care_for(setup: Setup, screen: bool, library: Library | None = None) -> Care:
    """Screening before the first session of the day; pain check-ins for a known person.

    After a pain stop in a McKenzie exercise the session goes on with the gentlest one
    (the method's "first aid", named in progression.yaml); elsewhere it ends.
    """
    if setup.user is None:
        return Care()
    gentlest = load_progression_text().first_aid
    family = linked(library, gentlest) if library is not None else set()
    sc = load_screening()
    profile = setup.profile
    return Care(
        screening=tuple((q.flag_id, q.ask, q.advice) for q in sc.questions) if screen else (),
        screening_intro=sc.intro, screening_done=sc.all_clear,
        pain_checks=True, pain_score=sc.pain.score, pain_place=sc.pain.place,
        confirm_steps=bool(profile and profile.confirm_steps), repeat=profile.repeat_cues if profile else 0,
        gentlest=gentlest, gentlest_for=tuple(sorted(family)))


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
    if resume:
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
    setup.care = care_for(setup, screen=first_today and setup.first_step == 0, library=lib)
    return entry


def _check_allowed(lib: Library, entry: Entry, setup: Setup) -> None:
    """Refuse what is not safe or not yet allowed for this person, with the reason."""
    if setup.user is None or setup.first_step:
        return
    verdict = check(entry.id, setup.store.practice(setup.user), setup.started_at, lib, setup.profile)
    if not verdict.allowed:
        instead = f" Instead: companion run {verdict.instead} --user {setup.user}" if verdict.instead else ""
        other = lib.get(verdict.instead) if verdict.instead else None
        spoken = f"{verdict.reason} You could do {other.title} instead." if other else verdict.reason
        raise SetupError(f"{verdict.reason}{instead}", spoken)


