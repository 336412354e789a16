"""``companion doctor``: check speech, sound devices, recognisers and content; print the fix for each problem."""

from __future__ import annotations

import argparse
import json
import sys

from companion.app.doctor import exit_code, render_text, run_checks
from companion.cli.exit_codes import EXIT_INTERRUPTED
from companion.cli.routine_files import routine_dirs


def run(args: argparse.Namespace) -> int:
    try:
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
    """Register ``companion doctor [--json]`` on the main parser's subcommands."""
    parser = sub.add_parser("doctor", help="check speech, sound devices, recognisers and routine files; "
                                           "print the command that fixes each problem")
    parser.add_argument("--json", action="store_true",
                        help='print a JSON list of {"check", "status", "detail", "fix"}')
    parser.set_defaults(func=run)
    return parser
