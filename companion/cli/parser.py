"""The ``companion`` parser: every verb's module registers its own sub-command."""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from companion import __version__
from companion.cli import (ask, check, doctor, history, home, listen, listing, models, profile, report, run, serve,
                           show, today)
from companion.cli.exit_codes import EXIT_OK

# The order ``companion --help`` lists them in.
VERBS = (listing, show, check, home, run, ask, profile, history, today, report, serve, listen, models, doctor)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="companion",
        description="An offline, voice-guided exercise companion for neck and low-back pain. "
                    "It explains and guides; it does not replace a doctor or physiotherapist.",
    )
    parser.add_argument("--version", action="version", version=f"companion {__version__}")
    parser.add_argument("--routines", action="append", metavar="DIR",
                        help="read routines from DIR instead of the built-in routines/ folder (repeatable)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for verb in VERBS:
        verb.register(sub)
    return parser


def dispatch(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the verb (no verb: the home menu)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # No command: the hands-free way in.
        args = parser.parse_args([*(argv or sys.argv[1:]), "home"])
    try:
        return args.func(args)
    except BrokenPipeError:
        return EXIT_OK
