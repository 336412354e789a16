"""``companion home`` (and ``companion`` alone): the spoken home menu."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from companion.app.native_noise import native_stderr_logged
from companion.app.home_wiring import CannotHear, HomeOptions, run_home
from companion.care.store import StoreError, open_store
from companion.cli.exit_codes import EXIT_OK, EXIT_PROBLEM
from companion.cli.routine_files import usable_library
from companion.speech.asr.registry import ENGINES


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("home", help="the spoken home menu (also what 'companion' alone does)")
    p.add_argument("--text", action="store_true", help="print only; do not speak")
    p.add_argument("--keyboard", action="store_true", help="also read typed choices")
    p.add_argument("--no-voice", action="store_true", help="do not listen on the microphone")
    p.add_argument("--engine", choices=ENGINES)
    p.add_argument("--model", metavar="PATH")
    p.add_argument("--no-log", action="store_true")
    p.add_argument("--user", metavar="NAME",
                   help="the person exercising (greeted by name; their history decides what is due)")
    p.add_argument("--db", metavar="PATH", help="history database (default: in your data folder)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Greet, say what is due, start sessions by name until goodbye."""
    lib = usable_library(args)
    if lib is None:
        return EXIT_PROBLEM
    db = Path(args.db) if args.db else None
    name = ""
    if args.user:
        try:
            with open_store(db) as store:
                profile = store.get_profile(args.user)
        except StoreError as exc:
            print(exc, file=sys.stderr)
            return EXIT_PROBLEM
        if profile is None:
            print(f"There is no profile called '{args.user}'. Create one with: companion profile add {args.user}",
                  file=sys.stderr)
            return EXIT_PROBLEM
        name = profile.name
    options = HomeOptions(text=args.text, keyboard=args.keyboard, voice=not args.no_voice, engine=args.engine,
                          model=Path(args.model) if args.model else None, no_log=args.no_log, user=args.user,
                          name=name, db=db)
    try:
        with native_stderr_logged():  # the sound libraries' own lines go to a log, not over what it says
            run_home(lib, options)
    except CannotHear as exc:
        print(exc, file=sys.stderr)
        return EXIT_PROBLEM
    return EXIT_OK
