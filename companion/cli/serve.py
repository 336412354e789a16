"""``companion serve [--port N] [--lan]``: the caregiver's page, in a browser on this computer or a phone.

The page starts sessions on this computer's speaker and microphone, follows them
live, and shows people, what is due today, the history and the report. It listens
on 127.0.0.1 unless ``--lan`` is given; then phones and tablets on the home network
need the pairing code it prints (and says aloud).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from companion.cli.exit_codes import EXIT_INTERRUPTED, EXIT_PROBLEM, EXIT_USAGE
from companion.cli.routine_files import usable_library
from companion.speech.asr.registry import ENGINES

MAX_SPEED = 1000.0


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("serve", help="the caregiver's page: run and follow sessions from a browser or phone",
                       description="Serve the caregiver's page: people and their settings, what is due today, "
                                   "a session on this computer followed live with buttons, the history and the "
                                   "report. Only this computer can open it unless --lan is given.")
    p.add_argument("--port", type=int, default=None, metavar="N", help="the port to listen on (default 8765)")
    p.add_argument("--lan", action="store_true",
                   help="also open it to phones and tablets on the home network, behind a pairing code")
    p.add_argument("--db", metavar="PATH", help="history database (default: in your data folder)")
    p.add_argument("--text", action="store_true", help="sessions print only; do not speak")
    p.add_argument("--no-voice", action="store_true", help="sessions do not listen on the microphone")
    p.add_argument("--engine", choices=ENGINES, help="speech recogniser for sessions")
    p.add_argument("--model", metavar="PATH", help="a Vosk model folder")
    p.add_argument("--no-log", action="store_true", help="do not keep session logs or history")
    p.add_argument("--test-clock", type=float, default=None, metavar="SPEED",
                   help="for tests and demonstrations only: time in sessions runs SPEED times faster, in text "
                        "only (never for exercising)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from companion.web.server import DEFAULT_PORT, ServeError, ServeOptions, serve

    port = DEFAULT_PORT if args.port is None else args.port
    if not 1 <= port <= 65535:
        print(f"--port must be between 1 and 65535, not {port}", file=sys.stderr)
        return EXIT_USAGE
    speed = 1.0 if args.test_clock is None else args.test_clock
    if not 1.0 <= speed <= MAX_SPEED:
        print(f"--test-clock must be between 1 and {MAX_SPEED:g}", file=sys.stderr)
        return EXIT_USAGE
    lib = usable_library(args)
    if lib is None:
        return EXIT_PROBLEM

    from companion.app.native_noise import native_stderr_logged
    from companion.web.app import WebOptions
    from companion.web.live import LiveOptions

    db = Path(args.db) if args.db else None
    live = LiveOptions(db=db, no_log=args.no_log, speech=not args.text, voice=not args.no_voice,
                       engine=args.engine, model=Path(args.model) if args.model else None, speed=speed)
    try:
        # The sound libraries' own lines ("underrun occurred") go to a log, not over the page's messages.
        with native_stderr_logged():
            serve(WebOptions(lib, db=db, live=live, lan=args.lan), ServeOptions(port=port, lan=args.lan))
    except ServeError as exc:
        print(exc, file=sys.stderr)
        return EXIT_PROBLEM
    # The server only ever stops on Ctrl-C (or SIGTERM): uvicorn usually re-raises it once it has shut
    # down, but a signal that lands while it is shutting down is swallowed; the exit code is the same.
    return EXIT_INTERRUPTED
