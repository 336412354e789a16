"""``companion ask [--json] [--text] [--audio FILE.wav] ["QUESTION"]``: answer one back-care question.

The answer is printed and, unless ``--text``, spoken (when speech cannot work
here it says once why, and carries on in text, as sessions do); with no
question it listens for one (:mod:`companion.app.ask`). ``--json`` prints exactly ``{"answer", "known", "urgent", "topic",
"score", "sources"}`` on one line, so scripts and tests can rely on it; with ``--audio`` the
question is decoded from a recording and the JSON adds ``transcript`` and ``decode_ms`` (and
``answered_as`` when another reading of the recording, nearly as likely, was the one answered).

With ``--user NAME`` a red flag found in the question is kept for that person
(:meth:`companion.care.store.Store.raise_flag`): their sessions and ``companion
today`` offer no exercise until they have seen a doctor about it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from datetime import datetime
from pathlib import Path

from companion.app import ask as spoken
from companion.care.store import Store
from companion.cli.exit_codes import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE
from companion.cli.store_option import add_db, unknown_person, with_store
from companion.knowledge.retrieval import Answer, TreatmentReminder, default_answerer



def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> argparse.ArgumentParser:
    p = sub.add_parser("ask", help="answer a question about back and neck care (red flags are checked first)")
    p.add_argument("question", nargs="*", metavar="QUESTION",
                   help='the question, e.g. "how should I pick up a heavy box" (quotes optional)')
    p.add_argument("--json", action="store_true",
                   help='print {"answer", "known", "urgent", "topic", "score", "sources"} as JSON')
    p.add_argument("--text", action="store_true", help="print only; do not speak")
    p.add_argument("--audio", metavar="FILE.wav",
                   help="answer the question spoken in this recording (--json then adds transcript and decode_ms)")
    p.add_argument("--user", metavar="NAME",
                   help="who is asking: a red flag in the question is kept for them until they have seen a doctor")
    add_db(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    question = " ".join(args.question).strip()
    try:
        answerer = default_answerer()
    except RuntimeError as exc:  # broken knowledge files: say so, like `run` does for routines
        print(f"{exc}", file=sys.stderr)
        return EXIT_PROBLEM
    heard: dict[str, object] = {}
    if args.audio and question:
        print("Give either a typed question or --audio FILE, not both.", file=sys.stderr)
        return EXIT_USAGE
    readings: tuple[str, ...] = ()  # a spoken question's readings, the transcript first
    if args.audio:
        try:
            spoken_question = spoken.transcribe_file(Path(args.audio))
        except spoken.HeardNothing as exc:
            print(exc, file=sys.stderr)
            return EXIT_PROBLEM
        question, readings = spoken_question.text, spoken_question.readings
        heard = {"transcript": question, "decode_ms": round(spoken_question.decode_ms, 1)}
        if not question:
            if args.json:
                print(json.dumps({"answer": "", "known": False, "urgent": False, "topic": None, "score": 0.0,
                                  "sources": [], **heard}))
            print(f"No question was heard in {args.audio}.", file=sys.stderr)
            return EXIT_PROBLEM
        if not args.json:
            print(f"Heard: {question}", file=sys.stderr)
    elif not question:
        spoken_question = spoken.listen_for_question()
        question, readings = spoken_question.text, spoken_question.readings
    if not question:
        print(answerer.replies.listening_needs_voice, file=sys.stderr)
        return EXIT_USAGE
    reading, answer = answerer.ask_heard(readings or (question,))
    if reading != question:  # another reading of what was said, nearly as likely, is the one answered
        if args.audio:
            heard["answered_as"] = reading
        if not args.json:
            print(f"Taken as: {reading}", file=sys.stderr)
    # One `ask` is one conversation: a treatment answer carries the reminder.
    said = TreatmentReminder(answerer.replies.treatment_reminder).text(answer)
    if args.json:
        record = answer.to_json()
        record["answer"] = said
        print(json.dumps({**record, **heard}))
    else:
        print(said)
        if answer.known and answer.sources and not answer.urgent:
            lines = ", ".join(dict.fromkeys(s["lines"] for s in answer.sources))
            print(f"(Source: back-pain-articles.txt, lines {lines}.)")
    if not args.text:
        spoken.speak(said)
    if args.user is not None:
        return _keep_flag(args, answer)
    return EXIT_OK


def _keep_flag(args: argparse.Namespace, answer: Answer) -> int:
    """The person must exist; a red flag in their question stays open for them (said on stderr, after the answer)."""
    def action(store: Store) -> int:
        profile = store.get_profile(args.user)
        if profile is None:
            return unknown_person(store, args.user)
        if answer.red_flag is not None:
            store.raise_flag(profile.name, answer.red_flag.id, datetime.now().astimezone(), None, "ask")
            print(f"Kept for {profile.name}: no exercise until a doctor has seen them about this "
                  f"(see: companion profile flags {shlex.quote(profile.name)}).", file=sys.stderr)
        return EXIT_OK

    return with_store(args, action)
