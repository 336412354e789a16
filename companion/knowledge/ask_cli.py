"""``companion ask [--json] [--text] ["QUESTION"]``: answer one back-care question.

Wire it in with ``add_ask_parser(sub)`` next to the other sub-commands. The
answer is printed and, unless ``--text``, spoken through
:mod:`companion.speech.speaker` (when speech cannot work here it says once
why, and carries on in text, as sessions do). ``--json`` prints exactly ``{"answer", "known", "urgent", "topic",
"score", "sources"}`` on one line, so scripts and tests can rely on it.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


def add_ask_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> argparse.ArgumentParser:
    """Register ``ask`` on the main parser's sub-commands."""
    p = sub.add_parser("ask", help="answer a question about back and neck care (red flags are checked first)")
    p.add_argument("question", nargs="*", metavar="QUESTION",
                   help='the question, e.g. "how should I pick up a heavy box" (quotes optional)')
    p.add_argument("--json", action="store_true",
                   help='print {"answer", "known", "urgent", "topic", "score", "sources"} as JSON')
    p.add_argument("--text", action="store_true", help="print only; do not speak")
    p.set_defaults(func=cmd_ask)
    return p


def cmd_ask(args: argparse.Namespace) -> int:
    from companion.knowledge.retrieval import TreatmentReminder, default_answerer

    question = " ".join(args.question).strip()
    try:
        answerer = default_answerer()
    except RuntimeError as exc:  # broken knowledge files: say so, like `run` does for routines
        print(f"{exc}", file=sys.stderr)
        return EXIT_PROBLEM
    if not question:
        question = listen_for_question()
    if not question:
        print(answerer.replies.listening_needs_voice, file=sys.stderr)
        return EXIT_USAGE
    answer = answerer.ask(question)
    # One `ask` is one conversation: a treatment answer carries the reminder.
    said = TreatmentReminder(answerer.replies.treatment_reminder).text(answer)
    if args.json:
        record = answer.to_json()
        record["answer"] = said
        print(json.dumps(record))
    else:
        print(said)
        if answer.known and answer.sources and not answer.urgent:
            lines = ", ".join(dict.fromkeys(s["lines"] for s in answer.sources))
            print(f"(Source: back-pain-articles.txt, lines {lines}.)")
    if not args.text:
        _speak(said)
    return EXIT_OK


def listen_for_question(seconds: float = 15.0) -> str:
    """One spoken question from the microphone (free speech), or "" with the reason on stderr."""
    import time

    from companion.speech.engines import make_recognizer
    from companion.speech.listener import Microphone, MicrophoneUnavailable, Segmenter
    from companion.speech.recognizer import RecognizerUnavailable

    try:
        recognizer = make_recognizer(["question"])
        microphone = Microphone()
    except (RecognizerUnavailable, MicrophoneUnavailable) as exc:
        print(f"Cannot listen: {exc}", file=sys.stderr)
        return ""
    segmenter = Segmenter(recognizer)
    segmenter.use_phrases(None)  # free speech, with the longer hangover people need mid-sentence
    print("Listening: ask your question.", file=sys.stderr)
    until = time.monotonic() + seconds
    try:
        for frame in microphone.frames():
            utterance = segmenter.feed(frame)
            if utterance and utterance.recognition.text:
                print(f"Heard: {utterance.recognition.text}", file=sys.stderr)
                return utterance.recognition.text
            if time.monotonic() > until:
                print("I did not hear a question.", file=sys.stderr)
                return ""
    finally:
        microphone.close()
    return ""


def open_speaker() -> tuple[Any | None, str | None]:
    """The speaker, or None and why speech is off (the same wording as sessions use)."""
    from companion.speech.speaker import open_speaker as open_shared

    return open_shared()


def _speak(text: str) -> None:
    """Speak ``text`` and wait for it; if speech is unavailable, say why once (on stderr)."""
    speaker, problem = open_speaker()
    if speaker is None:
        print(problem, file=sys.stderr)
        return
    try:
        speaker.write({"kind": "say", "text": text})
    finally:
        speaker.close()  # lets the answer finish before the program exits
