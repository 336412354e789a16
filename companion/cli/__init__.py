"""Command-line entry point: parses arguments and wires adapters together; no logic of its own."""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import Sequence

from companion import __version__
from companion.engine.clock import VirtualClock
from companion.content.library import Entry, Library, load_library
from companion.content.phrases import load_phrases
from companion.content.schema import Routine
from companion.engine.plan import Plan, PlanBuilder
from companion.engine.session import Session
from companion.content.datadir import sessions_dir
from companion.care.session_setup import Setup, SetupError, prepare
from companion.app.devices import LiveIO, SharedOutput
from companion.app.inputs import ScriptError, ScriptFeeder, parse_script
from companion.app.outputs import JsonPrinter, Output, SessionLog, TextPrinter, clock_text
from companion.app.runner import Runner
from companion.language.understanding import Understanding
from companion.language.vocabulary import load_vocabulary

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


def _library(args: argparse.Namespace) -> Library:
    return load_library([Path(p) for p in args.routines] if args.routines else None)


def _usable_library(args: argparse.Namespace) -> Library | None:
    lib = _library(args)
    if lib.problems:
        print(f"The routine files have {len(lib.problems)} problem(s); fix them first:", file=sys.stderr)
        for problem in lib.problems:
            print(f"  {problem}", file=sys.stderr)
        return None
    return lib


def _find(lib: Library, entry_id: str) -> Entry | None:
    entry = lib.get(entry_id)
    if entry is None:
        close = difflib.get_close_matches(entry_id, lib.ids(), n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        print(f"There is no routine or programme called '{entry_id}'.{hint} See: companion list", file=sys.stderr)
    return entry


def _plan(lib: Library, entry: Entry) -> Plan:
    return PlanBuilder(lib.routines, load_phrases()).for_entry(entry)


def _duration(lib: Library, entry: Entry) -> float:
    return sum(step.estimate(1.0) for step in _plan(lib, entry).steps)


# -- check ---------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    paths = [Path(p) for p in args.paths] if args.paths else None
    lib = load_library(paths if paths else ([Path(p) for p in args.routines] if args.routines else None))
    from companion.knowledge.base import check_knowledge

    problems = list(lib.problems)
    if not args.paths:
        problems += check_knowledge()  # the knowledge base and red flags are content too
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) found.", file=sys.stderr)
        return EXIT_PROBLEM
    checked = "" if args.paths else ", the knowledge base and the red-flag list"
    print(f"OK: {len(lib.routines)} routines and {len(lib.programmes)} programmes{checked}, no problems.")
    return EXIT_OK


# -- list and show -------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    lib = _usable_library(args)
    if lib is None:
        return EXIT_PROBLEM
    rows = []
    for entry in sorted(lib.entries(), key=lambda e: (e.kind, e.id)):
        rows.append({"id": entry.id, "kind": entry.kind, "title": entry.title,
                     "duration_seconds": round(_duration(lib, entry)), "purpose": entry.purpose})
    if args.json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    width = max(len(r["id"]) for r in rows)
    for kind in ("routine", "programme"):
        print(f"{kind.capitalize()}s:")
        for row in (r for r in rows if r["kind"] == kind):
            print(f"  {row['id']:<{width}}  {clock_text(row['duration_seconds']):>6}  {row['title']}")
    print("\nStart one with: companion run ID   (details: companion show ID)")
    return EXIT_OK


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


def cmd_show(args: argparse.Namespace) -> int:
    lib = _usable_library(args)
    entry = _find(lib, args.id) if lib else None
    if entry is None:
        return EXIT_PROBLEM
    plan = _plan(lib, entry)
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


# -- run -----------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    lib = _usable_library(args)
    if lib is None:
        return EXIT_PROBLEM
    entry = None
    if args.id:
        entry = _find(lib, args.id)
        if entry is None:
            return EXIT_PROBLEM
    try:
        entry, setup = prepare(lib, entry, user=args.user, db=args.db, at=args.at, virtual=args.virtual_clock,
                               resume=args.resume, keep_history=not args.no_log)
    except SetupError as exc:
        print(exc, file=sys.stderr)
        return EXIT_PROBLEM
    if args.virtual_clock and args.keyboard:
        print("--keyboard needs the real clock: a virtual-clock session finishes at once. "
              "Use --script FILE to give commands to a virtual-clock session.", file=sys.stderr)
        return EXIT_USAGE
    script = []
    if args.script:
        try:
            script = parse_script(Path(args.script))
        except ScriptError as exc:
            print(exc, file=sys.stderr)
            return EXIT_USAGE

    vocabulary = load_vocabulary()
    live_io = None
    if not args.virtual_clock:
        live_io = LiveIO(vocabulary, speech=not args.text, voice=not (args.no_voice or args.script),
                         keyboard=args.keyboard, engine=args.engine, model=Path(args.model) if args.model else None)
    try:
        reason, seconds, log_path = run_session(lib, entry, args, live_io, script, setup)
    finally:
        if live_io:
            live_io.close()
        if setup.store is not None:
            setup.store.close()
    if not args.json:
        print(f"Session {reason} after {clock_text(seconds)} (minutes:seconds).")
        if log_path:
            print(f"Log: {log_path}")
    return 130 if reason == "interrupted" else EXIT_OK


def run_session(lib: Library, entry: Entry, args: argparse.Namespace, live_io: LiveIO | None,
                script: list | None = None, setup: Setup | None = None) -> tuple[str, float, Path | None]:
    """One session on the given devices (None: virtual clock, no devices). Returns (reason, seconds, log)."""
    from companion.care.screening import load_screening
    from companion.care.store import StoreOutput

    setup = setup or Setup()
    phrases = load_phrases()
    plan = PlanBuilder(lib.routines, phrases, care=setup.care).for_entry(entry)
    pace = setup.profile.pace if setup.profile else 1.0
    session = Session(plan, phrases, {r.id: r.title for r in lib.routines.values()}, pace=pace,
                      pain_texts=load_screening().pain.model_dump())
    if live_io is None:
        clock = VirtualClock()
    else:
        clock = live_io.clock
        clock.restart()

    outputs: list[Output] = []
    live = None
    if args.json:
        outputs.append(JsonPrinter())
    else:
        live = TextPrinter(live=None if live_io else False)
        outputs.append(live)
    notices = live_io.take_notices() if live_io else []
    if live_io and live_io.speaker:
        outputs.append(SharedOutput(live_io.speaker))
        if setup.profile:
            live_io.apply_profile(setup.profile)
    if setup.store is not None:
        outputs.append(StoreOutput.begin(setup.store, setup.user, entry.id, setup.started_at,
                                         virtual=live_io is None))
    log_path = None
    if not args.no_log and live_io is not None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        log_path = sessions_dir() / f"{stamp}-{entry.id}-{os.getpid()}.jsonl"
        try:
            outputs.append(SessionLog(log_path))
        except OSError as exc:
            notices.append(f"Cannot write the session log at {log_path} ({exc}); this session is not logged.")
            log_path = None

    vocabulary = live_io.vocabulary if live_io else load_vocabulary()
    understanding = Understanding(vocabulary, echo_cancelled=live_io.echo_cancelled) if live_io else None
    runner = Runner(session, clock, vocabulary, outputs,
                    script=script if live_io is None else None, live=live if live and live.live else None,
                    inbox=live_io.inbox if live_io else None, understanding=understanding,
                    voice=live_io)
    runner.first_step = setup.first_step
    for notice in notices:
        runner.notice(notice)
    feeders = []
    if live_io:
        runner.on_context = live_io.listen_in
        live_io.listen_in("commands")
        if not args.json:
            if live_io.listener:
                print("Listening: say pause, next, repeat, how many are left, or stop.")
            if live_io.keyboard:
                print("Type a command and press Enter (for example: pause, resume, next, stop, help).")
        if script:
            feeders.append(ScriptFeeder(script, clock, runner.inbox))
        live_io.start()
    for feeder in feeders:
        feeder.start()
    reason = runner.run()
    for feeder in feeders:
        feeder.stop()
    return reason, clock.now(), log_path


# -- home ----------------------------------------------------------------------


def cmd_home(args: argparse.Namespace) -> int:
    """The spoken home menu: greet, say what is due, start sessions by name until goodbye."""
    from companion.app.home import Home
    from companion.app.records import note_record

    lib = _usable_library(args)
    if lib is None:
        return EXIT_PROBLEM
    vocabulary = load_vocabulary()
    live_io = LiveIO(vocabulary, speech=not args.text, voice=not args.no_voice, keyboard=args.keyboard,
                     engine=args.engine, model=Path(args.model) if args.model else None)
    printer = TextPrinter(live=False)
    outputs: list[Output] = [printer] + ([SharedOutput(live_io.speaker)] if live_io.speaker else [])
    for notice in live_io.take_notices():
        printer.write(note_record(0.0, "notice", notice))
    if live_io.listener is None and live_io.keyboard is None:
        live_io.close()
        print("The home menu cannot hear you: there is no microphone, and this is not a terminal to type in. "
              "Connect a microphone, run it in a terminal, or start a routine with: companion run ID",
              file=sys.stderr)
        return EXIT_PROBLEM

    def say(text: str) -> None:
        for output in outputs:
            output.write({"t": 0.0, "who": "companion", "kind": "say", "text": text, "say": "system"})

    session_args = argparse.Namespace(json=False, no_log=args.no_log, text=args.text)
    name = ""
    if args.user:
        from companion.care.store import StoreError, open_store

        try:
            with open_store(Path(args.db) if args.db else None) as store:
                profile = store.get_profile(args.user)
        except StoreError as exc:
            print(exc, file=sys.stderr)
            return EXIT_PROBLEM
        if profile is None:
            print(f"There is no profile called '{args.user}'. Create one with: companion profile add {args.user}",
                  file=sys.stderr)
            return EXIT_PROBLEM
        name = profile.name

    def run(entry_id: str) -> None:
        try:
            entry, setup = prepare(lib, lib.get(entry_id), user=args.user, db=args.db, keep_history=not args.no_log)
        except SetupError as exc:
            say(exc.spoken)  # refused (not yet allowed, not for the acute stage...): say why
            return
        try:
            reason, seconds, _ = run_session(lib, entry, session_args, live_io, None, setup)
        finally:
            if setup.store is not None:
                setup.store.close()
        print(f"Session {reason} after {clock_text(seconds)} (minutes:seconds).")

    def due() -> list[tuple[str, int, int]]:
        """What is due now: from the person's history when known, else from today's session logs."""
        from companion.app.home import done_today, due_today

        if not args.user:
            return due_today(lib, done_today())
        from companion.care.progression import due_now
        from companion.care.store import open_store

        now = datetime.now().astimezone()
        with open_store(Path(args.db) if args.db else None) as store:
            items = due_now(store.practice(args.user), now, lib, store.get_profile(args.user))
        return [(lib.get(d.routine_id).title, d.done_today, int(d.wanted_low)) for d in items if d.is_due(now)]

    home = Home(lib, vocabulary, load_phrases(), live_io.inbox, say, run, live_io.listen_for, name=name, due=due,
                speaking=live_io.speaking, hush=live_io.hush, echo_cancelled=live_io.echo_cancelled)
    live_io.start()
    try:
        home.loop()
    except KeyboardInterrupt:
        say(load_phrases().home_goodbye)
    finally:
        live_io.close()
    return EXIT_OK


# -- wiring --------------------------------------------------------------------


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

    p = sub.add_parser("list", help="list routines and programmes")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="show the steps, timings and warnings of a routine")
    p.add_argument("id")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("check", help="validate routine files (exit 1 and file:line messages on problems)")
    p.add_argument("paths", nargs="*", metavar="PATH", help="files or folders (default: the routines folder)")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("home", help="the spoken home menu (also what 'companion' alone does)")
    p.add_argument("--text", action="store_true", help="print only; do not speak")
    p.add_argument("--keyboard", action="store_true", help="also read typed choices")
    p.add_argument("--no-voice", action="store_true", help="do not listen on the microphone")
    p.add_argument("--engine", choices=("vosk", "pocketsphinx"))
    p.add_argument("--model", metavar="PATH")
    p.add_argument("--no-log", action="store_true")
    p.add_argument("--user", metavar="NAME", help="the person exercising (greeted by name; their history decides what is due)")
    p.add_argument("--db", metavar="PATH", help="history database (default: in your data folder)")
    p.set_defaults(func=cmd_home)

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
    p.add_argument("--engine", choices=("vosk", "pocketsphinx"),
                   help="speech recogniser (default: vosk if a model is installed, else pocketsphinx)")
    p.add_argument("--model", metavar="PATH", help="a Vosk model folder")
    p.add_argument("--no-log", action="store_true",
                   help="do not write a session log file (virtual-clock previews are never logged)")
    p.set_defaults(func=cmd_run)

    from companion.app.doctor import add_doctor_parser
    from companion.cli.listen import add_listen_parser
    from companion.speech.models import add_models_parser

    from companion.cli.ask import add_ask_parser

    add_ask_parser(sub)
    from companion.cli.profile import add_history_parser, add_profile_parser

    from companion.care.progression import add_today_parser

    add_profile_parser(sub)
    add_history_parser(sub)
    add_today_parser(sub)
    from companion.cli.report import add_report_parser

    add_report_parser(sub)
    add_listen_parser(sub)
    add_models_parser(sub)
    add_doctor_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # No command: the hands-free way in.
        args = parser.parse_args([*(argv or sys.argv[1:]), "home"])
    try:
        return args.func(args)
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
