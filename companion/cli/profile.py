"""``companion profile ...`` and ``companion history``: people's settings and their session history.

Wire them in with ``add_profile_parser(sub)`` and ``add_history_parser(sub)``
next to the other sub-commands. Every command takes ``--db PATH`` (default:
:func:`companion.care.store.default_db_path`). Problems are one clear line on
stderr and exit 1 (exit 2 for a usage problem); never a traceback.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any, Callable

from companion.care.profiles import CAREGIVER_PRESET, Profile, ProfileError, set_value
from companion.care.store import (
    DuplicateProfile,
    SessionRow,
    Store,
    StoreError,
    default_db_path,
    open_store,
    unreadable_message,
)
from companion.app.outputs import clock_text

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2

Sub = "argparse._SubParsersAction[argparse.ArgumentParser]"

ENDINGS = {
    "completed": "completed",
    "stopped": "stopped early",
    "interrupted": "interrupted (Ctrl-C)",
    "red-flag": "ended: red flag, see a doctor",
    None: "did not finish (the program was closed or killed)",
}


def _add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="PATH",
                   help=f"the database file (default: {default_db_path()}; COMPANION_HOME moves it)")


def _with_store(args: argparse.Namespace, action: Callable[[Store], int]) -> int:
    """Open the store, run ``action``, and turn any database problem into one line and exit 1."""
    path = Path(args.db) if args.db else default_db_path()
    try:
        store = open_store(path)
    except StoreError as exc:
        print(exc, file=sys.stderr)
        return EXIT_PROBLEM
    try:
        return action(store)
    except StoreError as exc:
        print(exc, file=sys.stderr)
        return EXIT_PROBLEM
    except sqlite3.Error as exc:  # damage found after opening ("database disk image is malformed")
        print(unreadable_message(path, exc), file=sys.stderr)
        return EXIT_PROBLEM
    finally:
        store.close()


def _unknown(store: Store, name: str, history: bool = False) -> int:
    """No such profile (for ``history``: no profile and no sessions): say so and list who is known."""
    known = store.users() if history else [p.name for p in store.list_profiles()]
    what = f"profile or history for '{name}'" if history else f"profile called '{name}'"
    if not known:
        print(f"There is no {what}, and there are no profiles yet. Add one with: companion profile add NAME",
              file=sys.stderr)
        return EXIT_PROBLEM
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    print(f"There is no {what}.{hint} Known profiles: {', '.join(known)}.", file=sys.stderr)
    return EXIT_PROBLEM


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(value) if value else "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _settings(profile: Profile) -> list[tuple[str, str]]:
    return [(key, _value(value)) for key, value in profile.as_dict().items() if key != "name"]


# -- profile ---------------------------------------------------------------------


def add_profile_parser(sub: Sub) -> argparse.ArgumentParser:
    """Register ``profile add|list|show|set|remove`` on the main parser's sub-commands."""
    p = sub.add_parser("profile", help="who is exercising: speech, pace, caregiver, conditions")
    actions = p.add_subparsers(dest="profile_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), EXIT_USAGE)[1])

    a = actions.add_parser("add", help="add a profile")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--preset", choices=("caregiver",),
                   help="caregiver: slower and louder speech, longer rests, every step confirmed with yes/no, "
                        "questions repeated once")
    _add_db(a)
    a.set_defaults(func=cmd_profile_add)

    a = actions.add_parser("list", help="list profiles")
    a.add_argument("--json", action="store_true", help="print JSON")
    _add_db(a)
    a.set_defaults(func=cmd_profile_list)

    a = actions.add_parser("show", help="show one profile's settings")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--json", action="store_true", help="print JSON")
    _add_db(a)
    a.set_defaults(func=cmd_profile_show)

    a = actions.add_parser("set", help="change a setting, e.g. 'profile set Mum pace 1.5' or 'preset caregiver'")
    a.add_argument("name", metavar="NAME")
    a.add_argument("key", metavar="KEY")
    a.add_argument("value", metavar="VALUE")
    _add_db(a)
    a.set_defaults(func=cmd_profile_set)

    a = actions.add_parser("remove", help="remove a profile (their session history is kept)")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    _add_db(a)
    a.set_defaults(func=cmd_profile_remove)
    return p


def _print_profile(store: Store, profile: Profile) -> None:
    print(f"Profile {profile.name}")
    for key, value in _settings(profile):
        print(f"  {key:<14} {value}")


def cmd_profile_add(args: argparse.Namespace) -> int:
    def action(store: Store) -> int:
        profile = Profile(name=args.name)
        if args.preset:
            profile = set_value(profile, "preset", args.preset)
        try:
            store.add_profile(profile)
        except DuplicateProfile:
            existing = store.get_profile(args.name)
            print(f"There is already a profile called '{existing.name if existing else args.name}'. "
                  f"Change it with: companion profile set NAME KEY VALUE", file=sys.stderr)
            return EXIT_PROBLEM
        except ProfileError as exc:
            print(f"Cannot add '{args.name}': {exc}.", file=sys.stderr)
            return EXIT_PROBLEM
        print(f"Added profile {profile.name}" + (f" with the {args.preset} preset." if args.preset else "."))
        _print_profile(store, profile)
        return EXIT_OK

    return _with_store(args, action)


def cmd_profile_list(args: argparse.Namespace) -> int:
    def action(store: Store) -> int:
        profiles = store.list_profiles()
        if args.json:
            print(json.dumps([p.as_dict() for p in profiles], indent=2))
            return EXIT_OK
        if not profiles:
            print("No profiles yet. Add one with: companion profile add NAME [--preset caregiver]")
            return EXIT_OK
        width = max(len(p.name) for p in profiles)
        for p in profiles:
            extras = ["caregiver" if p.caregiver else "", f"pace x{p.pace:g}" if p.pace != 1.0 else "",
                      ", ".join(p.conditions)]
            print(f"  {p.name:<{width}}  {'; '.join(e for e in extras if e) or 'default settings'}")
        return EXIT_OK

    return _with_store(args, action)


def cmd_profile_show(args: argparse.Namespace) -> int:
    def action(store: Store) -> int:
        profile = store.get_profile(args.name)
        if profile is None:
            return _unknown(store, args.name)
        sessions = store.sessions(user=profile.name)
        if args.json:
            data = profile.as_dict()
            created = store.profile_created(profile.name)
            data["created_at"] = created.isoformat(timespec="seconds") if created else None
            data["sessions"] = len(sessions)
            print(json.dumps(data, indent=2))
            return EXIT_OK
        _print_profile(store, profile)
        last = f", the last on {sessions[-1].started_at:%Y-%m-%d %H:%M}" if sessions else ""
        print(f"  {len(sessions)} session(s) recorded{last}. See: companion history --user {_quoted(profile.name)}")
        return EXIT_OK

    return _with_store(args, action)


def _quoted(name: str) -> str:
    return f"'{name}'" if any(ch.isspace() for ch in name) else name


def cmd_profile_set(args: argparse.Namespace) -> int:
    def action(store: Store) -> int:
        profile = store.get_profile(args.name)
        if profile is None:
            return _unknown(store, args.name)
        try:
            changed = set_value(profile, args.key, args.value)
        except ProfileError as exc:
            print(f"Cannot set {args.key}: {exc}.", file=sys.stderr)
            return EXIT_PROBLEM
        store.save_profile(changed)
        keys = list(CAREGIVER_PRESET) if args.key == "preset" else [args.key]
        for key in keys:
            print(f"{changed.name}: {key} = {_value(getattr(changed, key))}")
        return EXIT_OK

    return _with_store(args, action)


def _confirm(question: str) -> bool | None:
    """Ask on the terminal; None when there is no terminal to ask on."""
    if not sys.stdin or not sys.stdin.isatty():
        return None
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def cmd_profile_remove(args: argparse.Namespace) -> int:
    def action(store: Store) -> int:
        profile = store.get_profile(args.name)
        if profile is None:
            return _unknown(store, args.name)
        count = len(store.sessions(user=profile.name))
        if not args.yes:
            answer = _confirm(f"Remove profile {profile.name}?")
            if answer is None:
                print(f"Not removing profile {profile.name}: there is no terminal to confirm on. "
                      f"Add --yes to remove it without asking.", file=sys.stderr)
                return EXIT_USAGE
            if not answer:
                print(f"Kept profile {profile.name}.")
                return EXIT_PROBLEM
        store.remove_profile(profile.name)
        kept = f" Their history ({count} session(s)) is kept." if count else ""
        print(f"Removed profile {profile.name}.{kept}")
        return EXIT_OK

    return _with_store(args, action)


# -- history ---------------------------------------------------------------------


def add_history_parser(sub: Sub) -> argparse.ArgumentParser:
    """Register ``history`` on the main parser's sub-commands."""
    p = sub.add_parser("history", help="list a person's sessions: when, what, how long, how each ended")
    p.add_argument("--user", metavar="NAME", help="whose sessions (default: every session recorded)")
    p.add_argument("--json", action="store_true", help="print the sessions with all their events as JSON")
    p.add_argument("--events", action="store_true", help="also print every event of each session")
    _add_db(p)
    p.set_defaults(func=cmd_history)
    return p


def ending(session: SessionRow) -> str:
    if session.reason is None and session.ended_at is None:
        return ENDINGS[None]
    return ENDINGS.get(session.reason, session.reason or "ended")


def _event_line(event: dict[str, Any]) -> str:
    who = "you" if event["who"] == "user" else event["who"]
    text = event.get("text") or ""
    return f"      [{clock_text(event['t'])}] {who:<9} {event['kind']:<16} {text}".rstrip()


def cmd_history(args: argparse.Namespace) -> int:
    def action(store: Store) -> int:
        user = args.user
        if user is not None:
            match = next((name for name in store.users() if name.lower() == user.lower()), None)
            if match is None:
                return _unknown(store, user, history=True)
            user = match
        sessions = store.sessions(user=user)
        if args.json:
            rows = []
            for session in sessions:
                row = session.as_dict()
                row["ending"] = ending(session)
                row["events"] = store.events(session.id)
                rows.append(row)
            print(json.dumps({"user": user, "database": str(store.path), "sessions": rows}, indent=2,
                             ensure_ascii=False))
            return EXIT_OK
        whose = f"{user}" if user else "everyone"
        if not sessions:
            print(f"No sessions recorded for {whose} yet.")
            return EXIT_OK
        print(f"Sessions for {whose} ({len(sessions)}):")
        routine_width = max(len(s.entry_id) for s in sessions)
        for session in sessions:
            who = "" if user else f"{session.user or '-'}  "
            preview = "  (virtual clock)" if session.virtual else ""
            print(f"  {session.started_at:%Y-%m-%d %H:%M}  {who}{session.entry_id:<{routine_width}}  "
                  f"{clock_text(session.duration):>6}  {ending(session)}{preview}")
            if args.events:
                for event in store.events(session.id):
                    print(_event_line(event))
        return EXIT_OK

    return _with_store(args, action)
