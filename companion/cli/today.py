"""``companion today --user NAME``: what is due now for a person, and what is not allowed yet and why."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from companion.care.progression import today_lines, today_report
from companion.care.store import StoreError, open_store
from companion.cli.routine_files import routine_dirs
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
    try:
        now = datetime.fromisoformat(args.at) if args.at else datetime.now().astimezone()
    except ValueError:
        print(f"--at needs a date and time like 2025-03-01T14:00, not '{args.at}'", file=sys.stderr)
        return 2
    library = load_library(routine_dirs(args))
    if library.problems:
        print(f"The routine files have {len(library.problems)} problem(s); run: companion check", file=sys.stderr)
        return 1
    try:
        with open_store(Path(args.db) if args.db else None) as store:
            history = list(store.practice(args.user))
            profile = store.get_profile(args.user)
    except StoreError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    report = today_report(args.user, history, now, library, profile)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print("\n".join(today_lines(report)))
    return 0
