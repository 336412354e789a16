"""``companion doctor``: check speech, sound devices, recognisers and content; print the fix for each problem.

``companion doctor --db [PATH] [--salvage OUT]`` checks the history database instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from companion.app.doctor import check_database, exit_code, render_database, render_text, run_checks
from companion.care.store import default_db_path
from companion.cli.exit_codes import EXIT_INTERRUPTED, EXIT_USAGE
from companion.cli.routine_files import routine_dirs


def _same_file(a: Path, b: Path) -> bool:
    return os.path.abspath(a) == os.path.abspath(b) or (a.exists() and b.exists() and a.samefile(b))


def run_database(args: argparse.Namespace) -> int:
    """``--db``: check the file read-only; ``--salvage OUT``: also copy what can be read into OUT."""
    path = Path(args.db) if args.db else default_db_path()
    out = Path(args.salvage) if args.salvage else None
    if out is not None:
        if out.exists() or out.is_symlink() or _same_file(out, path):
            print(f"--salvage needs the name of a new file; {out} already exists (nothing was changed)",
                  file=sys.stderr)
            return EXIT_USAGE
        if not out.parent.is_dir():
            print(f"--salvage: the folder {out.parent} does not exist (nothing was changed)", file=sys.stderr)
            return EXIT_USAGE
    check = check_database(path, out, missing_ok=not args.db)
    if args.json:
        print(json.dumps(check.as_json(), indent=2, ensure_ascii=False))
    else:
        print(render_database(check))
    return check.exit_code()


def run(args: argparse.Namespace) -> int:
    try:
        if args.db is not None or args.salvage:
            return run_database(args)
        results = run_checks(routine_dirs(args))
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    if args.json:
        print(json.dumps([r.as_json() for r in results], indent=2))
    else:
        print(render_text(results))
    return exit_code(results)


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> argparse.ArgumentParser:
    """Register ``companion doctor [--json] [--db [PATH] [--salvage OUT]]`` on the main parser's subcommands."""
    parser = sub.add_parser("doctor", help="check speech, sound devices, recognisers and routine files; "
                                           "print the command that fixes each problem")
    parser.add_argument("--json", action="store_true",
                        help='print a JSON list of {"check", "status", "detail", "fix"} (with --db: one object)')
    parser.add_argument("--db", nargs="?", const="", metavar="PATH",
                        help=f"check the history database instead (default: {default_db_path()}): SQLite's "
                             "integrity check and every row, without changing the file; exit 1 if it is damaged")
    parser.add_argument("--salvage", metavar="OUT",
                        help="with --db: copy everything that can be read into the new file OUT "
                             "(the database itself is not changed)")
    parser.set_defaults(func=run)
    return parser
