"""Spoken questions (issue #11): the evaluation questions said by two non-espeak voices at 20 dB SNR.

    python bench/spoken.py                    # every question, voices slt and awb (about 5 minutes on 2 idle cores)
    python bench/spoken.py --limit 40         # a seeded sample of the questions (the same for every voice)
    python bench/spoken.py --voices slt,rms --json
    python bench/spoken.py --markdown         # the figures as a table for bench/README.md
    python bench/spoken.py --keep /tmp/clips  # keep the noisy WAV files to listen to
    python bench/spoken.py --snr 30 --noise babble   # other conditions (the issue asks for white at 20 dB)

Each question of ``tests/data/questions.yaml`` is synthesised by a flite voice
(the companion's own synthesiser at 160 words a minute, through
:func:`bench.voices.synthesise_all`, resampled to 16 kHz), padded with 0.4 s of
silence each side, mixed with white noise at 20 dB SNR over the speech (``--noise``, ``--snr``)
(:func:`bench.testset.add_noise`, a fixed seed per voice and question), written to
a WAV file and heard by :func:`companion.app.ask.transcribe_file`, the function
behind ``companion ask --audio FILE``: the default recogniser (fused; free speech
is Whisper tiny.en), built once for the whole run instead of once per file. The
transcript, with Whisper's other readings nearly as likely, is answered by the shipped
knowledge base (``Answerer.ask_heard``, as ``companion ask --audio`` does), and judged by
:func:`bench.evaluation.evaluate` exactly as the typed question is: an in-scope
question must get its entry (or one it accepts) as the top answer, an off-topic
one must be refused, a red flag must be answered as urgent. The right-answer rate
is those three together; ``unknown`` questions are reported, not scored (as typed).
An empty transcript is judged as the empty question (the product would say it heard
nothing: a miss in scope, a refusal off topic) and counted.

Transcript WER: word edit distance over the words of the question, both sides
normalised as bench/voices.py does (lower case, no punctuation, numbers as words).

Latency, per question with a transcript: the decode time transcribe_file reports
(from the audio in hand to the text), the time to answer the text, and the time to
synthesise the whole answer with the companion's clearest voice at its default
rate and resample it for the player (what SynthesisSpeaker does before the first
sample plays). The end-of-speech-to-answer estimate adds the endpointer's hangover
for free speech (``Segmenter(free_hangover=...)``, 0.6 s; it applies to speech over
``SENTENCE_SECONDS`` and to every question asked with ``companion ask``). Left out:
the VAD's frame and onset delays, microphone buffering, the sound card's output
latency, and loading Whisper (done once, before; one untimed decode warms it up).
Targets (issue #11): spoken right answers >= 85% of the typed rate; end of speech
to the start of the spoken answer p95 <= 2.0 s on 2 cores.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import random
import sys
import tempfile
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator
from unittest import mock

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(ROOT / "bench") not in sys.path:  # bench/voices.py imports stats.py as a sibling; last, so it shadows nothing
    sys.path.append(str(ROOT / "bench"))

from bench.evaluation import Metrics, Question, evaluate, load_questions  # noqa: E402
from bench.stats import percentiles  # noqa: E402
from bench.testset import add_noise  # noqa: E402
from bench.voices import edits, normalise, open_voices, synthesise_all  # noqa: E402
from companion.app import ask as spoken_app  # noqa: E402
from companion.app import devices  # noqa: E402
from companion.knowledge.retrieval import Answer, Answerer, TreatmentReminder, default_answerer  # noqa: E402
from companion.speech.audio.segmenter import SENTENCE_SECONDS, Segmenter  # noqa: E402
from companion.speech.audio.wav import write_wav  # noqa: E402
from companion.speech.ports import SAMPLE_RATE  # noqa: E402
from companion.speech.tts.speaker import OUTPUT_RATE, Voice, open_synthesiser  # noqa: E402
from companion.speech.tts.synthesis import SpeechUnavailable, SynthesisError, resampled  # noqa: E402

QUESTIONS = ROOT / "tests" / "data" / "questions.yaml"
DEFAULT_VOICES = ("slt", "awb")
SNR_DB = 20.0
PAD_SECONDS = 0.4
SEED = 11  # the --limit sample
RATIO_TARGET = 0.85  # spoken right answers / typed right answers
LATENCY_TARGET_MS = 2000.0  # end of speech to the start of the spoken answer, p95
_SEGMENTER = inspect.signature(Segmenter.__init__).parameters
FREE_HANGOVER = _SEGMENTER["free_hangover"].default  # seconds of quiet that end a sentence
COMMAND_HANGOVER = _SEGMENTER["hangover"].default


# -- pure parts (tests/bench/test_spoken.py) -------------------------------------------------


def word_errors(said: str, heard: str) -> tuple[int, int]:
    """(word edits, words said) between a question and its transcript, both normalised as bench/voices.py."""
    reference = normalise(said).split()
    return edits(reference, normalise(heard).split()), len(reference)


def right_answers(m: Metrics) -> tuple[int, int]:
    """(right, scored): in-scope top-1, off-topic refused and red flags urgent together; unknown is not scored."""
    return m.top1 + m.off_topic_rejected + m.red_flags_urgent, m.in_scope + m.off_topic + m.red_flags


def judged(answerer: Answerer, question: Question, text: str) -> bool | None:
    """Whether ``text`` asked in place of ``question`` gets a right answer, as :func:`evaluate` counts it
    (None for an ``unknown`` question, which is not scored)."""
    right, scored = right_answers(evaluate(answerer, [replace(question, text=text)])["all"])
    return bool(right) if scored else None


def hangover(speech_seconds: float, free: bool = True) -> float:
    """The endpointer's wait after the last word: free speech and sentences get the long one."""
    return FREE_HANGOVER if free or speech_seconds > SENTENCE_SECONDS else COMMAND_HANGOVER


def noisy(pcm: bytes, seed: int, snr_db: float = SNR_DB, pad_seconds: float = PAD_SECONDS,
          noise: str = "white") -> bytes:
    """Silence either side, then noise over the whole clip at ``snr_db`` relative to the speech."""
    silence = bytes(2 * int(round(pad_seconds * SAMPLE_RATE)))
    return add_noise(silence + pcm + silence, snr_db, seed=seed, noise=noise)


def clip_seed(voice: str, question_id: str) -> int:
    """The noise seed of one clip: the same whatever --limit picks."""
    return zlib.crc32(f"{voice}:{question_id}".encode())


def describe(answer: Answer) -> str:
    return answer.topic or answer.kind


# -- the run -----------------------------------------------------------------------------------


@dataclass
class Heard:
    question: Question
    transcript: str
    errors: int
    words: int
    right: bool | None
    typed_right: bool | None
    got: str
    decode_ms: float
    answer_ms: float | None  # None: nothing was heard, so nothing was answered
    speak_ms: float | None
    speech_seconds: float
    answered_as: str = ""  # another reading nearly as likely, answered instead of the transcript


@contextmanager
def product_transcription() -> Iterator[object]:
    """:func:`companion.app.ask.transcribe_file` with its recogniser (the default one) built once, not per file."""
    recognizer = spoken_app.question_recognizer()
    recognizer.set_phrases(None)
    if not recognizer.ready() or getattr(recognizer, "whisper", True) is None:
        missing = "; ".join(getattr(recognizer, "missing", [])) or "the free-speech model did not load"
        sys.exit(f"cannot transcribe free speech here: {missing}")
    with mock.patch.object(devices, "make_recognizer", lambda *args, **kwargs: recognizer):
        yield recognizer


def speak_time(synthesiser, text: str) -> float | None:
    """Milliseconds to synthesise ``text`` whole and resample it for the player, as SynthesisSpeaker does."""
    if synthesiser is None:
        return None
    began = time.perf_counter()
    try:
        speech = synthesiser.synthesise(text, Voice().rate, "")
    except SynthesisError:
        return None
    resampled(speech.pcm, speech.rate, OUTPUT_RATE)
    return (time.perf_counter() - began) * 1000


def hear_voice(voice: str, synthesiser, questions: list[Question], answerer: Answerer, typed: dict[str, bool | None],
               speaker, folder: Path, snr_db: float = SNR_DB, noise: str = "white") -> list[Heard]:
    audio, _ = synthesise_all(synthesiser, voice, [q.text for q in questions])
    Answerer._closest.cache_clear()  # spelling correction is paid for again, as in bench/ask.py's passes
    out = []
    for q, pcm in zip(questions, audio):
        if pcm is None:
            out.append(Heard(q, "", *word_errors(q.text, ""), None if q.expect == "unknown" else False,
                             typed[q.id], "synthesis failed", 0.0, None, None, 0.0))
            continue
        path = folder / f"{voice}-{q.id}.wav"
        write_wav(path, noisy(pcm, clip_seed(voice, q.id), snr_db, noise=noise))
        spoken = spoken_app.transcribe_file(path)
        transcript = spoken.text
        answer_ms = speak_ms = None
        began = time.perf_counter()
        # As `companion ask --audio` does: the knowledge base chooses among the readings nearly as likely.
        reading, answer = answerer.ask_heard(spoken.readings or (transcript,))
        if transcript:  # `companion ask` answers only what it heard
            answer_ms = (time.perf_counter() - began) * 1000
            speak_ms = speak_time(speaker, TreatmentReminder(answerer.replies.treatment_reminder).text(answer))
        out.append(Heard(q, transcript, *word_errors(q.text, transcript), judged(answerer, q, reading),
                         typed[q.id], describe(answer), spoken.decode_ms, answer_ms, speak_ms,
                         len(pcm) / 2 / SAMPLE_RATE, reading if reading != transcript else ""))
    return out


def category(parts: dict[str, Metrics]) -> dict:
    m = parts["all"]
    right, scored = right_answers(m)
    return {"right": right, "scored": scored, "right_rate": round(Metrics.rate(right, scored), 4),
            "quality": {name: part.summary() for name, part in parts.items()}}


def voice_report(heard: list[Heard], answerer: Answerer, typed: dict, misses: int) -> dict:
    words = sum(h.words for h in heard)
    wrong_words = sum(h.errors for h in heard)
    parts = evaluate(answerer, [replace(h.question, text=h.answered_as or h.transcript) for h in heard])
    result = {"questions": len(heard), "wer": round(wrong_words / max(1, words), 4), "words": words,
              "exact": sum(h.errors == 0 for h in heard), "empty": sum(not h.transcript for h in heard),
              "answered_as_another_reading": sum(bool(h.answered_as) for h in heard), **category(parts)}
    result["ratio_to_typed"] = round(result["right_rate"] / typed["right_rate"], 4) if typed["right_rate"] else None
    for part in ("top1", "off_topic_rejected", "red_flag_recall"):
        t = typed["quality"]["all"][part]
        result[f"{part}_ratio"] = round(result["quality"]["all"][part] / t, 4) if t else None
    timed = [h for h in heard if h.answer_ms is not None]
    result["decode_ms"] = percentiles([h.decode_ms for h in timed], 1)
    result["answer_ms"] = percentiles([h.answer_ms for h in timed], 2)
    result["decode_answer_ms"] = percentiles([h.decode_ms + h.answer_ms for h in timed], 1)
    spoken = [h for h in timed if h.speak_ms is not None]
    if spoken:
        result["speak_ms"] = percentiles([h.speak_ms for h in spoken], 1)
        result["end_of_speech_to_answer_ms"] = percentiles(
            [hangover(h.speech_seconds) * 1000 + h.decode_ms + h.answer_ms + h.speak_ms for h in spoken], 1)
    result["lost"] = [miss(h) for h in heard if h.typed_right and h.right is False][:misses]
    result["won"] = [miss(h) for h in heard if h.typed_right is False and h.right][:misses]
    result["worst_transcripts"] = [miss(h) for h in sorted(heard, key=lambda h: -h.errors / max(1, h.words))
                                   if h.errors][:misses]
    result["rows"] = [{**miss(h), "right": h.right, "typed_right": h.typed_right, "decode_ms": round(h.decode_ms, 1),
                       "answer_ms": None if h.answer_ms is None else round(h.answer_ms, 2),
                       "speak_ms": None if h.speak_ms is None else round(h.speak_ms, 1),
                       "speech_s": round(h.speech_seconds, 2)} for h in heard]
    return result


def miss(h: Heard) -> dict:
    return {"id": h.question.id, "said": h.question.text, "heard": h.transcript, "expected": h.question.expect,
            "got": h.got, "wer": round(h.errors / max(1, h.words), 2),
            **({"answered_as": h.answered_as} if h.answered_as else {})}


def run(args: argparse.Namespace, voices: dict[str, object]) -> dict:
    questions = load_questions(QUESTIONS)
    if 0 < args.limit < len(questions):
        picked = set(q.id for q in random.Random(SEED).sample(questions, args.limit))
        questions = [q for q in questions if q.id in picked]
    answerer = default_answerer()
    typed_parts = evaluate(answerer, questions)
    typed = category(typed_parts)
    typed_right = {q.id: judged(answerer, q, q.text) for q in questions}
    try:
        speaker = open_synthesiser("")
    except SpeechUnavailable as exc:
        print(f"the answer's synthesis is not timed: {exc}", file=sys.stderr)
        speaker = None
    load_before = os.getloadavg()[0]
    began = time.perf_counter()
    keep = Path(args.keep) if args.keep else None
    with tempfile.TemporaryDirectory(prefix="companion-spoken-") as scratch, product_transcription() as recognizer:
        folder = keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        first = next(iter(voices.items()))
        warm, _ = synthesise_all(first[1], first[0], ["How should I lift a heavy box?"])
        write_wav(folder / "warm-up.wav", noisy(warm[0], 0))
        spoken_app.transcribe_file(folder / "warm-up.wav")
        results = {}
        for voice, synthesiser in voices.items():
            load = os.getloadavg()[0]
            heard = hear_voice(voice, synthesiser, questions, answerer, typed_right, speaker, folder, args.snr,
                               args.noise)
            results[voice] = voice_report(heard, answerer, typed, args.misses)
            results[voice]["load_average"] = [round(load, 2), round(os.getloadavg()[0], 2)]
    if speaker is not None:
        speaker.close()
    return {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # 1-minute, at the start and end
        "recogniser": getattr(recognizer, "name", type(recognizer).__name__),
        "answer_voice": getattr(speaker, "voice", "") or "espeak-ng default", "snr_db": args.snr,
        "noise": args.noise,
        "pad_seconds": PAD_SECONDS, "hangover_s": FREE_HANGOVER,
        "questions": {"all": len(questions), "in_scope": typed_parts["all"].in_scope,
                      "off_topic": typed_parts["all"].off_topic, "red_flags": typed_parts["all"].red_flags,
                      "unknown": typed_parts["all"].unknown},
        "typed": typed, "voices": results, "seconds": round(time.perf_counter() - began, 1),
        "targets": {"ratio_to_typed": RATIO_TARGET, "end_of_speech_to_answer_p95_ms": LATENCY_TARGET_MS},
    }


# -- output ---------------------------------------------------------------------------------------


def _rate(part: dict, key: str, count: str) -> str:
    q = part["quality"]["all"]
    return f"{q[key]:.1%} of {q[count]}"


def rows(report: dict) -> list[list[str]]:
    typed = report["typed"]
    out = [["typed", "-", "-", _rate(typed, "top1", "in_scope"), _rate(typed, "off_topic_rejected", "off_topic"),
            _rate(typed, "red_flag_recall", "red_flags"), f"{typed['right']}/{typed['scored']} {typed['right_rate']:.1%}",
            "1.00", "-", "-"]]
    for voice, r in report["voices"].items():
        d, e = r["decode_answer_ms"], r.get("end_of_speech_to_answer_ms", {})
        out.append([f"{voice}, {report['snr_db']:.0f} dB", f"{r['wer']:.1%}", f"{r['exact']}/{r['questions']}",
                    _rate(r, "top1", "in_scope"), _rate(r, "off_topic_rejected", "off_topic"),
                    _rate(r, "red_flag_recall", "red_flags"), f"{r['right']}/{r['scored']} {r['right_rate']:.1%}",
                    f"{r['ratio_to_typed']:.2f}", f"{d['p50_ms']:.0f} / {d['p95_ms']:.0f}",
                    f"{e['p50_ms']:.0f} / {e['p95_ms']:.0f}" if e else "-"])
    return out


HEADER = ["questions", "WER", "exact", "in scope top-1", "off-topic refused", "red flags urgent", "right answer",
          "spoken / typed", "decode + answer ms p50 / p95", "end of speech to answer ms p50 / p95 (est.)"]


def render(report: dict, markdown: bool) -> str:
    table = rows(report)
    if markdown:
        lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        lines += ["| " + " | ".join(row) + " |" for row in table]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in [HEADER, *table]) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)) for row in [HEADER, *table]]
    for voice, r in report["voices"].items():
        parts = [f"decode {r['decode_ms']['p50_ms']:.0f}/{r['decode_ms']['p95_ms']:.0f}",
                 f"answer {r['answer_ms']['p50_ms']:.1f}/{r['answer_ms']['p95_ms']:.1f}"]
        if "speak_ms" in r:
            parts.append(f"answer synthesis {r['speak_ms']['p50_ms']:.0f}/{r['speak_ms']['p95_ms']:.0f}")
        lines.append(f"\n{voice}: ms p50/p95: {', '.join(parts)}, + {report['hangover_s']:.1f} s hangover; "
                     f"{r['empty']} empty transcripts, {r['answered_as_another_reading']} answered as another "
                     f"reading; load average {r['load_average'][0]:.1f} at its start, "
                     f"{r['load_average'][1]:.1f} at its end")
        for title, key in (("right typed, wrong spoken", "lost"), ("wrong typed, right spoken", "won"),
                           ("worst transcripts", "worst_transcripts")):
            if r[key]:
                lines.append(f"  {title}:")
                lines += [f"    {m['id']} ({m['expected']} -> {m['got']}, WER {m['wer']:.0%})\n"
                          f"        said:  {m['said']!r}\n        heard: {m['heard']!r}"
                          + (f"\n        taken as: {m['answered_as']!r}" if m.get("answered_as") else "")
                          for m in r[key]]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=0, help="questions sampled (seeded); 0: all (default)")
    parser.add_argument("--voices", default=",".join(DEFAULT_VOICES),
                        help=f"comma-separated flite voices (default {','.join(DEFAULT_VOICES)})")
    parser.add_argument("--snr", type=float, default=SNR_DB, help=f"dB, speech over noise (default {SNR_DB:.0f})")
    parser.add_argument("--noise", default="white", choices=("white", "pink", "babble"),
                        help="the noise mixed in (bench/testset.py; default white)")
    parser.add_argument("--misses", type=int, default=12, metavar="N", help="examples listed per kind (default 12)")
    parser.add_argument("--keep", metavar="DIR", help="write the noisy clips here and keep them")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--markdown", action="store_true", help="print the table as markdown")
    parser.add_argument("--save", metavar="FILE.json", help="also write the JSON report here")
    args = parser.parse_args()

    voices = open_voices([v.strip() for v in args.voices.split(",") if v.strip()])
    if not voices:
        sys.exit("no voice can speak here (sudo apt-get install flite)")
    try:
        report = run(args, voices)
    finally:
        for synthesiser in voices.values():
            synthesiser.close()
    if args.save:
        Path(args.save).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(report, indent=2))
        return
    q = report["questions"]
    print(f"machine: {report['machine']}; load average {report['load_average'][0]:.1f} at the start, "
          f"{report['load_average'][1]:.1f} at the end (other work slows the timings)")
    print(f"{q['all']} questions ({q['in_scope']} in scope, {q['off_topic']} off-topic, {q['red_flags']} red flags, "
          f"{q['unknown']} unknown, not scored), voices {', '.join(report['voices'])} at {report['snr_db']:.0f} dB SNR "
          f"({report['noise']}), heard by `companion ask --audio`'s transcribe_file ({report['recogniser']}); answers spoken by "
          f"{report['answer_voice']}; {report['seconds']:.0f} s")
    print(render(report, args.markdown))
    print(f"targets: spoken/typed >= {RATIO_TARGET:.2f}; end of speech to answer p95 <= {LATENCY_TARGET_MS:.0f} ms")


if __name__ == "__main__":
    main()
