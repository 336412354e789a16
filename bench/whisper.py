"""Whisper tiny.en on real speech: free transcription, closed-list scoring, time per clip, memory.

    python bench/whisper.py              # 20 clips per command word, all other words, all noise
    python bench/whisper.py --limit 5    # 5 per command word (quicker)
    python bench/whisper.py --json

Clips are the one-second Speech Commands recordings in ../shared/speech-real
(speakers no model here was trained on). The ten command words are the list
scored; every other word and the background noise must be rejected.

- *free*: the transcript (lower case, no punctuation) is exactly the word said;
  *other taken as a command*: a word or noise transcribed as one of the ten.
- *closed list*: the best of the ten is the word said and scores at least the
  rejection threshold (*right*); *false accept*: another word or noise scores
  at least the threshold. The sweep shows other thresholds (from ``--threshold``).
- *grammar*: the time to score the real "commands" grammar (every phrase the
  companion listens for during an exercise) on the command clips.
- *sentences*: ten sentences a person might say, synthesised with flite
  (voice slt, about 2-3 s each), word errors and time.

Times are the recogniser's own, from the whole utterance in hand to the result,
on however busy the machine is: run it on a quiet one.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from companion.language.vocabulary import load_vocabulary  # noqa: E402
from companion.speech.asr import whisper  # noqa: E402
from companion.speech.audio.wav import load_wav_16k  # noqa: E402
from companion.speech.ports import decode  # noqa: E402
from stats import percentiles  # noqa: E402 - bench/stats.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
SPEECH_REAL = ROOT.parent / "shared" / "speech-real"
COMMANDS = "stop yes no go up down left right on off".split()
NOISE = "_silence_"
SENTENCES = [
    "the pain is going down my leg", "my lower back feels stiff this morning", "i felt a sharp pain in my neck",
    "can we do the stretches more slowly", "the exercise made my shoulder hurt",
    "i think i pulled a muscle yesterday", "it hurts when i turn my head to the left",
    "my back is a bit better today", "i need to sit down for a minute", "how long should i hold this position",
]
SWEEP = (-1.0, -2.0, -3.0, -4.0, -5.0, -6.0, -7.0, -8.0)


def clips(limit: int) -> list[tuple[str, Path]]:
    """``limit`` clips per command word (spread over the speakers), every other word, all the noise."""
    by_label: dict[str, list[str]] = {}
    for row in csv.DictReader((SPEECH_REAL / "manifest.tsv").open(), delimiter="\t"):
        by_label.setdefault(row["label"], []).append(row["path"])
    chosen = []
    for label, paths in sorted(by_label.items()):
        paths = sorted(paths)
        if label in COMMANDS and limit < len(paths):
            paths = [paths[i * len(paths) // limit] for i in range(limit)]
        chosen += [(label, SPEECH_REAL / path) for path in paths]
    return chosen


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def words_wrong(expected: list[str], heard: list[str]) -> int:
    row = list(range(len(heard) + 1))
    for i, word in enumerate(expected, start=1):
        previous, row[0] = row[0], i
        for j, other in enumerate(heard, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != other))
    return row[-1]


def kind(label: str) -> str:
    return "command" if label in COMMANDS else "noise" if label == NOISE else "other"


def share(rows: list[dict], test) -> float | None:
    return round(sum(map(test, rows)) / len(rows), 3) if rows else None


def run_words(recognizer: whisper.WhisperRecognizer, chosen: list[tuple[str, Path]],
              grammar: list[str]) -> list[dict]:
    rows = []
    for label, path in chosen:
        pcm = load_wav_16k(path)
        recognizer.set_phrases(None)
        free = decode(recognizer, pcm)
        recognizer.set_phrases(COMMANDS)
        closed = decode(recognizer, pcm)
        top = closed.details["top"]
        row = {"label": label, "kind": kind(label), "path": str(path.relative_to(SPEECH_REAL)),
               "free": free.text, "raw": free.details["raw"], "free_ms": free.decode_ms,
               "no_speech_prob": free.details["no_speech_prob"], "closed": closed.text,
               "best": top[0][0], "best_logp": top[0][1], "closed_ms": closed.decode_ms}
        if label in COMMANDS:
            recognizer.set_phrases(grammar)
            row["grammar_ms"] = decode(recognizer, pcm).decode_ms
        rows.append(row)
    return rows


def summarise_words(rows: list[dict], threshold: float) -> dict:
    commands = [r for r in rows if r["kind"] == "command"]
    others = [r for r in rows if r["kind"] == "other"]
    noise = [r for r in rows if r["kind"] == "noise"]
    sweep = {}
    for level in (x for x in SWEEP if x >= threshold):
        sweep[str(level)] = {
            "right": share(commands, lambda r: r["best"] == r["label"] and r["best_logp"] >= level),
            "false_accept_other": share(others, lambda r: r["best_logp"] >= level),
            "false_accept_noise": share(noise, lambda r: r["best_logp"] >= level)}
    return {
        "clips": {"command": len(commands), "other": len(others), "noise": len(noise)},
        "free": {"command_exact": share(commands, lambda r: r["free"] == r["label"]),
                 "other_exact": share(others, lambda r: r["free"] == r["label"]),
                 "other_taken_as_command": share(others, lambda r: r["free"] in COMMANDS),
                 "noise_empty": share(noise, lambda r: r["free"] == ""),
                 "noise_taken_as_command": share(noise, lambda r: r["free"] in COMMANDS),
                 **percentiles([r["free_ms"] for r in rows], digits=1)},
        "closed": {"threshold": threshold,
                   "right": share(commands, lambda r: r["closed"] == r["label"]),
                   "wrong": share(commands, lambda r: r["closed"] not in ("", r["label"])),
                   "false_accept_other": share(others, lambda r: r["closed"] != ""),
                   "false_accept_noise": share(noise, lambda r: r["closed"] != ""),
                   "top1_before_threshold": share(commands, lambda r: r["best"] == r["label"]),
                   **percentiles([r["closed_ms"] for r in rows], digits=1)},
        "sweep": sweep,
        "grammar": ({"phrases": None, **percentiles([r["grammar_ms"] for r in commands], digits=1)}
                    if commands else None),
    }


def run_sentences(recognizer: whisper.WhisperRecognizer) -> dict | None:
    if not shutil.which("flite"):
        return None
    recognizer.set_phrases(None)
    errors, total, times, seconds, misses = 0, 0, [], [], []
    with tempfile.TemporaryDirectory() as folder:
        for number, sentence in enumerate(SENTENCES):
            wav = Path(folder) / f"{number}.wav"
            subprocess.run(["flite", "-voice", "slt", "-t", sentence, "-o", str(wav)], check=True, capture_output=True)
            pcm = load_wav_16k(wav)
            heard = decode(recognizer, pcm)
            wrong = words_wrong(sentence.replace("'", "").split(), heard.text.split())
            errors, total = errors + wrong, total + len(sentence.split())
            times.append(heard.decode_ms)
            seconds.append(len(pcm) / 32000)
            if wrong:
                misses.append(f"{sentence!r} -> {heard.details['raw']!r}")
    return {"word_error_rate": round(errors / total, 3), "seconds_p50": round(sorted(seconds)[len(seconds) // 2], 2),
            **percentiles(times, digits=1), "misses": misses}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=20, help="clips per command word (default 20)")
    parser.add_argument("--threshold", type=float, default=whisper.REJECT_LOGP,
                        help=f"closed-list rejection threshold, log p (default {whisper.REJECT_LOGP})")
    parser.add_argument("--score-window", type=int, default=whisper.SCORE_WINDOW_SECONDS,
                        help=f"encoder window when scoring, seconds (default {whisper.SCORE_WINDOW_SECONDS})")
    parser.add_argument("--threads", type=int, default=0, help="CTranslate2 threads (0: its default)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rows", metavar="FILE", help="also write every clip's result as JSON lines")
    args = parser.parse_args()
    if not (SPEECH_REAL / "manifest.tsv").exists():
        sys.exit(f"{SPEECH_REAL} is not here: it holds the real recordings this measures on")
    whisper.REJECT_LOGP = args.threshold
    whisper.SCORE_WINDOW_SECONDS = args.score_window
    grammar = load_vocabulary().grammar("commands")

    rss_before = rss_mb()
    began = time.perf_counter()
    transcriber = whisper.WhisperTranscriber(threads=args.threads)
    started_ms = (time.perf_counter() - began) * 1000
    recognizer = whisper.WhisperRecognizer(transcriber=transcriber)
    decode(recognizer, b"\0\0" * 16000)  # the first decode sets up the CPU kernels
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "model": str(transcriber.path), "compute_type": whisper.COMPUTE_TYPE, "beam_size": whisper.BEAM_SIZE,
        "score_window_s": whisper.SCORE_WINDOW_SECONDS,
        "start_ms": round(started_ms), "verify_ms": round(transcriber.verify_ms), "load_ms": round(transcriber.load_ms),
        "rss_mb_before": rss_before, "rss_mb_after_load": rss_mb(),
    }
    rows = run_words(recognizer, clips(args.limit), grammar)
    if args.rows:
        Path(args.rows).write_text("".join(json.dumps(r) + "\n" for r in rows))
    report["words"] = summarise_words(rows, args.threshold)
    if report["words"]["grammar"]:
        report["words"]["grammar"]["phrases"] = len(grammar)
    report["sentences"] = run_sentences(recognizer)
    report["rss_mb_end"] = rss_mb()
    if args.json:
        print(json.dumps(report, indent=2))
        return
    words, free, closed = report["words"], report["words"]["free"], report["words"]["closed"]
    print(f"machine: {report['machine']}; {report['model']}")
    print(f"start {report['start_ms']} ms (verify {report['verify_ms']} ms, load {report['load_ms']} ms); "
          f"RSS {report['rss_mb_before']} MB before, {report['rss_mb_after_load']} MB after load, "
          f"{report['rss_mb_end']} MB at the end")
    print(f"clips: {words['clips']}")
    print(f"free (beam {report['beam_size']}): command exact {free['command_exact']}, "
          f"other exact {free['other_exact']}, "
          f"other taken as a command {free['other_taken_as_command']}, noise empty {free['noise_empty']}; "
          f"ms p50 {free['p50_ms']} p95 {free['p95_ms']}")
    print(f"closed list of {len(COMMANDS)} at log p {closed['threshold']}, encoder window "
          f"{report['score_window_s']} s: right {closed['right']}, wrong {closed['wrong']}, "
          f"false accept other {closed['false_accept_other']}, noise {closed['false_accept_noise']} "
          f"(best is right before rejection: {closed['top1_before_threshold']}); "
          f"ms p50 {closed['p50_ms']} p95 {closed['p95_ms']}")
    print("threshold sweep (right / other accepted / noise accepted):")
    for level, figures in words["sweep"].items():
        print(f"  {level:>5}: {figures['right']} / {figures['false_accept_other']} / {figures['false_accept_noise']}")
    if words["grammar"]:
        print(f"scoring the {words['grammar']['phrases']}-phrase commands grammar: ms p50 {words['grammar']['p50_ms']} "
              f"p95 {words['grammar']['p95_ms']}")
    sentences = report["sentences"]
    if sentences:
        print(f"sentences (flite slt, {sentences['seconds_p50']} s median): word error rate "
              f"{sentences['word_error_rate']}; ms p50 {sentences['p50_ms']} p95 {sentences['p95_ms']}")
        for miss in sentences["misses"]:
            print(f"  {miss}")


if __name__ == "__main__":
    main()
