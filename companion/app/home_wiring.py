"""The home menu wired to this machine: its devices, the person's history, and the sessions it starts."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from companion.app.devices import LiveIO, SharedOutput
from companion.app.home import Home, done_today, due_today
from companion.app.outputs import Output, TextPrinter, clock_text
from companion.app.records import note_record
from companion.app.session import SessionOptions, run_session
from companion.care.progression import due_now
from companion.care.session_setup import SetupError, prepare
from companion.care.store import StoreError, open_store
from companion.content.library import Library
from companion.content.phrases import load_phrases
from companion.language.vocabulary import load_vocabulary


@dataclass(frozen=True)
class HomeOptions:
    text: bool = False  # print only, do not speak
    keyboard: bool = False
    voice: bool = True  # listen on the microphone
    engine: str | None = None
    model: Path | None = None
    no_log: bool = False
    user: str | None = None
    name: str = ""  # how to greet the person (their profile name)
    db: Path | None = None


class CannotHear(Exception):
    """Neither a microphone nor a terminal to type in: the menu would wait forever."""


def run_home(lib: Library, options: HomeOptions) -> None:
    """Greet, say what is due, and start sessions by name until goodbye (or Ctrl-C)."""
    live_io = LiveIO(load_vocabulary(), speech=not options.text, voice=options.voice,
                     keyboard=options.keyboard, engine=options.engine, model=options.model)
    printer = TextPrinter(live=False)
    outputs: list[Output] = [printer] + ([SharedOutput(live_io.speaker)] if live_io.speaker else [])
    for notice in live_io.take_notices():
        printer.write(note_record(0.0, "notice", notice))
    if live_io.listener is None and live_io.keyboard is None:
        live_io.close()
        raise CannotHear("The home menu cannot hear you: there is no microphone, and this is not a terminal to "
                         "type in. Connect a microphone, run it in a terminal, or start a routine with: "
                         "companion run ID")

    def say(text: str) -> None:
        for output in outputs:
            output.write({"t": 0.0, "who": "companion", "kind": "say", "text": text, "say": "system"})

    session_options = SessionOptions(json=False, no_log=options.no_log)
    db = str(options.db) if options.db else None

    def run(entry_id: str) -> None:
        try:
            entry, setup = prepare(lib, lib.get(entry_id), user=options.user, db=db, keep_history=not options.no_log)
        except SetupError as exc:
            say(exc.spoken)  # refused (not yet allowed, not for the acute stage...): say why
            return
        try:
            result = run_session(lib, entry, session_options, live_io, None, setup)
        finally:
            if setup.store is not None:
                setup.store.close()
        print(f"Session {result.reason} after {clock_text(result.seconds)} (minutes:seconds).")

    def due() -> list[tuple[str, int, int]]:
        """What is due now: from the person's history when known, else (or if it cannot be read) today's logs."""
        if not options.user:
            return due_today(lib, done_today())
        now = datetime.now().astimezone()
        try:
            with open_store(options.db) as store:
                items = due_now(store.practice(options.user), now, lib, store.get_profile(options.user))
        except StoreError as exc:
            print(exc, file=sys.stderr)
            return due_today(lib, done_today())
        return [(lib.get(d.routine_id).title, d.done_today, int(d.wanted_low)) for d in items if d.is_due(now)]

    home = Home(lib, live_io.vocabulary, load_phrases(), live_io.inbox, say, run, live_io.listen_for,
                name=options.name, due=due, speaking=live_io.speaking, hush=live_io.hush,
                echo_cancelled=live_io.echo_cancelled)
    live_io.start()
    try:
        home.loop()
    except KeyboardInterrupt:
        say(load_phrases().home_goodbye)
    finally:
        live_io.close()

