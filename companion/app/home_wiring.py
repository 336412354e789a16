"""The home menu wired to this machine: its devices, the person's history, and the sessions it starts.

For a known person the menu follows their red flags and the day's acute answer:
while a flag is open nothing is due (the flag and its advice are said instead of
"nothing is due"; each session asks first whether they have seen a doctor), a
red flag in a question asked at the menu is kept for them, and on an acute day
only what suits the acute stage is due.
"""

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
from companion.care.progression import due_now, find_setbacks
from companion.care.session_setup import SetupError, day_state, for_today, prepare
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

    phrases = load_phrases()
    held: list[str] = []  # what due() found on hold (open red flags), said instead of "nothing is due"

    def menu_say(text: str) -> None:
        if text == phrases.home_nothing_due and held:
            for line in held:
                say(line)
            held.clear()
            return
        say(text)

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
        held.clear()
        try:
            with open_store(options.db) as store:
                state = day_state(store, options.user, now)
                if state.open_flags:
                    held.extend(state.hold())
                    return []
                profile = for_today(store.get_profile(options.user), state.acute_today)
                history = store.practice(options.user)
                items = due_now(history, now, lib, profile, setbacks=find_setbacks(history, store.events))
        except StoreError as exc:
            print(exc, file=sys.stderr)
            return due_today(lib, done_today())
        return [(lib.get(d.routine_id).title, d.done_today, int(d.wanted_low)) for d in items if d.is_due(now)]

    def keep_flag(flag_id: str) -> None:
        """A red flag heard in a question at the menu: kept for the person, as ``companion ask --user`` does."""
        try:
            with open_store(options.db) as store:
                store.raise_flag(options.name or options.user, flag_id, datetime.now().astimezone(), None, "ask")
        except StoreError as exc:
            print(exc, file=sys.stderr)

    common = dict(name=options.name, due=due, speaking=live_io.speaking, hush=live_io.hush,
                  echo_cancelled=live_io.echo_cancelled)
    home = Home(lib, live_io.vocabulary, phrases, live_io.inbox, menu_say, run, live_io.listen_for,
                on_red_flag=keep_flag if options.user else (lambda flag_id: None), **common)
    live_io.start()
    try:
        home.loop()
    except KeyboardInterrupt:
        say(phrases.home_goodbye)
    finally:
        live_io.close()

