"""Voice benchmarks: command accuracy, rejection, latency, real-time factor, memory, idle CPU.

    python bench/voice.py            # the small generated set + real recordings in ../shared/speech-dev
    python bench/voice.py --full     # the full generated grid (3,016 clips, about 4 minutes here)
    python bench/voice.py --json

Every clip goes through the same path as live speech: the endpointer and the
recogniser (streamed in 30 ms frames), then the understanding policy. A clip
counts as *correct* when the policy acts on the expected command (or asks to
confirm it: the user then only says yes). *False command* is an
out-of-grammar or noise clip that the policy turns into a state-changing
command without asking; *false question* is one it asks about.

Generated clips are played as sessions are lived: one room (noise kind and
level) and one voice at a time, each clip's background noise running on for a
second before and after it (see ``as_sessions`` and ``run_clip``).
"""

from __future__ import annotations

import argparse
import array
import collections
import csv
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from companion.speech.asr.registry import make_recognizer  # noqa: E402
from companion.speech.audio.segmenter import FRAME_BYTES, Segmenter, split_frames  # noqa: E402
from companion.speech.ports import SAMPLE_RATE, Recognition  # noqa: E402
from testset import PAD_SECONDS, active_span, add_noise, generate, load_wav_16k  # noqa: E402
from companion.language.understanding import Understanding  # noqa: E402
from companion.language.vocabulary import load_vocabulary  # noqa: E402
from stats import percentiles  # noqa: E402 - bench/stats.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
SPEECH_DEV = ROOT.parent / "shared" / "speech-dev"
TAIL_SILENCE = 0.6
ROOM_SECONDS = 1.0


def room(noise: bytes, seconds: float) -> bytes:
    """``seconds`` of a room's steady noise, repeating a stretch of it."""
    wanted = int(seconds * SAMPLE_RATE) * 2
    return (noise * (wanted // max(2, len(noise)) + 1))[:wanted]


PACE_FROM = 0.1  # real time: frames arrive at the microphone's pace from this long before the end of speech


def run_clip(segmenter: Segmenter, pcm: bytes, speech_end: float, room_noise: bool = False,
             real_time: bool = False) -> tuple[Recognition | None, float, float]:
    """Stream a clip (plus what the room sounds like after it) through endpointing + recognition.

    With ``room_noise`` the clip's own noise (its padding, which holds no
    speech) goes on for ``ROOM_SECONDS`` before and after it, as a real room's
    noise does; otherwise near-silence follows. Returns the result, the
    latency from the end of the speech to the result (endpointer hangover +
    the wall time of the frame that ended the utterance, which ran every model's
    decision), and the processing time.

    With ``real_time`` the frames from just before the end of speech on arrive at the pace a
    microphone delivers them, so work a recogniser starts early (Whisper's encoder at a pause)
    overlaps the hangover as it does live; the latency is then the wall time from the end of speech
    to the result. Without it, frames come as fast as they are taken, and the latency is the hangover
    plus the whole decision (an upper bound, when work is started early).
    """
    quiet = add_noise(b"\0" * int(TAIL_SILENCE * SAMPLE_RATE * 2), 0, seed=7, signal_power=16.0)
    lead = b""
    if room_noise:
        pad_bytes = int(PAD_SECONDS * SAMPLE_RATE) * 2
        lead, quiet = room(pcm[:pad_bytes], ROOM_SECONDS), room(pcm[-pad_bytes:], ROOM_SECONDS)
        speech_end += ROOM_SECONDS
    frames = list(split_frames(lead + pcm + quiet))
    started = time.perf_counter()
    result, latency = None, 0.0
    frame_seconds = FRAME_BYTES / 2 / SAMPLE_RATE
    wall_zero: float | None = None  # real time: the wall clock's reading at the stream's time 0

    def latency_ms(fed_seconds: float, began: float) -> float:
        """End of speech to now: on the wall clock in real time; otherwise the hangover plus the time the
        last call took (it finished the utterance: every model's decision, Whisper included)."""
        now = time.perf_counter()
        if wall_zero is not None:
            return (now - wall_zero - speech_end) * 1000
        return (fed_seconds - speech_end) * 1000 + (now - began) * 1000

    for index, frame in enumerate(frames):
        fed_seconds = (index + 1) * frame_seconds  # the stream time at which this frame is complete
        if real_time and (result is None or not result.text) and fed_seconds >= speech_end - PACE_FROM:
            if wall_zero is None:
                wall_zero = time.perf_counter() - fed_seconds
            time.sleep(max(0.0, wall_zero + fed_seconds - time.perf_counter()))
        began = time.perf_counter()
        utterance = segmenter.feed(frame)
        if utterance and (result is None or not result.text):
            # The first utterance heard as something is the clip's answer. One heard as nothing (the
            # room's noise starting, before the endpointer learnt its level) changes nothing live.
            result = utterance.recognition
            latency = latency_ms(fed_seconds, began)
    if result is None or not result.text:
        began = time.perf_counter()
        utterance = segmenter.flush()
        if utterance:  # the stream ran out before the endpointer ended it: all of it was waited for
            result = utterance.recognition
            latency = latency_ms(len(frames) * frame_seconds, began)
    return result, latency, time.perf_counter() - started


def context_of(expected: str | None) -> str:
    """The dialogue state in which a clip would be heard live: answers and numbers are only
    listened for when the companion has asked for one; commands (and stray speech) otherwise."""
    if expected in ("yes", "no"):
        return "answer"
    if expected and expected.startswith("number:"):
        return "number"
    return "commands"


def evaluate(clips, recognizer, understanding, contexts: bool = True) -> list[dict]:
    """Every clip through the live path; with ``contexts``, in the grammar of its dialogue state."""
    segmenter = Segmenter(recognizer, load_vocabulary().meaning)
    vocabulary = understanding.vocabulary
    rows = []
    for clip in clips:
        pcm = clip["pcm"]
        context = context_of(clip["expected"]) if contexts else "all"
        segmenter.use_phrases(vocabulary.grammar(context))
        clip = {**clip, "context": context}
        result, latency, spent = run_clip(segmenter, pcm, clip["speech_end"], room_noise=clip["set"] == "generated")
        decision = understanding.decide(result) if result else None
        got = decision.label if decision else None
        rows.append({**{k: v for k, v in clip.items() if k != "pcm"}, "text": result.text if result else "",
                     "details": {k: v for k, v in (result.details if result else {}).items() if k != "phones"},
                     "confidence": result.confidence if result else 0.0, "got": got,
                     "decision": decision.kind if decision else "ignore", "latency_ms": latency,
                     "seconds": len(pcm) / 2 / SAMPLE_RATE + (2 * ROOM_SECONDS if clip["set"] == "generated"
                                                              else TAIL_SILENCE), "cpu": spent})
    return rows


def summarise(rows: list[dict], vocabulary) -> dict:
    state_changing = {c.value for c in vocabulary.all_phrases().values() if vocabulary.changes_state(c)}
    commands = [r for r in rows if r["expected"]]
    others = [r for r in rows if not r["expected"]]
    out: dict = {"clips": len(rows)}
    if commands:
        out["correct"] = round(sum(r["got"] == r["expected"] for r in commands) / len(commands), 3)
        out["acted_at_once"] = round(sum(r["got"] == r["expected"] and r["decision"] == "command"
                                         for r in commands) / len(commands), 3)
        out["wrong_command"] = round(sum(r["got"] not in (None, r["expected"]) for r in commands) / len(commands), 3)
    if others:
        out["false_command"] = round(sum(r["got"] in state_changing and r["decision"] == "command"
                                         for r in others) / len(others), 3)
        out["false_question"] = round(sum(r["decision"] == "confirm" for r in others) / len(others), 3)
        out["false_any"] = round(sum(r["got"] is not None for r in others) / len(others), 3)
    latencies = sorted(r["latency_ms"] for r in rows if r["got"])
    if latencies:
        figures = percentiles(latencies, digits=1)
        out["latency_ms_p50"], out["latency_ms_p95"] = figures["p50_ms"], figures["p95_ms"]
    audio = sum(r["seconds"] for r in rows)
    out["rtf"] = round(sum(r["cpu"] for r in rows) / audio, 3) if audio else None
    return out


def by(rows: list[dict], key: str, vocabulary) -> dict:
    groups = collections.defaultdict(list)
    for row in rows:
        groups[str(row.get(key))].append(row)
    return {name: summarise(group, vocabulary) for name, group in sorted(groups.items())}


def generated_clips(size: str) -> list[dict]:
    folder = Path(tempfile.gettempdir()) / f"companion-testset-{size}"
    clips = generate(folder, size=size)
    return [{"set": "generated", "expected": c.expected_label, "kind": c.kind, "voice": c.voice,
             "speed": c.speed, "snr": c.snr_db, "noise": c.noise if c.kind != "noise" else "", "name": c.path.name, "pcm": (pcm := load_wav_16k(c.path)),
             "speech_end": len(pcm) / 2 / SAMPLE_RATE - PAD_SECONDS} for c in clips]


def real_clips() -> list[dict]:
    """Speech Commands recordings: stop/yes/no/digits are commands, every other word must be rejected."""
    manifest = SPEECH_DEV / "manifest.tsv"
    if not manifest.exists():
        return []
    digits = "zero one two three four five six seven eight nine".split()
    clips = []
    for row in csv.DictReader(manifest.open(), delimiter="\t"):
        label = row["label"]
        expected = {"stop": "stop", "yes": "yes", "no": "no"}.get(label)
        if label in digits:
            expected = f"number:{digits.index(label)}"
        raw = load_wav_16k(SPEECH_DEV / row["path"])
        end = active_span(array.array("h", raw), threshold=600)[1] / SAMPLE_RATE
        pcm = add_noise(raw, 40, seed=3)  # a real mic is never silent
        clips.append({"set": "real", "expected": expected, "kind": "command" if expected else "other",
                      "voice": label, "speed": None, "snr": 40, "name": row["path"], "pcm": pcm,
                      "speech_end": end})
    return clips


def as_sessions(clips: list[dict]) -> list[dict]:
    """Order generated clips as sessions happen: one room (noise kind and level) and one voice at a time.

    The recogniser adapts to the room and the voice across utterances (cepstral
    mean, noise estimate), as it does live; a stream that switches from 10 dB
    babble to a clean room every clip defeats that and measures something no
    user meets (it cost about half the correct commands on the full grid).
    """
    def session(clip: dict) -> tuple:
        return (clip["set"] != "generated", str(clip["snr"]), clip.get("noise", ""), str(clip["voice"]))
    return sorted(clips, key=session)


def idle_cpu(recognizer, seconds: float = 5.0) -> float:
    """CPU share used to listen to quiet room noise, in real time terms (no speech)."""
    segmenter = Segmenter(recognizer, load_vocabulary().meaning)
    quiet = add_noise(b"\0" * int(seconds * SAMPLE_RATE * 2), 0, seed=11, signal_power=16.0)
    started = time.process_time()
    for frame in split_frames(quiet):
        segmenter.feed(frame)
    return (time.process_time() - started) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--engine", default="pocketsphinx")
    parser.add_argument("--rows", metavar="FILE", help="also write every clip's result as JSON lines")
    parser.add_argument("--one-grammar", action="store_true",
                        help="hear every clip with one grammar of all phrases (the harder, older measure)")
    args = parser.parse_args()

    vocabulary = load_vocabulary()
    started = time.perf_counter()
    recognizer = make_recognizer(vocabulary.grammar(), args.engine)
    load_seconds = time.perf_counter() - started
    understanding = Understanding(vocabulary)
    clips = as_sessions(generated_clips("full" if args.full else "small")) + real_clips()
    rows = evaluate(clips, recognizer, understanding, contexts=not args.one_grammar)
    if args.rows:
        Path(args.rows).write_text("".join(json.dumps(r) + "\n" for r in rows))
    generated = [r for r in rows if r["set"] == "generated"]
    real = [r for r in rows if r["set"] == "real"]
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "engine": args.engine, "set": "full" if args.full else "small",
        "grammar": "one for all phrases" if args.one_grammar else "per dialogue state",
        "recognizer_load_s": round(load_seconds, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "idle_cpu_share": round(idle_cpu(recognizer), 3),
        "generated": summarise(generated, vocabulary),
        "generated_by_snr": by([r for r in generated if r["kind"] == "command"], "snr", vocabulary),
        "generated_by_voice": by([r for r in generated if r["kind"] == "command"], "voice", vocabulary),
        "generated_by_speed": by([r for r in generated if r["kind"] == "command"], "speed", vocabulary),
        "generated_rejection": summarise([r for r in generated if r["kind"] != "command"], vocabulary),
        "real": summarise(real, vocabulary) if real else None,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"machine: {report['machine']}; engine {args.engine}; set {report['set']}")
    print(f"recogniser load {report['recognizer_load_s']} s, peak RSS {report['peak_rss_mb']} MB, "
          f"idle listening CPU {report['idle_cpu_share'] * 100:.1f}% of one core")
    for name in ("generated", "generated_rejection", "real"):
        print(f"{name}: {report[name]}")
    for key in ("generated_by_snr", "generated_by_voice", "generated_by_speed"):
        print(key)
        for group, figures in report[key].items():
            print(f"  {group:<12} correct {figures.get('correct')}  at once {figures.get('acted_at_once')}  "
                  f"wrong {figures.get('wrong_command')}  (n={figures['clips']})")


if __name__ == "__main__":
    main()
