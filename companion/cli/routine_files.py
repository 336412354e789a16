"""The routine library a verb works on: the built-in routines, or ``--routines DIR`` folders."""

from __future__ import annotations

import argparse
import difflib
import sys
from pathlib import Path

from companion.content.library import Entry, Library, load_library
from companion.content.phrases import load_phrases
from companion.engine.plan import Plan, PlanBuilder


def routine_dirs(args: argparse.Namespace) -> list[Path] | None:
    """The folders named with ``--routines`` (None: the built-in ones)."""
    return [Path(p) for p in args.routines] if args.routines else None


def usable_library(args: argparse.Namespace) -> Library | None:
    """The library, or None after listing its problems on stderr."""
    lib = load_library(routine_dirs(args))
    if lib.problems:
        print(f"The routine files have {len(lib.problems)} problem(s); fix them first:", file=sys.stderr)
        for problem in lib.problems:
            print(f"  {problem}", file=sys.stderr)
        return None
    return lib


def find_entry(lib: Library, entry_id: str) -> Entry | None:
    """The routine or programme ``entry_id``, or None after suggesting close names on stderr."""
    entry = lib.get(entry_id)
    if entry is None:
        close = difflib.get_close_matches(entry_id, lib.ids(), n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        print(f"There is no routine or programme called '{entry_id}'.{hint} See: companion list", file=sys.stderr)
    return entry


def plan_for(lib: Library, entry: Entry) -> Plan:
    return PlanBuilder(lib.routines, load_phrases()).for_entry(entry)


def duration(lib: Library, entry: Entry) -> float:
    """Seconds the whole entry takes at the normal pace."""
    return sum(step.estimate(1.0) for step in plan_for(lib, entry).steps)
