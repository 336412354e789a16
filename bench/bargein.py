"""Barge-in: how fast a spoken "stop" silences the companion while it is talking.

    python bench/bargein.py            # 20 runs, a table
    python bench/bargein.py --json

The companion speaks a session's opening cues (real pyttsx3 synthesis) into an
output stream that plays in real time: this machine has no sound card, so a
stand-in consumes each 50 ms chunk at the playback rate and notes when it was
aborted and when the last sound left it. Mid-sentence, a synthesised "stop now"
with room noise goes through the endpointer and the embedded recogniser, as live,
and the runner is handed the result. Three figures per run:

- end of the spoken "stop now" -> stop understood (endpointer hangover + decoding);
- stop understood -> playback aborted (runner, speaker interrupt);
- stop understood -> no more sound written (what the user hears).

It also counts how often the policy acts on that stop (stops, or pauses and
asks) over the companion's own voice: without an echo canceller only a sure
stop counts then; with one that has learnt the room, an unsure one pauses and
asks. The stop clip here carries no echo: bench/echo.py measures stops said
over the companion's voice through a simulated room. The timings are for a stop
it acts on.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from companion.engine.clock import VirtualClock  # noqa: E402
from companion.content.library import load_library  # noqa: E402
from companion.content.phrases import load_phrases  # noqa: E402
from companion.engine.plan import PlanBuilder  # noqa: E402
from companion.engine.session import Session  # noqa: E402
from companion.language.heard import Heard  # noqa: E402
from companion.app.runner import Runner  # noqa: E402
from companion.speech.tts import speaker as sp  # noqa: E402
from companion.speech.audio.segmenter import Segmenter  # noqa: E402
from companion.speech.asr.pocketsphinx import PocketSphinxRecognizer  # noqa: E402
from companion.speech.ports import Recognition  # noqa: E402
from testset import PAD_SECONDS, add_noise, pad, synthesize  # noqa: E402
from companion.language.understanding import Understanding  # noqa: E402
from companion.language.vocabulary import load_vocabulary  # noqa: E402
from stats import percentiles  # noqa: E402 - bench/stats.py, beside this script
from voice import run_clip  # noqa: E402


class RealTimeStream:
    """Plays like a sound card: each write takes as long as its audio lasts, unless aborted."""

    def __init__(self, rate: int = 22050):
        self.rate, self.stopped = rate, True
        self.aborted_at: float | None = None
        self.silent_at: float | None = None  # when the last sound left after an abort
        self._abort = threading.Event()

    def start(self) -> None:
        self.stopped = False
        self._abort.clear()

    def write(self, data: bytes) -> None:
        if self._abort.wait(len(data) / 2 / self.rate):
            self.silent_at = time.monotonic()
            raise RuntimeError("aborted")

    def abort(self) -> None:
        self.aborted_at = time.monotonic()
        self._abort.set()
        self.stopped = True

    def close(self) -> None:
        pass


def one_run(library, vocabulary, engine, recognizer, stop_audio: bytes) -> dict[str, float] | None:
    stream = RealTimeStream()
    speaker = sp.Pyttsx3Speaker(engine=engine, stream=stream)
    phrases = load_phrases()
    plan = PlanBuilder(library.routines, phrases).for_entry(library.get("wall-standing"))
    session = Session(plan, phrases, {r.id: r.title for r in library.routines.values()})
    voice = sp.SpeakerOutput(speaker)
    runner = Runner(session, VirtualClock(), vocabulary, [voice], voice=voice)
    try:
        runner.advance_to(0.0)  # the introduction starts playing
        deadline = time.monotonic() + 5
        while not speaker.speaking() and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.3)  # well into the sentence
        segmenter = Segmenter(recognizer, load_vocabulary().meaning)
        segmenter.use_phrases(vocabulary.grammar("commands"))
        heard, heard_ms, _ = run_clip(segmenter, stop_audio, len(stop_audio) / 2 / 16000 - PAD_SECONDS,
                                      room_noise=True)
        if heard is None or vocabulary.meaning(heard.text) != "stop":
            return None
        said = runner.speaking_text()
        raw = runner.interpreter.understanding.decide(heard, speaking=True, speaking_text=said)
        cancelled = Understanding(vocabulary, echo_cancelled=lambda: True).decide(
            heard, speaking=True, speaking_text=said)
        # The timing below is for a stop it acts on at once.
        sure = Recognition(heard.text, max(heard.confidence, runner.interpreter.understanding.policy.stop), heard.engine)
        understood = time.monotonic()
        runner.hear(Heard(1.0, sure.text, "voice", sure))
        deadline = time.monotonic() + 1
        while stream.silent_at is None and time.monotonic() < deadline:
            time.sleep(0.001)
        if stream.aborted_at is None or stream.silent_at is None:
            return None
        return {"acted_raw": raw.label == "stop", "acted_cancelled": cancelled.label == "stop",
                "confidence": heard.confidence,
                "speech_end_to_stop_ms": heard_ms,
                "stop_to_abort_ms": (stream.aborted_at - understood) * 1000,
                "stop_to_silence_ms": (stream.silent_at - understood) * 1000}
    finally:
        speaker.interrupt()
        speaker.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    library, vocabulary = load_library(), load_vocabulary()
    engine = sp.open_engine(sp.Voice(rate=160))
    recognizer = PocketSphinxRecognizer(vocabulary.grammar("commands"))
    stop_audio = add_noise(pad(synthesize("stop now", voice="en-us")), 30, seed=4)
    runs, missed = [], 0
    for _ in range(args.runs):
        result = one_run(library, vocabulary, engine, recognizer, stop_audio)
        if result is None:
            missed += 1
        else:
            runs.append(result)
    report: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                    "stop_not_heard": missed,
                    "acted_on_over_its_voice_without_canceller": sum(r["acted_raw"] for r in runs),
                    "acted_on_over_its_voice_with_canceller": sum(r["acted_cancelled"] for r in runs),
                    "stop_confidence_p50": round(statistics.median(r["confidence"] for r in runs), 3) if runs else None}
    for key in ("speech_end_to_stop_ms", "stop_to_abort_ms", "stop_to_silence_ms"):
        if runs:
            report[key] = percentiles([r[key] for r in runs], digits=1)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"machine: {report['machine']}; {len(runs)} runs, stop not heard in {missed}; acted on over the "
          f"companion's voice in {report['acted_on_over_its_voice_without_canceller']} without an echo canceller, "
          f"{report['acted_on_over_its_voice_with_canceller']} with one "
          f"(median confidence {report['stop_confidence_p50']})")
    for key, figures in report.items():
        if isinstance(figures, dict):
            print(f"  {key:<24} p50 {figures['p50_ms']:7.1f} ms   p95 {figures['p95_ms']:7.1f} ms   "
                  f"max {figures['max_ms']:7.1f} ms")


if __name__ == "__main__":
    main()
