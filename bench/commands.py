"""Commands on real voices, each clip heard in the dialogue state it would be heard in live.

    python bench/commands.py                  # speech-real and speech-dev, every clip (about 10 minutes here)
    python bench/commands.py --limit 30       # at most 30 clips per word
    python bench/commands.py --engine pocketsphinx --json
    python bench/commands.py --cache /tmp/models.pickle   # re-run a fusion change in minutes (latency not valid)
    python bench/commands.py --noise white:20 # every clip inside a room that is noisy all along
    python bench/commands.py --limit 40 --real-time   # latency as live: the end of each clip at the microphone's pace

Every clip streams through the endpointer and the recogniser in 30 ms frames
(as bench/voice.py does), and is then judged by :class:`companion.app.hearing.Judge`,
the same code ``companion listen --state`` uses: red flags and symptoms first,
then the interpreter and its confidence policy.

Per state and set: *right* (what was meant was acted on, or asked about: the
user then only says yes; for stop, asking means everything has already
paused), *at once* (acted on without a question), *false act* (another word or
noise acted on), *false any* (another word or noise that draws any reply,
a question included), latency from the end of speech to the decision (p50/p95),
and *whisper* (the share of clips Whisper had to hear).
"""

from __future__ import annotations

import argparse
import array
import collections
import csv
import hashlib
import json
import os
import pickle
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from companion.app.hearing import Judge  # noqa: E402
from companion.language.vocabulary import load_vocabulary  # noqa: E402
from companion.speech.asr.registry import make_recognizer  # noqa: E402
from companion.speech.audio.segmenter import Segmenter  # noqa: E402
from companion.speech.ports import SAMPLE_RATE  # noqa: E402
from stats import percentiles  # noqa: E402
from testset import active_span, add_noise, load_wav_16k, speech_power  # noqa: E402
from voice import run_clip  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SETS = {"speech-real": ROOT.parent / "shared" / "speech-real", "speech-dev": ROOT.parent / "shared" / "speech-dev"}
REPORTED = (*SETS, "flite")
DIGITS = "zero one two three four five six seven eight nine".split()

# What each word should do in each state (None: nothing at all). Words not listed are "other words".
EXPECTED = {
    "commands": {"stop": "stop", "go": "resume", "up": "louder", "down": "quieter"},
    "yes-no": {"yes": "yes", "no": "no", "right": "yes", "stop": "stop", "go": "resume"},
    "number": {**{d: f"number:{i}" for i, d in enumerate(DIGITS)}, "stop": "stop", "go": "resume"},
    "place": {"stop": "stop"},  # no recording here says a place: every other clip is a word or noise to ignore
}


class Remembered:
    """A model whose answers are kept on disk by what it was asked (the audio's hash and the arguments),
    so that a change to the fusion rules can be re-measured without running Whisper again. Only for
    tuning: a remembered answer takes no time, so latencies measured with it mean nothing."""

    METHODS = ("classify", "transcribe", "score")

    def __init__(self, model, store: dict):
        self._model, self._store = model, store

    def __getattr__(self, name: str):
        if name == "prepare":  # an early start of work that is remembered anyway
            return lambda pcm: None
        attribute = getattr(self._model, name)
        if name not in self.METHODS:
            return attribute

        def remembered(pcm: bytes, *args, **kwargs):
            key = (name, hashlib.sha1(pcm).hexdigest(), repr(args), repr(sorted(kwargs.items())))
            if key not in self._store:
                self._store[key] = attribute(pcm, *args, **kwargs)
            return self._store[key]
        return remembered


def remember(recognizer, path: Path) -> dict:
    """Wrap the fused recogniser's keyword model and Whisper in :class:`Remembered`, sharing one store."""
    store = pickle.loads(path.read_bytes()) if path.exists() else {}
    for part in ("spotter", "whisper"):
        if getattr(recognizer, part, None) is not None:
            setattr(recognizer, part, Remembered(getattr(recognizer, part), store))
    return store


# Command phrases no recording here holds, said by flite's voices in white noise: measured apart
# ("flite" set), never mixed into the speech-real targets.
FLITE_PHRASES = {"pause": "pause", "wait": "pause", "hold on": "pause", "resume": "resume", "carry on": "resume",
                 "skip": "next", "repeat": "repeat", "slower": "slower", "how long is left": "how_long_left"}
FLITE_VOICES = ("slt", "rms", "awb")


def flite_clips(snr_db: float = 20) -> list[dict]:
    """Each of FLITE_PHRASES by each flite voice, 0.4 s of room either side, white noise at ``snr_db``."""
    import subprocess
    import tempfile
    out = []
    with tempfile.TemporaryDirectory() as folder:
        for phrase in FLITE_PHRASES:
            for index, voice in enumerate(FLITE_VOICES):
                path = Path(folder) / "said.wav"
                subprocess.run(["flite", "-voice", voice, "-t", phrase, "-o", str(path)], check=True, timeout=30)
                raw = b"\0" * 6400 + load_wav_16k(path) + b"\0" * 6400
                end = active_span(array.array("h", raw), threshold=600)[1] / SAMPLE_RATE
                out.append({"set": "flite", "label": phrase, "name": f"{voice}/{phrase}", "speech_end": end,
                            "pcm": add_noise(raw, snr_db, seed=index)})
    return out


def floor(raw: bytes) -> bytes:
    """A real microphone is never digitally silent: faint noise 40 dB under the speech, or, in a
    clip with no speech at all (some noise clips are), at the quiet room level bench/voice.py uses."""
    try:
        return add_noise(raw, 40, seed=3)
    except ValueError:
        return add_noise(raw, 0, seed=3, signal_power=16.0)


# Seconds of the room's noise before and after a clip (--noise). With 1 s before it (until session 11)
# neither WebRTC's detector nor the endpointer's noise floor had learnt the noise when the word came, so
# every word ran on to the end of the noise: a room noisy for 1 s, not all along. After 4 s the floor
# has learnt it (its window is 3 s); WebRTC alone needs 4-8 s (bench/README.md, session 12).
NOISE_LEAD, NOISE_TAIL = 4.0, 0.8


def in_noise(raw: bytes, noise: str, seed: int) -> bytes:
    """``raw`` inside a room that is noisy all along (a fan, traffic): ``noise`` is "KIND:SNR" ("white:20"),
    the noise running from :data:`NOISE_LEAD` before the clip to :data:`NOISE_TAIL` after it, at SNR dB
    under the clip's speech. The voice detector hears the noise before the word, as it would live."""
    kind, snr = noise.split(":")
    padded = bytes(int(NOISE_LEAD * SAMPLE_RATE) * 2) + raw + bytes(int(NOISE_TAIL * SAMPLE_RATE) * 2)
    try:
        return add_noise(padded, float(snr), seed=seed, noise=kind, signal_power=speech_power(raw) or None)
    except ValueError:  # a clip with no speech at all (some noise clips): the quiet room's level
        return add_noise(padded, 0, seed=seed, noise=kind, signal_power=16.0)


def noise_spec_ok(noise: str) -> bool:
    """Whether ``noise`` reads as KIND:SNR ("white:20")."""
    kind, _, snr = noise.partition(":")
    try:
        float(snr)
    except ValueError:
        return False
    return kind in ("white", "pink", "babble")


def clips(limit: int | None, noise: str | None = None) -> list[dict]:
    out = []
    for name, folder in SETS.items():
        manifest = folder / "manifest.tsv"
        if not manifest.exists():
            continue
        per_label: dict[str, int] = collections.Counter()
        for row in csv.DictReader(manifest.open(), delimiter="\t"):
            label = row["label"]
            if limit and per_label[label] >= limit:
                continue
            per_label[label] += 1
            raw = load_wav_16k(folder / row["path"])
            end = active_span(array.array("h", raw), threshold=600)[1] / SAMPLE_RATE
            pcm, lead = (in_noise(raw, noise, seed=len(out)), NOISE_LEAD) if noise else (floor(raw), 0.0)
            out.append({"set": name, "label": label, "name": row["path"], "speech_end": end + lead, "pcm": pcm})
    return out


def evaluate(all_clips: list[dict], recognizer, judge: Judge, states: list[str],
             real_time: bool = False, noise_floor: bool = True) -> list[dict]:
    rows = []
    for state in states:
        # A fresh endpointer per state: its voice detector adapts to what it heard, so a shared one
        # made each state's figures depend on the states (and sets) measured before it.
        segmenter = Segmenter(recognizer, judge.vocabulary.meaning, noise_floor=noise_floor)
        segmenter.use_phrases(judge.grammar(state))
        for clip in all_clips:
            if clip["set"] == "flite" and state != "commands":
                continue
            result, latency, spent = run_clip(segmenter, clip["pcm"], clip["speech_end"], real_time=real_time)
            row = judge.judge(result, state) if result else {"command": None, "decision": "ignore", "evidence": {}}
            evidence = row.get("evidence") or {}
            expected = FLITE_PHRASES[clip["label"]] if clip["set"] == "flite" else EXPECTED[state].get(clip["label"])
            rows.append({"state": state, "set": clip["set"], "label": clip["label"], "name": clip["name"],
                         "expected": expected, "got": row["command"],
                         "decision": row["decision"], "latency_ms": latency, "cpu_s": spent,
                         "decided_by": evidence.get("decided_by", ""), "whisper": "whisper" in evidence,
                         "transcript": row.get("transcript", ""), "evidence": brief(evidence)})
    return rows


def brief(evidence: dict) -> dict:
    """Each model's say on a clip, short enough to read in a row."""
    out = {}
    ps = evidence.get("pocketsphinx") or {}
    if ps:
        out["ps"] = [ps.get("text"), ps.get("confidence")]
    keywords = evidence.get("keywords") or {}
    if keywords:
        out["kw"] = keywords.get("probs")
    whisper = evidence.get("whisper") or {}
    if whisper:
        out["wh"] = whisper.get("scores") or [whisper.get("transcript"), whisper.get("avg_logprob")]
    return out


def summarise(rows: list[dict]) -> dict:
    meant = [r for r in rows if r["expected"]]
    others = [r for r in rows if not r["expected"]]
    out: dict = {"clips": len(rows)}
    if meant:
        out["right"] = round(sum(r["got"] == r["expected"] for r in meant) / len(meant), 3)
        out["at_once"] = round(sum(r["got"] == r["expected"] and r["decision"] == "act" for r in meant) / len(meant), 3)
        out["wrong"] = round(sum(r["got"] not in (None, r["expected"]) for r in meant) / len(meant), 3)
    if others:
        out["false_act"] = round(sum(r["got"] is not None and r["decision"] == "act" for r in others) / len(others), 3)
        out["false_question"] = round(sum(r["decision"] == "confirm" for r in others) / len(others), 3)
        out["false_any"] = round(sum(r["got"] is not None for r in others) / len(others), 3)
    acted = sorted(r["latency_ms"] for r in rows if r["got"])
    if acted:
        figures = percentiles(acted, digits=1)
        out["latency_ms_p50"], out["latency_ms_p95"] = figures["p50_ms"], figures["p95_ms"]
    out["whisper_share"] = round(sum(r["whisper"] for r in rows) / len(rows), 3) if rows else 0.0
    return out


def by_label(rows: list[dict]) -> dict:
    groups = collections.defaultdict(list)
    for row in rows:
        groups[row["label"]].append(row)
    return {label: summarise(group) for label, group in sorted(groups.items())}


def targets(rows: list[dict]) -> dict:
    """The issue's targets on speech-real, each clip in its state."""
    real = [r for r in rows if r["set"] == "speech-real"]
    stops = [r for r in real if r["state"] == "commands" and r["label"] == "stop"]
    answers = [r for r in real if r["state"] == "yes-no" and r["label"] in ("yes", "no")]
    others = [r for r in real if r["state"] in ("commands", "yes-no") and not r["expected"]]
    acted = sorted(r["latency_ms"] for r in real if r["got"] and r["got"] == r["expected"])
    out = {}
    if stops:
        out["stop acted on or paused at once (>= 97%)"] = round(
            sum(r["got"] == "stop" for r in stops) / len(stops), 3)
        out["stop acted on without a question (>= 90%)"] = round(
            sum(r["got"] == "stop" and r["decision"] == "act" for r in stops) / len(stops), 3)
    if answers:
        out["yes and no right (>= 95%)"] = round(sum(r["got"] == r["expected"] for r in answers) / len(answers), 3)
    if others:
        out["other words and noise acted on (<= 1%)"] = round(
            sum(r["got"] is not None and r["decision"] == "act" for r in others) / len(others), 3)
        out["other words and noise, any reply (<= 5%)"] = round(
            sum(r["got"] is not None for r in others) / len(others), 3)
    if acted:
        out["command latency p95 ms (<= 250)"] = percentiles(acted, digits=1)["p95_ms"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, help="at most this many clips per word and set")
    parser.add_argument("--engine", help="recogniser (default: the companion's default)")
    parser.add_argument("--states", default="commands,yes-no,number")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rows", metavar="FILE", help="also write every clip's result as JSON lines")
    parser.add_argument("--flite", action="store_true",
                        help="also the command phrases no recording holds (pause, wait, resume, ...), said by "
                             "flite's voices at 20 dB white noise, in the commands state")
    parser.add_argument("--cache", metavar="FILE", type=Path,
                        help="keep the keyword model's and Whisper's answers in FILE and reuse them (for tuning "
                             "the fusion rules; latencies are then not valid)")
    parser.add_argument("--noise", metavar="KIND:SNR",
                        help="every clip inside continuous noise (white, pink or babble) at SNR dB under its speech, "
                             "e.g. white:20; without it the clips are as recorded")
    parser.add_argument("--real-time", action="store_true",
                        help="feed each clip's last part at the microphone's pace, so latency counts work that "
                             "overlaps the endpointer's wait as it does live (adds about 0.5 s a clip)")
    parser.add_argument("--no-noise-floor", action="store_true",
                        help="the endpointer without its noise floor (WebRTC's detector alone), for comparison")
    args = parser.parse_args()
    if args.real_time and args.cache:
        parser.error("--real-time measures latency, which --cache makes meaningless: use one or the other")
    if args.noise and not noise_spec_ok(args.noise):
        parser.error("--noise takes KIND:SNR, KIND one of white, pink, babble and SNR a number of dB (e.g. white:20)")

    unknown = [state for state in args.states.split(",") if state not in EXPECTED]
    if unknown:
        parser.error(f"no such state: {', '.join(unknown)} (states: {', '.join(EXPECTED)})")
    vocabulary = load_vocabulary()
    judge = Judge(vocabulary)
    started = time.perf_counter()
    recognizer = make_recognizer(vocabulary.grammar("commands"), args.engine, hints=vocabulary.hints())
    recognizer.ready()
    load_s = time.perf_counter() - started
    store = remember(recognizer, args.cache) if args.cache else None
    all_clips = clips(args.limit, args.noise) + (flite_clips() if args.flite else [])
    if not all_clips:
        sys.exit("no clips: ../shared/speech-real and ../shared/speech-dev are missing")
    rows = evaluate(all_clips, recognizer, judge, args.states.split(","), real_time=args.real_time,
                    noise_floor=not args.no_noise_floor)
    if store is not None:
        args.cache.write_bytes(pickle.dumps(store))
    if args.rows:
        Path(args.rows).write_text("".join(json.dumps(r) + "\n" for r in rows))
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "noise": args.noise or "as recorded",
        "noise_floor": not args.no_noise_floor,
        "engine": recognizer.name, "load_s": round(load_s, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "targets (speech-real)": targets(rows),
        "by state and set": {f"{state} / {name}": summarise([r for r in rows if r["state"] == state and r["set"] == name])
                             for state in args.states.split(",") for name in REPORTED
                             if any(r["state"] == state and r["set"] == name for r in rows)},
        "by word (speech-real)": {state: by_label([r for r in rows if r["state"] == state and r["set"] == "speech-real"])
                                  for state in args.states.split(",")},
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{report['machine']}; noise {report['noise']}; engine {report['engine']}; load {report['load_s']} s; "
          f"peak RSS {report['peak_rss_mb']} MB")
    print("\nTargets (speech-real):")
    for name, value in report["targets (speech-real)"].items():
        print(f"  {name}: {value}")
    print("\nBy state and set:")
    for name, summary in report["by state and set"].items():
        print(f"  {name}: {summary}")


if __name__ == "__main__":
    main()
