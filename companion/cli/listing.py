"""``companion list``: every routine and programme, with its length."""

from __future__ import annotations

import argparse
import json

from companion.app.outputs import clock_text
from companion.cli.exit_codes import EXIT_OK, EXIT_PROBLEM
from companion.cli.routine_files import duration, usable_library


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("list", help="list routines and programmes")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    lib = usable_library(args)
    if lib is None:
        return EXIT_PROBLEM
    rows = []
    for entry in sorted(lib.entries(), key=lambda e: (e.kind, e.id)):
        rows.append({"id": entry.id, "kind": entry.kind, "title": entry.title,
                     "duration_seconds": round(duration(lib, entry)), "purpose": entry.purpose})
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    width = max((len(r["id"]) for r in rows), default=0)
    for kind in ("routine", "programme"):
        print(f"{kind.capitalize()}s:")
        for row in (r for r in rows if r["kind"] == kind):
            print(f"  {row['id']:<{width}}  {clock_text(row['duration_seconds']):>6}  {row['title']}")
    print("\nStart one with: companion run ID   (details: companion show ID)")
    return EXIT_OK
