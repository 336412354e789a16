"""Echo: the companion's own voice in its microphone, and a stop said over it, with and without the canceller.

    python bench/echo.py             # every distinct cue of the 13 routine files (about 5 minutes here)
    python bench/echo.py --quick     # the wall-standing cues only
    python bench/echo.py --engine pocketsphinx --json
    python bench/echo.py --json --evidence   # with what each model made of every stop said over it

Each cue is synthesised by espeak-ng at 22050 Hz, as the speaker plays it, and
handed to the echo canceller in 30 ms steps in time with the microphone. The
microphone hears that cue through a simulated room (``testset.Room``: a sound
card that holds 60 ms, a 20 ms direct path and reflections over 250 ms, the cue
resampled to 16 kHz by another resampler than the canceller's), at the user's
speech level (0 dB) or 6 dB louder, plus room noise at 30 dB SNR. Every fourth cue a person also says a
stop phrase ("stop now", "stop", "halt", by turns) at a seeded moment in it.
One canceller runs through all cues, as through a session.

The recogniser is the companion's default (``--engine`` names another), told as
each utterance starts whether the companion is speaking then, as the live
listener tells it (``Recognizer.began_over_speech``): it speaks from the start of
the cue until its last sample has left the simulated sound card plus the
speaker's echo margin. Over its voice the fused recogniser never runs Whisper.

For each condition: how many utterances the companion's own voice produced and
how many of those the policy would act on (pause and ask, or more) while it
speaks; and of the stops said over it, how many came out as a stop phrase at
all, at or above the ask level (pause at once and ask), and at or above the
act level. Also the echo return loss enhancement (ERLE, how much quieter the
echo is after the canceller) and the canceller's cost per second of audio.
"""

from __future__ import annotations

import argparse
import array
import dataclasses
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from companion.engine.clock import VirtualClock  # noqa: E402
from companion.content.library import load_library  # noqa: E402
from companion.content.phrases import load_phrases  # noqa: E402
from companion.engine.plan import PlanBuilder  # noqa: E402
from companion.engine.session import Session  # noqa: E402
from companion.app.runner import Runner  # noqa: E402
from companion.speech.audio.echo import WebRtcEchoCanceller  # noqa: E402
from companion.speech.audio.segmenter import FRAME_BYTES, Segmenter  # noqa: E402
from companion.speech.asr.registry import ENGINES, default_engine, make_recognizer  # noqa: E402
from companion.speech.tts.speaker import DUCK_GAIN, ECHO_MARGIN  # noqa: E402
from testset import (SPEECH_RMS, EchoPath, Room, SteppedClock, _espeak, _pcm_array,  # noqa: E402
                                      _pcm_bytes, add_noise, overlay, read_wav, resample, synthesize)
from companion.language.understanding import Understanding  # noqa: E402
from companion.language.vocabulary import load_vocabulary  # noqa: E402

PLAY_RATE = 22050
STOPS = (("stop now", "en-us"), ("stop", "en-gb-x-rp"), ("halt", "en-us+f3"))
LEAD_SECONDS = 0.3
ROOM_SEED = 7
CARD_AHEAD = 2  # frames the simulated sound card holds (testset.Room's default): its output latency


class Said:
    def __init__(self) -> None:
        self.texts: set[str] = set()

    def write(self, record: dict) -> None:
        if record["kind"] == "say":
            self.texts.add(record["text"])

    def close(self) -> None:
        pass


def cues(only: str | None) -> list[str]:
    """Every distinct sentence the sessions say (or one routine's)."""
    library, phrases = load_library(), load_phrases()
    titles = {r.id: r.title for r in library.routines.values()}
    said = Said()
    for routine_id in ([only] if only else sorted(library.routines)):
        plan = PlanBuilder(library.routines, phrases).for_entry(library.get(routine_id))
        Runner(Session(plan, phrases, titles), VirtualClock(), load_vocabulary(), [said]).run()
    return sorted(said.texts)


def played_and_heard(text: str) -> tuple[bytes, bytes]:
    """The cue as played (22050 Hz) and as it reaches the microphone's converter (16 kHz), same level."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cue.wav"
        subprocess.run([_espeak(), "-v", "en-us", "-s", "160", "-w", str(path), text], check=True,
                       capture_output=True)
        samples, _ = read_wav(path)
    rms = math.sqrt(sum(v * v for v in samples) / max(1, len(samples))) or 1.0
    scaled = array.array("h", (max(-32768, min(32767, int(v * SPEECH_RMS / rms))) for v in samples))
    lead22, lead16 = bytes(int(LEAD_SECONDS * PLAY_RATE) * 2), bytes(int(LEAD_SECONDS * 16000) * 2)
    return lead22 + _pcm_bytes(scaled), lead16 + _pcm_bytes(resample(scaled, PLAY_RATE))


class Timed:
    """The canceller, with the time spent in it added up (the room simulation around it is not counted)."""

    def __init__(self, canceller: WebRtcEchoCanceller):
        self.canceller, self.seconds = canceller, 0.0

    def played(self, pcm: bytes, rate: int) -> None:
        started = time.perf_counter()
        self.canceller.played(pcm, rate)
        self.seconds += time.perf_counter() - started

    def clean(self, frame: bytes) -> bytes:
        started = time.perf_counter()
        frame = self.canceller.clean(frame)
        self.seconds += time.perf_counter() - started
        return frame

    def ready(self) -> bool:
        return self.canceller.ready()


class OverSpeech:
    """What the live listener (companion/speech/listener.py) tells the recogniser: as an utterance
    starts, whether the companion is speaking; and if it starts speaking during the utterance, that
    the utterance is over its voice after all."""

    def __init__(self, recognizer, speaking) -> None:
        self.recognizer, self.speaking = recognizer, speaking
        self.in_utterance = self.over = False

    def utterance(self, started: bool) -> None:  # the segmenter's on_speech, before anything else
        self.in_utterance = started
        if started:
            self.over = self.speaking()
            self.recognizer.began_over_speech(self.over)

    def frame(self) -> None:  # before each frame is fed
        if self.in_utterance and not self.over and self.speaking():
            self.over = True
            self.recognizer.began_over_speech(True)


def evidence(result, decision, over: bool) -> dict:
    """What each model made of one utterance (as the fused recogniser logs it), and the decision."""
    details = result.details or {}
    ps, keywords = details.get("pocketsphinx") or {}, details.get("keywords") or {}
    return {"text": result.text, "confidence": round(result.confidence, 4), "over_speech": over,
            "decision": decision.kind,
            "label": decision.label, "decided_by": details.get("decided_by", result.engine),
            "seconds": details.get("seconds"), "ps": [ps.get("text"), ps.get("confidence")] if ps else None,
            "kw": keywords.get("all_probs") or keywords.get("probs"), "whisper": "whisper" in details}


class Recorded:
    """The keyword model, with every label's probability put in the evidence (the log has the top three)."""

    def __init__(self, spotter) -> None:
        self.spotter, self.WORDS, self.last = spotter, spotter.WORDS, None

    def classify(self, pcm: bytes):
        self.last = self.spotter.classify(pcm)
        return self.last

    @staticmethod
    def take(spotter) -> dict | None:
        """Every label's probability for the utterance just decided (None if not recorded)."""
        if not isinstance(spotter, Recorded) or spotter.last is None:
            return None
        probs, spotter.last = spotter.last.probs, None
        return probs


def power(pcm: bytes) -> float:
    samples = _pcm_array(pcm)
    return sum(v * v for v in samples) / max(1, len(samples))


def condition(texts: list[str], audio: list[tuple[bytes, bytes]], stops: list[bytes], gain_db: float,
              cancel: bool, duck: bool = False, engine: str | None = None, record: bool = False) -> dict:
    vocabulary = load_vocabulary()
    recognizer = make_recognizer(vocabulary.grammar("commands"), engine, hints=vocabulary.hints())
    if not recognizer.ready():  # Whisper loads in the background; measure with every model there
        raise SystemExit(f"{recognizer.name}: a model did not load: {getattr(recognizer, 'missing', '')}")
    spotter = getattr(recognizer, "spotter", None)
    if record and spotter is not None:
        recognizer.spotter = spotter = Recorded(spotter)
    segmenter = Segmenter(recognizer, vocabulary.meaning)
    segmenter.use_phrases(vocabulary.grammar("commands"))
    clock = SteppedClock()
    canceller = Timed(WebRtcEchoCanceller(clock=clock)) if cancel else None
    understanding = Understanding(vocabulary, echo_cancelled=(canceller.ready if canceller else lambda: False))
    volume = [1.0]
    speaking_frames = [0]  # the frames of the current cue during which the companion is speaking
    step = [0]
    over_speech = OverSpeech(recognizer, lambda: step[0] < speaking_frames[0])

    def on_speech(started: bool) -> None:  # as Listener and LiveIO wire it
        over_speech.utterance(started)
        if duck:
            volume[0] = DUCK_GAIN if started and understanding.echo_cancelled() else 1.0

    segmenter.on_speech = on_speech
    policy = understanding.policy
    # One room for the whole run (it does not change between sentences), and its twin without
    # a canceller for the echo return loss.
    room = Room(EchoPath(ROOM_SEED, gain_db), canceller, clock, PLAY_RATE, FRAME_BYTES)
    twin = Room(EchoPath(ROOM_SEED, gain_db), None, None, PLAY_RATE, FRAME_BYTES)
    rng = random.Random(7)
    own_heard = own_acted = own_stop_phrases = 0
    over: list[float | None] = []
    erle: list[float] = []
    audio_seconds = 0.0
    acted_on_stop: list[bool] = []
    stop_records: list[dict] = []
    own_records: list[dict] = []
    for index, (text, (played, heard16)) in enumerate(zip(texts, audio)):
        extra = add_noise(bytes(len(heard16) + 16000), 30, seed=index, signal_power=SPEECH_RMS ** 2)
        stop_at = None
        if index % 4 == 0:
            stop = stops[index // 4 % len(stops)]
            length = len(heard16) / 32000 - LEAD_SECONDS
            stop_at = LEAD_SECONDS + rng.uniform(0.0, max(0.1, length - 0.3))
            extra = overlay(extra, stop, stop_at)
        results, cleaned, kw_probs, overs = [], bytearray(), [], []
        # Speaking (its speaking() is true) until the cue's last sample has left the sound card,
        # and for the echo margin after it; a frame is handled when it has been heard whole.
        seconds = len(played) / 2 / PLAY_RATE + CARD_AHEAD * room.seconds + ECHO_MARGIN
        speaking_frames[0] = math.ceil(seconds / room.seconds) - 1
        for step[0], frame in enumerate(room.run(played, heard16, extra, lambda: volume[0])):
            cleaned += frame
            over_speech.frame()
            if (utterance := segmenter.feed(frame)) is not None:
                results.append(utterance.recognition)
                kw_probs.append(Recorded.take(spotter))
                overs.append(over_speech.over)
        if (utterance := segmenter.flush()) is not None:
            results.append(utterance.recognition)
            kw_probs.append(Recorded.take(spotter))
            overs.append(over_speech.over)
        if record:  # every label's probability, in place of the log's top three
            results = [r if p is None or "keywords" not in r.details else dataclasses.replace(
                r, details={**r.details, "keywords": {**r.details["keywords"], "all_probs": {
                    k: round(v, 4) for k, v in sorted(p.items(), key=lambda kv: -kv[1])}}})
                for r, p in zip(results, kw_probs)]
        volume[0] = 1.0
        audio_seconds += len(extra) / 32000
        raw = b"".join(twin.run(played, heard16, extra)) if canceller is not None else b""
        if stop_at is None:
            if canceller is not None and understanding.echo_cancelled():
                erle.append(10 * math.log10(max(power(raw), 1.0) / max(power(bytes(cleaned)), 1.0)))
            for result, began_over in zip(results, overs):
                own_heard += 1
                own_stop_phrases += vocabulary.meaning(result.text) == "stop"
                decision = understanding.decide(result, speaking=True, speaking_text=text)
                own_acted += decision.kind != "ignore"
                if record:
                    own_records.append({"cue": text, **evidence(result, decision, began_over)})
        else:
            stop_confidences = [r.confidence for r in results if vocabulary.meaning(r.text) == "stop"]
            over.append(max(stop_confidences) if stop_confidences else None)
            decisions = [understanding.decide(r, speaking=True, speaking_text=text) for r in results]
            acted_on_stop.append(any(d.label == "stop" for d in decisions))
            if record:
                said = STOPS[index // 4 % len(STOPS)][0]
                stop_records.append({"cue": text, "stop": said, "at": round(stop_at, 2),
                                     "acted_on": acted_on_stop[-1],
                                     "utterances": [evidence(r, d, o) for r, d, o in zip(results, decisions, overs)]})
    heard = [c for c in over if c is not None]
    recorded = {"stops": stop_records, "own_voice": own_records} if record else {}
    return {
        "engine": recognizer.name, "echo_db": gain_db,
        "canceller": ("webrtc-aec3" + (" + ducking" if duck else "")) if cancel else "none",
        "cues": len(texts) - len(over), "own_voice_utterances": own_heard,
        "own_voice_heard_as_stop": own_stop_phrases, "own_voice_acted_on": own_acted,
        "stops_said_over_voice": len(over), "stop_phrase_heard": len(heard),
        "stop_acted_on": sum(acted_on_stop),
        "stop_at_act_level": sum(c >= policy.stop for c in heard),
        "erle_db_median": round(statistics.median(erle), 1) if erle else None,
        "canceller_ms_per_audio_second": round(canceller.seconds * 1000 / audio_seconds, 2) if cancel else None,
        **recorded,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="only the wall-standing cues")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--engine", choices=ENGINES, default=default_engine(),
                        help="recogniser (default: the companion's, %(default)s)")
    parser.add_argument("--evidence", action="store_true",
                        help="with --json: each stop said over its voice and each own-voice utterance, "
                             "with what every model made of it")
    args = parser.parse_args()

    texts = cues("wall-standing" if args.quick else None)
    audio = [played_and_heard(text) for text in texts]
    stops = [synthesize(text, voice=voice) for text, voice in STOPS]
    results = [condition(texts, audio, stops, gain, cancel, duck, args.engine, args.evidence)
               for gain in (0.0, 6.0) for cancel, duck in ((False, False), (True, False), (True, True))]
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "engine": args.engine, "distinct_cues": len(texts), "conditions": results}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"machine: {report['machine']}; engine {args.engine}; {len(texts)} distinct cues, "
          "a stop said over every fourth")
    print(f"{'echo':>6} {'canceller':<22} {'own voice: heard':>17} {'as stop':>8} {'acted on':>9}   "
          f"{'stop over voice: heard':>23} {'acted':>6} {'>=act':>6}   {'ERLE':>6} {'cost':>10}")
    for r in results:
        erle = f"{r['erle_db_median']:.1f}" if r["erle_db_median"] is not None else "-"
        cost = f"{r['canceller_ms_per_audio_second']} ms/s" if r["canceller_ms_per_audio_second"] else "-"
        print(f"{r['echo_db']:+5.0f}  {r['canceller']:<22} {r['own_voice_utterances']:>17} "
              f"{r['own_voice_heard_as_stop']:>8} {r['own_voice_acted_on']:>9}   "
              f"{r['stop_phrase_heard']:>16} of {r['stops_said_over_voice']:<4} {r['stop_acted_on']:>6} "
              f"{r['stop_at_act_level']:>6}   {erle:>6} {cost:>10}")


if __name__ == "__main__":
    main()
