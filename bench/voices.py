"""Voices: how well each installed voice is understood, by Whisper tiny.en transcribing it back.

    python bench/voices.py                    # a seeded sample of 100 sentences, every voice (about 5 minutes here)
    python bench/voices.py --limit 0          # every sentence the companion says (278; about 13 minutes)
    python bench/voices.py --voices slt,espeak-ng --limit 10
    python bench/voices.py --calibrate        # flite's natural speaking rate per voice (flite.NATURAL_WPM)
    python bench/voices.py --json

The sentences are everything the companion says: every distinct ``say`` record of
a session of each routine in routines/*.yaml (run on the virtual clock, so the
cues, counts, holds and finishes come out as they are spoken), and every phrase of
companion/content/data/en/phrases.yaml with its {placeholders} filled with
plausible values. Each is synthesised by each voice through the companion's own
synthesisers (:mod:`companion.speech.tts`: flite slt, rms, kal16, awb; espeak-ng's
default voice through pyttsx3) at the default speaking rate of 160 words a minute,
resampled to 16 kHz and transcribed by Whisper tiny.en
(:class:`companion.speech.asr.whisper.WhisperTranscriber`).

Word error rate (WER): word-level edit distance over the number of words said,
summed over the sentences, after normalising both sides the same way: lower case,
no punctuation (a hyphen splits words, an apostrophe is dropped), every number
written as words ("14" -> "fourteen"), one spelling where Whisper and the cues
differ ("centimetres" -> "centimeters", "alright" -> "all right"). Synthesis time
is per sentence, on this machine, while Whisper is not running.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import string
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from companion.app.runner import Runner  # noqa: E402
from companion.content.library import load_library  # noqa: E402
from companion.content.locale import data_file  # noqa: E402
from companion.content.phrases import load_phrases  # noqa: E402
from companion.engine.clock import VirtualClock  # noqa: E402
from companion.engine.plan import PlanBuilder  # noqa: E402
from companion.engine.session import Session  # noqa: E402
from companion.language.vocabulary import load_vocabulary  # noqa: E402
from companion.speech.ports import SAMPLE_RATE  # noqa: E402
from companion.speech.tts import flite  # noqa: E402
from companion.speech.tts import speaker as sp  # noqa: E402
from companion.speech.tts.synthesis import SpeechUnavailable, SynthesisError, resampled  # noqa: E402
from stats import percentiles  # noqa: E402 - bench/stats.py, beside this script

import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RATE = 160  # words a minute: a profile's default speech_rate
DEFAULT_LIMIT = 100
SEED = 11
ESPEAK = "espeak-ng"
ALL_VOICES = (*flite.VOICES, ESPEAK)

# Plausible values for the placeholders of phrases.yaml (as the engine fills them).
FILL = {
    "title": "Wall standing", "purpose": "Teaches your neck and back to rest in an upright, balanced posture.",
    "count": "3", "time": "2 minutes", "left": "1 minute 30 seconds", "n": "5", "number": "2", "total": "3",
    "side": "Left", "move": "press-ups", "reps": "4", "sets": "2", "rise": "3", "minutes": "1 minute",
    "seconds": "30 seconds", "name": ", Anna", "names": "wall standing, knees to chest, flying swallow",
    "items": "wall standing, 1 of 3 done", "done": "1", "wanted": "3", "value": "seven", "command": "stop",
    "reason": "no audio output device was found", "error": "the audio module could not be loaded",
}

SPELLING = {"centimetres": "centimeters", "centimetre": "centimeter", "metres": "meters", "okay": "ok",
            "alright": "all right"}
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()


class Said:
    """Collects the distinct sentences a session says."""

    def __init__(self) -> None:
        self.texts: set[str] = set()

    def write(self, record: dict) -> None:
        if record["kind"] == "say":
            self.texts.add(record["text"])

    def close(self) -> None:
        pass


def session_cues() -> list[str]:
    """Every distinct sentence a session of each routine says (cues, counts, holds, finishes)."""
    library, phrases = load_library(), load_phrases()
    titles = {r.id: r.title for r in library.routines.values()}
    said = Said()
    for routine_id in sorted(library.routines):
        plan = PlanBuilder(library.routines, phrases).for_entry(library.get(routine_id))
        Runner(Session(plan, phrases, titles), VirtualClock(), load_vocabulary(), [said]).run()
    return sorted(said.texts)


def phrase_sentences() -> list[str]:
    """Every phrase of phrases.yaml with its placeholders filled; fragments of one word are left out."""
    raw = yaml.safe_load(data_file("phrases.yaml").read_text(encoding="utf-8"))
    out = []
    for value in raw.values():
        if not isinstance(value, str):
            continue
        names = [name for _, name, _, _ in string.Formatter().parse(value) if name]
        text = value.format(**{name: FILL.get(name, "two") for name in names}).strip()
        if len(normalise(text).split()) >= 2:
            out.append(text)
    return out


def sentences() -> list[str]:
    return sorted(set(session_cues()) | set(phrase_sentences()))


# -- word error rate ------------------------------------------------------------------------


def number_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    if n < 1000:
        return _ONES[n // 100] + " hundred" + ("" if n % 100 == 0 else " " + number_words(n % 100))
    if n < 1_000_000:
        return number_words(n // 1000) + " thousand" + ("" if n % 1000 == 0 else " " + number_words(n % 1000))
    return str(n)


def normalise(text: str) -> str:
    """Lower case, no punctuation, numbers as words, one spelling: what both sides of the WER go through."""
    text = text.lower().replace("’", "'").replace("'", "")
    text = re.sub(r"(\d),(\d{3})", r"\1\2", text)  # 1,000 -> 1000
    text = re.sub(r"\d+", lambda m: f" {number_words(int(m.group()))} ", text)
    text = re.sub(r"[^a-z]+", " ", text)
    return " ".join(SPELLING.get(word, word) for word in text.split())


def edits(reference: list[str], hypothesis: list[str]) -> int:
    """Word-level Levenshtein distance (substitutions, deletions, insertions)."""
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ref != hyp)))
        previous = current
    return previous[-1]


# -- synthesis ---------------------------------------------------------------------------


def open_voices(wanted: list[str]) -> dict[str, object]:
    """The synthesiser of each wanted voice that this machine has (espeak-ng: its default voice)."""
    found: dict[str, object] = {}
    for voice in wanted:
        try:
            found[voice] = (sp.Pyttsx3Synthesiser(sp.open_engine(sp.Voice())) if voice == ESPEAK
                            else flite.FliteSynthesiser(voice))
        except SpeechUnavailable as exc:
            print(f"skipping {voice}: {exc}", file=sys.stderr)
    return found


def synthesise_all(synthesiser, voice: str, texts: list[str],
                   rate: int = RATE) -> tuple[list[bytes | None], list[float]]:
    """Each sentence as 16 kHz PCM (None when synthesis failed), and the synthesis time of each in ms."""
    audio, times = [], []
    for text in texts:
        began = time.perf_counter()
        try:
            speech = synthesiser.synthesise(text, rate, "" if voice == ESPEAK else voice)
        except SynthesisError as exc:
            print(f"{voice}: {exc}", file=sys.stderr)
            audio.append(None)
            continue
        times.append((time.perf_counter() - began) * 1000)
        audio.append(resampled(speech.pcm, speech.rate, SAMPLE_RATE))
    return audio, times


def speech_span(pcm: bytes, rate: int, threshold: int = 300) -> tuple[float, float]:
    """Seconds from the first to the last sample above ``threshold``, and the whole length in seconds."""
    import numpy as np

    samples = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.int32))
    loud = np.flatnonzero(samples > threshold)
    span = (loud[-1] - loud[0]) / rate if len(loud) else 0.0
    return span, len(samples) / rate


def calibrate(voices: dict[str, object], texts: list[str]) -> dict[str, dict]:
    """Natural words per minute of each voice: flite at duration_stretch 1, espeak-ng at rate 160."""
    out = {}
    for voice, synthesiser in voices.items():
        rate = flite.NATURAL_WPM.get(voice, RATE) if voice != ESPEAK else RATE
        words = span = whole = 0.0
        for text in texts:
            speech = synthesiser.synthesise(text, rate, "" if voice == ESPEAK else voice)
            s, w = speech_span(speech.pcm, speech.rate)
            words, span, whole = words + len(normalise(text).split()), span + s, whole + w
        out[voice] = {"asked_rate": rate if voice == ESPEAK else None,
                      "stretch": flite.duration_stretch(rate, voice) if voice != ESPEAK else None,
                      "wpm_first_to_last_sound": round(words / span * 60, 1),
                      "wpm_whole_files": round(words / whole * 60, 1), "sentences": len(texts)}
    return out


# -- the run -----------------------------------------------------------------------------


def run(voices: dict[str, object], texts: list[str], show_errors: int = 0) -> dict:
    from companion.speech.asr.whisper import WhisperTranscriber

    synthesised = {}
    for voice, synthesiser in voices.items():  # all synthesis first, so Whisper does not slow it down
        synthesised[voice] = synthesise_all(synthesiser, voice, texts)
    began = time.perf_counter()
    whisper = WhisperTranscriber(folder=None, threads=0)
    load_s = time.perf_counter() - began
    results: dict[str, dict] = {}
    for voice, (audio, synth_ms) in synthesised.items():
        total_words = total_edits = exact = 0
        decode_ms, audio_s, worst = [], 0.0, []
        for text, pcm in zip(texts, audio):
            reference = normalise(text).split()
            heard = ""
            if pcm is not None:
                transcript = whisper.transcribe(pcm)
                heard = transcript.text
                decode_ms.append(transcript.decode_ms)
            hypothesis = normalise(heard).split()
            wrong = edits(reference, hypothesis)
            total_words += len(reference)
            total_edits += wrong
            exact += wrong == 0
            if pcm is not None:
                audio_s += len(pcm) / 2 / SAMPLE_RATE
            if wrong:
                worst.append((wrong / max(1, len(reference)), text, heard.strip()))
        results[voice] = {
            "sentences": len(texts), "words": total_words, "errors": total_edits,
            "wer": round(total_edits / max(1, total_words), 4), "exact": exact,
            "failed": sum(pcm is None for pcm in audio),
            "synth_ms": percentiles(synth_ms, 1) if synth_ms else {},
            "synth_ms_mean": round(sum(synth_ms) / max(1, len(synth_ms)), 1),
            "audio_seconds": round(audio_s, 1),
            "whisper_ms": percentiles(decode_ms, 1) if decode_ms else {},
            "worst": [{"wer": round(w, 2), "said": t, "heard": h}
                      for w, t, h in sorted(worst, reverse=True)[:show_errors]],
        }
    return {"voices": results, "whisper_load_s": round(load_s, 2)}


def render(report: dict) -> str:
    lines = [f"{'voice':<10} {'WER':>6} {'exact':>9} {'words':>6} {'synth ms/sentence mean':>23} "
             f"{'p50':>6} {'p95':>6} {'audio s':>8}"]
    ranked = sorted(report["voices"].items(), key=lambda kv: kv[1]["wer"])
    for voice, r in ranked:
        lines.append(f"{voice:<10} {r['wer']:>6.1%} {r['exact']:>4}/{r['sentences']:<4} {r['words']:>6} "
                     f"{r['synth_ms_mean']:>23.1f} {r['synth_ms'].get('p50_ms', 0):>6.1f} "
                     f"{r['synth_ms'].get('p95_ms', 0):>6.1f} {r['audio_seconds']:>8.1f}")
        for w in r["worst"]:
            lines.append(f"    {w['wer']:.0%}  said: {w['said']!r}\n          heard: {w['heard']!r}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=DEFAULT_LIMIT,
                        help=f"sentences sampled (seeded; the same for every voice); 0: all (default {DEFAULT_LIMIT})")
    parser.add_argument("--voices", default=",".join(ALL_VOICES),
                        help=f"comma-separated (default {','.join(ALL_VOICES)})")
    parser.add_argument("--calibrate", action="store_true", help="measure each voice's natural speaking rate instead")
    parser.add_argument("--errors", type=int, default=0, metavar="N", help="show the N worst sentences of each voice")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    voices = open_voices([v.strip() for v in args.voices.split(",") if v.strip()])
    if not voices:
        sys.exit("no voice can speak here (sudo apt-get install flite libespeak-ng1)")
    try:
        measure(args, voices)
    finally:
        for synthesiser in voices.values():
            synthesiser.close()


def measure(args: argparse.Namespace, voices: dict[str, object]) -> None:
    if args.calibrate:
        report = {"calibration": calibrate(voices, session_cues())}
        print(json.dumps(report, indent=2))
        return
    everything = sentences()
    sample = min(args.limit, len(everything))
    texts = everything if args.limit <= 0 else sorted(random.Random(SEED).sample(everything, sample))
    began = time.perf_counter()
    report = run(voices, texts, args.errors)
    report.update({"sentences_available": len(everything), "sentences_used": len(texts), "rate_wpm": RATE,
                   "seconds": round(time.perf_counter() - began, 1),
                   "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"})
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{len(texts)} of {len(everything)} sentences, at {RATE} words a minute, transcribed by Whisper tiny.en "
          f"({report['seconds']:.0f} s; {report['machine']})")
    print(render(report))


if __name__ == "__main__":
    main()
