"""``--db PATH`` for the verbs that read or write people's data, and opening the store with a clear message."""

from __future__ import annotations

import argparse
import difflib
import sqlite3
import sys
from pathlib import Path
from typing import Callable

from companion.care.store import Store, StoreError, default_db_path, open_store, unreadable_message
from companion.cli.exit_codes import EXIT_PROBLEM


def add_db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--db", metavar="PATH",
                   help=f"the database file (default: {default_db_path()}; COMPANION_HOME moves it)")


def with_store(args: argparse.Namespace, action: Callable[[Store], int]) -> int:
    """Open the store, run ``action``, and turn any database problem into one line and exit 1.

    Damaged rows the action skipped are told in one line on stderr when the store closes.
    """
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
    except sqlite3.Error as exc:  # the store turns its own errors into StoreError; this is a last guard
        print(unreadable_message(path, exc), file=sys.stderr)
        return EXIT_PROBLEM
    finally:
        store.close()


def unknown_person(store: Store, name: str, history: bool = False) -> int:
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
