"""``companion listen``: decode WAV files, or the microphone, and say what was understood.

``--state`` names the dialogue state to hear a recording in (the grammar, and
what the session would be waiting for), so that a file is judged exactly as a
live session would judge it (:mod:`companion.app.hearing`). ``--json`` gives one
object per file: ``file``, ``state``, ``transcript`` (and ``text``, the same),
``command``, ``decision`` ("act", "confirm" or "ignore"), ``reason``,
``confidence``, ``decode_ms``, ``engine`` and ``evidence`` (each model's view).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from companion.app import devices
from companion.app.hearing import STATES, Judge
from companion.language.vocabulary import load_vocabulary
from companion.speech.asr.registry import ENGINES, make_recognizer
from companion.speech.audio.microphone import MicrophoneUnavailable
from companion.speech.audio.segmenter import Segmenter
from companion.speech.audio.wav import load_wav_16k
from companion.speech.ports import Recognition, Recognizer, RecognizerUnavailable, decode


def describe(path: str, result: Recognition, judge: Judge, state: str) -> dict[str, Any]:
    """One result in the ``--json`` contract."""
    row = judge.judge(result, state)
    return {"file": path, "state": state, "text": result.text, **row}


def run(args: argparse.Namespace) -> int:
    vocabulary = load_vocabulary()
    judge = Judge(vocabulary)
    grammar = judge.grammar(args.state)
    try:
        recognizer = make_recognizer(grammar if grammar is not None else vocabulary.grammar(), args.engine,
                                     Path(args.model) if args.model else None, hints=vocabulary.hints())
    except RecognizerUnavailable as exc:
        print(f"Cannot listen: {exc}", file=sys.stderr)
        return 1
    if grammar is None:
        recognizer.set_phrases(None)
    recognizer.ready()  # a file is judged once: wait for every model rather than judge it with fewer
    if args.wav:
        return _files(args, recognizer, judge)
    return _microphone(args, recognizer, judge, grammar)


def _print(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(row), flush=True)
    else:
        heard = row["text"] or "(nothing it could be)"
        meaning = row["command"] or "rejected"
        if row["decision"] == "confirm":
            meaning += " (unsure: it would ask first)"
        print(f"{row['file']}: heard {heard!r} -> {meaning} "
              f"(confidence {row['confidence']:.2f}, {row['decode_ms']:.0f} ms)", flush=True)


def _files(args: argparse.Namespace, recognizer: Recognizer, judge: Judge) -> int:
    status = 0
    for name in args.wav:
        try:
            pcm = load_wav_16k(Path(name))
        except (OSError, ValueError, EOFError) as exc:
            print(f"{name}: cannot read this WAV file ({exc})", file=sys.stderr)
            status = 1
            continue
        _print(describe(name, decode(recognizer, pcm), judge, args.state), args.json)
    return status


def _microphone(args: argparse.Namespace, recognizer: Recognizer, judge: Judge, grammar: list[str] | None) -> int:
    try:
        mic = devices.open_microphone()
    except MicrophoneUnavailable as exc:
        print(f"Cannot listen: {exc}", file=sys.stderr)
        return 1
    segmenter = Segmenter(recognizer, judge.vocabulary.meaning)
    if grammar is None:
        segmenter.use_phrases(None)
    if not args.json:
        print("Listening. Say a command; press Ctrl-C to finish.", file=sys.stderr)
    try:
        for utterance in devices.utterances(mic, segmenter):
            result = utterance.recognition
            latency = (time.monotonic() - utterance.decoded_at) * 1000 + result.decode_ms
            row = describe("(microphone)", Recognition(result.text, result.confidence, result.engine,
                                                       round(latency, 1), result.details), judge, args.state)
            _print(row, args.json)
        if mic.lost:
            print(f"Stopped: {mic.lost}", file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        pass
    finally:
        mic.close()
    return 0


def register(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser("listen", help="decode WAV files or the microphone and print what was understood")
    p.add_argument("wav", nargs="*", metavar="WAV", help="16-bit WAV files (any rate; resampled to 16 kHz)")
    p.add_argument("--json", action="store_true", help="one JSON object per file")
    p.add_argument("--state", choices=list(STATES), default="all",
                   help="the dialogue state to hear it in, as a live session would (default: all: every command, "
                        "answer and number)")
    p.add_argument("--engine", choices=ENGINES, help="recogniser (default: the fused keyword model, PocketSphinx "
                                                     "and Whisper)")
    p.add_argument("--model", metavar="PATH", help="a Vosk model folder")
    p.set_defaults(func=run)
