"""``companion today --user NAME``: what is due now for a person, and what is not allowed yet and why.

While a red flag is open nothing is offered: the flag and its advice are shown
instead. A yes to today's acute question counts as the acute condition all day.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from companion.care.session_setup import today_view, today_view_lines
from companion.care.store import Store
from companion.cli.exit_codes import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE
from companion.cli.routine_files import routine_dirs
from companion.cli.store_option import unknown_person, with_store
from companion.cli.time_option import moment_or_now
from companion.content.library import load_library


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> argparse.ArgumentParser:
    """Register ``companion today --user NAME [--json] [--db PATH] [--at ISO]``."""
    p = sub.add_parser("today", help="what is due now for a person, and what is not allowed yet (with reasons)")
    p.add_argument("--user", required=True, metavar="NAME", help="whose history and profile to use")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--db", metavar="PATH", help="the history database (default: the one in your data folder)")
    p.add_argument("--at", metavar="ISO", help="pretend it is this date and time, e.g. 2025-03-01T14:00")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    now = moment_or_now(args.at)
    if now is None:
        return EXIT_USAGE
    library = load_library(routine_dirs(args))
    if library.problems:
        print(f"The routine files have {len(library.problems)} problem(s); run: companion check", file=sys.stderr)
        return EXIT_PROBLEM

    def action(store: Store) -> int:
        profile = store.get_profile(args.user)
        if profile is None:  # a schedule for someone unknown (a typo) would look like advice
            return unknown_person(store, args.user)
        report = today_view(store, profile, now, library)
        if args.json:
            print(json.dumps(report, indent=2))
        else:
            print("\n".join(today_view_lines(report)))
            if report["open_flags"]:
                print(f"(A caregiver can record that a doctor has been seen: "
                      f"companion profile clear-flag {shlex.quote(profile.name)} --seen-doctor)")
        return EXIT_OK

    return with_store(args, action)
