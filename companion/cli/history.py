"""``companion history``: a person's sessions, when, what, how long, and how each ended."""

from __future__ import annotations

import argparse
import json
from typing import Any

from companion.app.outputs import clock_text
from companion.care.store import SessionRow, Store
from companion.cli.exit_codes import EXIT_OK
from companion.cli.store_option import add_db, unknown_person, with_store

Sub = "argparse._SubParsersAction[argparse.ArgumentParser]"

ENDINGS = {
    "completed": "completed",
    "stopped": "stopped early",
    "interrupted": "interrupted (Ctrl-C)",
    "red-flag": "ended: red flag, see a doctor",
    None: "did not finish (the program was closed or killed)",
}


def register(sub: Sub) -> argparse.ArgumentParser:
    """Register ``history`` on the main parser's sub-commands."""
    p = sub.add_parser("history", help="list a person's sessions: when, what, how long, how each ended")
    p.add_argument("--user", metavar="NAME", help="whose sessions (default: every session recorded)")
    p.add_argument("--json", action="store_true", help="print the sessions with all their events as JSON")
    p.add_argument("--events", action="store_true", help="also print every event of each session")
    add_db(p)
    p.set_defaults(func=cmd_history)
    return p


def ending(session: SessionRow) -> str:
    """How the session ended, in words; and, if some of its events could not be saved, how many."""
    if session.reason is None and session.ended_at is None:
        return ENDINGS[None]
    said = ENDINGS.get(session.reason, session.reason or "ended")
    if session.unsaved:
        said += f", but {session.unsaved} event{'s' if session.unsaved != 1 else ''} could not be saved"
    return said


def shown(text: str) -> str:
    """Stored text as it can be printed: control characters (a heard escape sequence, a newline) escaped.

    Whatever was heard or typed is printed as text, never acted on by the terminal.
    """
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text)


def _event_line(event: dict[str, Any]) -> str:
    who = "you" if event["who"] == "user" else event["who"]
    text = event.get("text") or ""
    return shown(f"      [{clock_text(event['t'])}] {who:<9} {event['kind']:<16} {text}".rstrip())


def cmd_history(args: argparse.Namespace) -> int:
    def action(store: Store) -> int:
        user = args.user
        if user is not None:
            match = next((name for name in store.users() if name.lower() == user.lower()), None)
            if match is None:
                return unknown_person(store, user, history=True)
            user = match
        sessions = store.sessions(user=user)
        if args.json:
            rows = []
            for session in sessions:
                row = session.as_dict()
                row["ending"] = ending(session)
                row["events"] = store.events(session.id)
                rows.append(row)
            print(json.dumps({"user": user, "database": str(store.path), "sessions": rows}, indent=2,
                             ensure_ascii=False))
            return EXIT_OK
        whose = f"{user}" if user else "everyone"
        if not sessions:
            print(shown(f"No sessions recorded for {whose} yet."))
            return EXIT_OK
        print(shown(f"Sessions for {whose} ({len(sessions)}):"))
        routine_width = max(len(s.entry_id) for s in sessions)
        for session in sessions:
            who = "" if user else f"{session.user or '-'}  "
            preview = "  (virtual clock)" if session.virtual else ""
            print(shown(f"  {session.started_at:%Y-%m-%d %H:%M}  {who}{session.entry_id:<{routine_width}}  "
                        f"{clock_text(session.duration):>6}  {ending(session)}{preview}"))
            if args.events:
                for event in store.events(session.id):
                    print(_event_line(event))
        return EXIT_OK

    return with_store(args, action)
