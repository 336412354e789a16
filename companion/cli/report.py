"""``companion report --user NAME --html FILE [--csv FILE]``: a printable report of the last days.

Problems are one clear line on stderr and exit 1 (exit 2 for a usage
problem such as a bad ``--at``); never a traceback. The output files are
health data: they are written whole or not at all and end up readable by
their owner only (:mod:`companion.cli.private_files`).
"""

from __future__ import annotations

import argparse
import difflib
import os
import sqlite3
import sys
from pathlib import Path

from companion.care.report.collect import collect
from companion.care.report.csv import csv_rows, csv_text
from companion.care.store import StoreError, default_db_path, open_store, unreadable_message
from companion.cli.exit_codes import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE
from companion.cli.private_files import WriteFailed, write_private_files
from companion.cli.routine_files import routine_dirs
from companion.cli.time_option import moment_or_now
from companion.content.library import load_library

MAX_DAYS = 366


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> argparse.ArgumentParser:
    """Register ``report --user NAME --html FILE [--csv FILE] [--db PATH] [--days N] [--at ISO]``."""
    p = sub.add_parser("report", help="a printable HTML report (and optional CSV) of a person's recent days",
                       description="Write a self-contained HTML page a caregiver can print: exercises done "
                                   "each day against the daily targets, a pain chart, red flags and stopped "
                                   "exercises, and the McKenzie stage with what is next.")
    p.add_argument("--user", required=True, metavar="NAME", help="whose history to report")
    p.add_argument("--html", required=True, metavar="FILE", help="where to write the HTML page")
    p.add_argument("--csv", metavar="FILE", help="also write the events (pain, screening, red flags, "
                                                 "completions, stops) as CSV")
    p.add_argument("--db", metavar="PATH",
                   help=f"the database file (default: {default_db_path()}; COMPANION_HOME moves it)")
    p.add_argument("--days", type=int, default=7, metavar="N", help="how many days, ending today (default 7)")
    p.add_argument("--at", metavar="ISO", help="report as if it were this date and time, e.g. 2025-03-01T18:00")
    p.set_defaults(func=run)
    return p


def _unknown(known: list[str], name: str) -> int:
    if not known:
        print(f"There is no profile or history for '{name}', and there are no profiles yet. "
              "Add one with: companion profile add NAME", file=sys.stderr)
        return EXIT_PROBLEM
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    print(f"There is no profile or history for '{name}'.{hint} Known profiles: {', '.join(known)}.",
          file=sys.stderr)
    return EXIT_PROBLEM


def _check_writable(path: Path, what: str) -> str | None:
    """A reason the file cannot be written, or None. Checked before any work is done.

    The folder must be writable even when the file exists: the new file is
    written beside it first and then renamed over it.
    """
    try:
        return _unwritable(path, what)
    except (OSError, ValueError) as exc:  # a name too long for the file system, or with a NUL in it
        return f"cannot write the {what} to {path}: {getattr(exc, 'strerror', None) or exc}"


def _unwritable(path: Path, what: str) -> str | None:
    if "\0" in str(path):
        return f"cannot write the {what} to {path!r}: a file name cannot contain a NUL character"
    if path.is_dir():
        return f"cannot write the {what} to {path}: that is a folder; give a file name, e.g. {path / 'report.html'}"
    parent = path.parent
    if not parent.is_dir():
        return f"cannot write the {what} to {path}: the folder {parent} does not exist"
    if path.exists() and not os.access(path, os.W_OK):
        return f"cannot write the {what} to {path}: the file is not writable"
    if not os.access(parent, os.W_OK):
        return f"cannot write the {what} to {path}: the folder {parent} is not writable"
    return None


def _write(outputs: list[tuple[Path, str, str]]) -> str | None:
    """Write every ``(path, what, text)`` whole, or change none of them. Returns a problem or None."""
    try:
        write_private_files([(path, text) for path, _, text in outputs])
    except WriteFailed as exc:
        what = next(what for path, what, _ in outputs if path == exc.path)
        if exc.changed:
            done = ", ".join(str(path) for path in exc.changed)
            return f"cannot write the {what} to {exc.path}: {exc.reason}; only {done} was written"
        kept = " (the earlier file there is unchanged)" if exc.path.exists() else ""
        return f"cannot write the {what} to {exc.path}: {exc.reason}; nothing was written{kept}"
    return None


def run(args: argparse.Namespace) -> int:
    now = moment_or_now(args.at)
    if now is None:
        return EXIT_USAGE
    now = now.astimezone() if now.tzinfo is None else now  # the report is in --at's own zone, if it names one
    if not 1 <= args.days <= MAX_DAYS:
        print(f"--days must be between 1 and {MAX_DAYS}, not {args.days}", file=sys.stderr)
        return EXIT_USAGE
    if args.csv and os.path.abspath(args.csv) == os.path.abspath(args.html):
        print("--html and --csv name the same file; give the CSV file its own name", file=sys.stderr)
        return EXIT_USAGE
    outputs = [(Path(args.html), "report")] + ([(Path(args.csv), "CSV file")] if args.csv else [])
    for path, what in outputs:
        problem = _check_writable(path, what)
        if problem:
            print(problem, file=sys.stderr)
            return EXIT_PROBLEM

    library = load_library(routine_dirs(args))
    if library.problems:
        print(f"The routine files have {len(library.problems)} problem(s); run: companion check", file=sys.stderr)
        return EXIT_PROBLEM

    from companion.care.report.html import render  # Jinja2 and the templates: only when a report is written

    path = Path(args.db) if args.db else default_db_path()
    if args.db and not os.path.exists(path):  # False, not an error, for a name too long to exist
        print(f"There is no database at {path}. Check the --db path.", file=sys.stderr)
        return EXIT_PROBLEM
    try:
        with open_store(path) as store:
            known = store.users()
            match = next((name for name in known if name.casefold() == args.user.casefold()), None)
            if match is None:
                return _unknown(known, args.user)
            data = collect(store, match, now, library, days=args.days)
    except StoreError as exc:
        print(exc, file=sys.stderr)
        return EXIT_PROBLEM
    except sqlite3.Error as exc:
        print(unreadable_message(path, exc), file=sys.stderr)
        return EXIT_PROBLEM

    page, note = render(data)
    if note:
        print(note, file=sys.stderr)
    texts = [(Path(args.html), "report", page)]
    if args.csv:
        texts.append((Path(args.csv), "CSV file", csv_text(csv_rows(data))))
    problem = _write(texts)
    if problem:
        print(problem, file=sys.stderr)
        return EXIT_PROBLEM
    sessions = len(data.sessions)
    summary = f"{sessions} session{'s' if sessions != 1 else ''}" if sessions else "no sessions"
    print(f"Wrote the report for {data.user} ({summary} in {len(data.days)} days) to {args.html}"
          + (f", and the events to {args.csv}" if args.csv else "") + ".")
    return EXIT_OK

