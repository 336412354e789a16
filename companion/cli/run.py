"""``companion run ID``: one routine or programme, spoken, on the virtual clock, or from a script."""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from companion.app.devices import LiveIO
from companion.app.inputs import ScriptError, parse_script
from companion.app.native_noise import native_stderr_logged
from companion.app.outputs import clock_text
from companion.app.session import SessionOptions, run_session
from companion.care.session_setup import SetupError, prepare
from companion.cli.exit_codes import EXIT_INTERRUPTED, EXIT_OK, EXIT_PROBLEM, EXIT_USAGE
from companion.cli.routine_files import find_entry, usable_library
from companion.cli.time_option import MomentError, parse_moment
from companion.language.heard import Heard
from companion.language.vocabulary import load_vocabulary
from companion.speech.asr.registry import ENGINES


@dataclass(frozen=True)
class RunOptions:
    entry_id: str | None
    user: str | None = None
    db: str | None = None
    at: datetime | None = None
    resume: bool = False
    text: bool = False
    keyboard: bool = False
    virtual_clock: bool = False
    script: list[Heard] | None = None
    json: bool = False
    no_voice: bool = False
    engine: str | None = None
    model: Path | None = None
    no_log: bool = False


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("run", help="run a routine or programme")
    p.add_argument("id", nargs="?", help="routine or programme id (see companion list); omit with --resume")
    p.add_argument("--user", metavar="NAME", help="the person exercising (see companion profile)")
    p.add_argument("--db", metavar="PATH", help="history database (default: in your data folder)")
    p.add_argument("--at", metavar="ISO_DATETIME", help="with --virtual-clock: when the simulated session starts")
    p.add_argument("--resume", action="store_true", help="continue the last interrupted session (of --user)")
    p.add_argument("--text", action="store_true", help="print cues only; do not speak")
    p.add_argument("--keyboard", action="store_true", help="read typed commands (pause, resume, next, stop, ...)")
    p.add_argument("--virtual-clock", action="store_true",
                   help="simulate time: finishes at once (a preview of the whole session)")
    p.add_argument("--script", metavar="FILE", help="utterances as 'SECONDS TEXT' lines, fed as if heard")
    p.add_argument("--json", action="store_true", help="one JSON object per line for every event")
    p.add_argument("--no-voice", action="store_true", help="do not listen on the microphone")
    p.add_argument("--engine", choices=ENGINES,
                   help="speech recogniser (default: vosk if a model is installed, else pocketsphinx)")
    p.add_argument("--model", metavar="PATH", help="a Vosk model folder")
    p.add_argument("--no-log", action="store_true",
                   help="do not write a session log file (virtual-clock previews are never logged)")
    p.set_defaults(func=run)


def _is_text(value: str) -> bool:
    """False for bytes that are not UTF-8: they reach argv as lone surrogates, which the database refuses."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def options(args: argparse.Namespace) -> RunOptions | int:
    """The typed options, or an exit code after saying what is wrong with the arguments.

    Every argument is checked here, before the library is loaded or the store opened,
    so a refused value leaves nothing behind (no session row for --resume to pick up).
    """
    if not args.id and not args.resume:
        print("Name a routine to run (see companion list), or use --resume.", file=sys.stderr)
        return EXIT_USAGE
    if args.user is not None and not args.user.strip():
        print("--user needs a name (see companion profile list)", file=sys.stderr)
        return EXIT_USAGE
    if args.user is not None and not _is_text(args.user):
        print(f"--user must be a name in UTF-8 text, not {ascii(args.user)}", file=sys.stderr)
        return EXIT_USAGE
    at = None
    if args.at is not None:
        if not args.virtual_clock:
            print("--at only works with --virtual-clock (it sets a simulated start time)", file=sys.stderr)
            return EXIT_USAGE
        try:
            at = parse_moment(args.at)
        except MomentError as exc:
            print(exc, file=sys.stderr)
            return EXIT_USAGE
    if args.virtual_clock and args.keyboard:
        print("--keyboard needs the real clock: a virtual-clock session finishes at once. "
              "Use --script FILE to give commands to a virtual-clock session.", file=sys.stderr)
        return EXIT_USAGE
    script = None
    if args.script:
        try:
            script = parse_script(Path(args.script))
        except ScriptError as exc:
            print(exc, file=sys.stderr)
            return EXIT_USAGE
    return RunOptions(args.id, user=args.user, db=args.db, at=at, resume=args.resume, text=args.text,
                      keyboard=args.keyboard, virtual_clock=args.virtual_clock, script=script, json=args.json,
                      no_voice=args.no_voice, engine=args.engine, model=Path(args.model) if args.model else None,
                      no_log=args.no_log)


def run(args: argparse.Namespace) -> int:
    opts = options(args)
    if isinstance(opts, int):
        return opts
    lib = usable_library(args)
    if lib is None:
        return EXIT_PROBLEM
    entry = None
    if opts.entry_id:
        entry = find_entry(lib, opts.entry_id)
        if entry is None:
            return EXIT_PROBLEM
    try:
        entry, setup = prepare(lib, entry, user=opts.user, db=opts.db, at=opts.at, virtual=opts.virtual_clock,
                               resume=opts.resume, keep_history=not opts.no_log)
    except SetupError as exc:
        print(exc, file=sys.stderr)
        return EXIT_PROBLEM
    # The sound libraries' own lines ("underrun occurred") go to a log, not over the cues.
    with nullcontext() if opts.virtual_clock else native_stderr_logged():
        live_io = None
        if not opts.virtual_clock:
            live_io = LiveIO(load_vocabulary(), speech=not opts.text, voice=not (opts.no_voice or opts.script),
                             keyboard=opts.keyboard, engine=opts.engine, model=opts.model)
        try:
            result = run_session(lib, entry, SessionOptions(json=opts.json, no_log=opts.no_log), live_io,
                                 opts.script, setup)
        finally:
            if live_io:
                live_io.close()
            if setup.store is not None:
                setup.store.close()
    if not opts.json:
        print(f"Session {result.reason} after {clock_text(result.seconds)} (minutes:seconds).")
        if result.log_path:
            print(f"Log: {result.log_path}")
    return EXIT_INTERRUPTED if result.reason == "interrupted" else EXIT_OK
