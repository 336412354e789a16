"""``companion show ID``: a routine's steps, timings, warnings, order rules and sources."""

from __future__ import annotations

import argparse

from companion.app.outputs import clock_text
from companion.cli.exit_codes import EXIT_OK, EXIT_PROBLEM
from companion.cli.routine_files import find_entry, plan_for, usable_library
from companion.content.schema import Routine


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("show", help="show the steps, timings and warnings of a routine")
    p.add_argument("id")
    p.set_defaults(func=run)


def _frequency(routine: Routine) -> str:
    freq = routine.frequency
    parts = []
    if freq.per_day:
        parts.append(f"{freq.per_day.describe()} times a day")
    if freq.spacing_hours:
        parts.append(f"about {freq.spacing_hours:g} hours apart")
    if freq.note:
        parts.append(freq.note)
    return "; ".join(parts) or "not stated"


def run(args: argparse.Namespace) -> int:
    lib = usable_library(args)
    entry = find_entry(lib, args.id) if lib else None
    if entry is None:
        return EXIT_PROBLEM
    plan = plan_for(lib, entry)
    print(f"{entry.title}  ({entry.id}, {entry.kind})")
    print(f"  {entry.purpose}")
    if isinstance(entry, Routine):
        if entry.position:
            print(f"  Position: {entry.position}")
        print(f"  How often: {_frequency(entry)}")
        for label, items in (("Safety", entry.warnings), ("Limits", entry.limits)):
            for item in items:
                print(f"  {label}: {item}")
        if entry.not_for:
            print(f"  Not for: {', '.join(entry.not_for)}")
        for req in entry.requires:
            extra = f" for {req.practised_weeks:g} weeks" if req.practised_weeks else ""
            extra += " (first time only)" if req.first_time_only else ""
            print(f"  Requires: {req.routine}{extra} - {req.why}")
        if entry.then:
            print(f"  Always followed by: {entry.then}")
        if entry.alternative_to:
            print(f"  Instead of {entry.alternative_to.routine}: {entry.alternative_to.when}")
    print("\nSteps:")
    at = 0.0
    for number, step in enumerate(plan.steps, start=1):
        length = step.estimate(1.0)
        print(f"  {number:>2}. [{clock_text(at)}] {step.title}  ({clock_text(length)})")
        at += length
    print(f"\nTotal: about {clock_text(at)} (minutes:seconds) at the normal pace.")
    sources = entry.sources
    if sources:
        print("\nSources (lines of back-pain-articles.txt):")
        for source in sources:
            print(f"  {source.lines}: \"{source.quote}\"")
    return EXIT_OK
