"""One session on this machine's devices (or on the virtual clock): plan, engine, runner, outputs.

The CLI, the home menu and (later) the caregiver's page all start sessions
through :func:`run_session`, with a :class:`SessionOptions` the caller built from
its own input; nothing here parses arguments.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from companion.app.devices import LiveIO, SharedOutput
from companion.app.inputs import ScriptFeeder
from companion.app.outputs import JsonPrinter, Output, SessionLog, TextPrinter
from companion.app.runner import Runner
from companion.care.screening import load_screening
from companion.care.session_setup import Setup
from companion.care.store import StoreOutput
from companion.content.datadir import sessions_dir
from companion.content.library import Entry, Library
from companion.content.phrases import load_phrases
from companion.engine.clock import VirtualClock
from companion.engine.plan import PlanBuilder
from companion.engine.session import Session
from companion.language.heard import Heard
from companion.language.understanding import Understanding
from companion.language.vocabulary import load_vocabulary


@dataclass(frozen=True)
class SessionOptions:
    """How a session is shown and kept: JSON lines or text, and whether a log file is written."""

    json: bool = False
    no_log: bool = False


@dataclass(frozen=True)
class SessionResult:
    reason: str  # "completed", "stopped", "red-flag", "pain", "interrupted", ...
    seconds: float
    log_path: Path | None


def run_session(lib: Library, entry: Entry, options: SessionOptions, live_io: LiveIO | None,
                script: list[Heard] | None = None, setup: Setup | None = None) -> SessionResult:
    """One session on the given devices (None: the virtual clock, no devices)."""
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
    if options.json:
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
    if not options.no_log and live_io is not None:
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
                    inbox=live_io.inbox if live_io else None, understanding=understanding, voice=live_io)
    runner.first_step = setup.first_step
    for notice in notices:
        runner.notice(notice)
    feeder = None
    if live_io:
        runner.on_context = live_io.listen_in
        live_io.listen_in("commands")
        if not options.json:
            if live_io.listener:
                print("Listening: say pause, next, repeat, how many are left, or stop.")
            if live_io.keyboard:
                print("Type a command and press Enter (for example: pause, resume, next, stop, help).")
        if script:
            feeder = ScriptFeeder(script, clock, runner.inbox)
        live_io.start()
    if feeder:
        feeder.start()
    reason = runner.run()
    if feeder:
        feeder.stop()
    return SessionResult(reason, clock.now(), log_path)
