"""``companion profile ...``: people's settings (speech rate, volume, pace, conditions, caregiver mode),
and their red flags (``profile flags NAME``; ``profile clear-flag NAME [FLAG_ID] --seen-doctor``).

Every command takes ``--db PATH`` (default:
:func:`companion.care.store.default_db_path`). Problems are one clear line on
stderr and exit 1 (exit 2 for a usage problem); never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from companion.care.profiles import CAREGIVER_PRESET, Profile, ProfileError, set_value
from companion.care.screening import flag_words
from companion.care.store import DuplicateProfile, FlagRow, Store
from companion.cli.exit_codes import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE
from companion.cli.store_option import add_db, unknown_person, with_store
from companion.cli.time_option import moment_or_now

Sub = "argparse._SubParsersAction[argparse.ArgumentParser]"

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


def register(sub: Sub) -> argparse.ArgumentParser:
    """Register ``profile add|list|show|set|remove|flags|clear-flag`` on the main parser's sub-commands."""
    p = sub.add_parser("profile", help="who is exercising: speech, pace, caregiver, conditions")
    actions = p.add_subparsers(dest="profile_command", metavar="ACTION")
    p.set_defaults(func=lambda args: (p.print_help(), EXIT_USAGE)[1])

    a = actions.add_parser("add", help="add a profile")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--preset", choices=("caregiver",),
                   help="caregiver: slower and louder speech, longer rests, every step confirmed with yes/no, "
                        "questions repeated once")
    add_db(a)
    a.set_defaults(func=cmd_profile_add)

    a = actions.add_parser("list", help="list profiles")
    a.add_argument("--json", action="store_true", help="print JSON")
    add_db(a)
    a.set_defaults(func=cmd_profile_list)

    a = actions.add_parser("show", help="show one profile's settings")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--json", action="store_true", help="print JSON")
    add_db(a)
    a.set_defaults(func=cmd_profile_show)

    a = actions.add_parser("set", help="change a setting, e.g. 'profile set Mum pace 1.5' or 'preset caregiver'")
    a.add_argument("name", metavar="NAME")
    a.add_argument("key", metavar="KEY")
    a.add_argument("value", metavar="VALUE")
    add_db(a)
    a.set_defaults(func=cmd_profile_set)

    a = actions.add_parser("remove", help="remove a profile (their session history is kept)")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    add_db(a)
    a.set_defaults(func=cmd_profile_remove)

    a = actions.add_parser("flags", help="list a person's red flags, open and cleared")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--json", action="store_true", help="print JSON")
    add_db(a)
    a.set_defaults(func=cmd_profile_flags)

    a = actions.add_parser("clear-flag", help="record that a person has seen a doctor about an open red flag, "
                                              "so exercise can start again")
    a.add_argument("name", metavar="NAME")
    a.add_argument("flag_id", nargs="?", metavar="FLAG_ID", help="only this red flag (default: every open one)")
    a.add_argument("--seen-doctor", action="store_true", help="a doctor has seen them about it (required)")
    a.add_argument("--note", default="", metavar="TEXT", help="what the doctor said, for the report")
    a.add_argument("--at", metavar="ISO", help="when this is recorded (default: now), e.g. 2025-03-01T14:00")
    add_db(a)
    a.set_defaults(func=cmd_profile_clear_flag)
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

    return with_store(args, action)


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

    return with_store(args, action)


def cmd_profile_show(args: argparse.Namespace) -> int:
    def action(store: Store) -> int:
        profile = store.get_profile(args.name)
        if profile is None:
            return unknown_person(store, args.name)
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

    return with_store(args, action)


def _quoted(name: str) -> str:
    return f"'{name}'" if any(ch.isspace() for ch in name) else name


def cmd_profile_set(args: argparse.Namespace) -> int:
    def action(store: Store) -> int:
        profile = store.get_profile(args.name)
        if profile is None:
            return unknown_person(store, args.name)
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

    return with_store(args, action)


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
            return unknown_person(store, args.name)
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

    return with_store(args, action)


# -- red flags -------------------------------------------------------------------


def _flag_line(flag: FlagRow) -> str:
    name = flag_words(flag.flag_id)[0]
    line = f"  {'OPEN' if flag.cleared_at is None else 'cleared':<8} {flag.raised_at:%Y-%m-%d %H:%M}  {name} " \
           f"({flag.flag_id}, {_SOURCES.get(flag.source, flag.source)})"
    if flag.cleared_at is not None:
        who = "by a caregiver" if flag.cleared_by == "caregiver" else "by the person, at a session start"
        line += f"; seen a doctor, recorded {flag.cleared_at:%Y-%m-%d %H:%M} {who}"
        if flag.note:
            line += f": {flag.note}"
    return line


_SOURCES = {"screen": "a yes to a safety question", "session": "said during a session", "ask": "said in a question"}


def cmd_profile_flags(args: argparse.Namespace) -> int:
    """Every red flag of one person: the open ones stop exercise until a doctor has seen them."""
    def action(store: Store) -> int:
        profile = store.get_profile(args.name)
        if profile is None:
            return unknown_person(store, args.name)
        flags = store.flags(profile.name)
        if args.json:
            print(json.dumps([{**flag.as_dict(), "name": flag_words(flag.flag_id)[0]} for flag in flags], indent=2))
            return EXIT_OK
        if not flags:
            print(f"No red flags recorded for {profile.name}.")
            return EXIT_OK
        still = sum(flag.cleared_at is None for flag in flags)
        print(f"Red flags for {profile.name} ({still} open):")
        for flag in flags:
            print(_flag_line(flag))
        return EXIT_OK

    return with_store(args, action)


def cmd_profile_clear_flag(args: argparse.Namespace) -> int:
    """A caregiver records that the person has seen a doctor: the open flag (or every one) is cleared."""
    if not args.seen_doctor:
        print("A red flag is cleared only once a doctor has seen the person about it: add --seen-doctor to "
              "record that.", file=sys.stderr)
        return EXIT_USAGE
    at = moment_or_now(args.at)
    if at is None:
        return EXIT_USAGE
    at = at if at.tzinfo is not None else at.astimezone()

    def action(store: Store) -> int:
        profile = store.get_profile(args.name)
        if profile is None:
            return unknown_person(store, args.name)
        still = [flag for flag in store.flags(profile.name) if flag.cleared_at is None]
        if args.flag_id is not None:
            still = [flag for flag in still if flag.flag_id == args.flag_id]
        if not still:
            which = f" '{args.flag_id}'" if args.flag_id is not None else ""
            print(f"{profile.name} has no open red flag{which}. See: companion profile flags {_quoted(profile.name)}",
                  file=sys.stderr)
            return EXIT_PROBLEM
        cleared = store.clear_flags(profile.name, at, "caregiver", flag_id=args.flag_id, note=args.note)
        if not cleared:
            print(f"The open red flags of {profile.name} were raised after {at:%Y-%m-%d %H:%M}; nothing was cleared.",
                  file=sys.stderr)
            return EXIT_PROBLEM
        for flag in store.flags(profile.name):
            if flag.id in {f.id for f in still} and flag.cleared_at is not None:
                print(f"Cleared for {profile.name}: {flag_words(flag.flag_id)[0]} (raised "
                      f"{flag.raised_at:%Y-%m-%d %H:%M}); a doctor has seen them.")
        return EXIT_OK

    return with_store(args, action)
