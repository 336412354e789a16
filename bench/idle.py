"""CPU while listening to a quiet room, and memory with every model loaded.

    python bench/idle.py            # 30 s of room noise, in real time
    python bench/idle.py --seconds 10 --fast

The default recogniser (keyword model + PocketSphinx + Whisper) is built as a
session builds it, Whisper is made to decode one sentence (its buffers grow on
first use), then room noise at a quiet level is streamed through the endpointer
and the recogniser in 30 ms frames, paced in real time as a microphone would
deliver it. CPU is this process's CPU time over that wall time, as a share of
one core. RSS is the peak resident memory of the process.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.testset import add_noise  # noqa: E402
from companion.language.vocabulary import load_vocabulary  # noqa: E402
from companion.speech.asr.registry import make_recognizer  # noqa: E402
from companion.speech.audio.segmenter import FRAME_BYTES, Segmenter, split_frames  # noqa: E402
from companion.speech.ports import SAMPLE_RATE  # noqa: E402

FRAME_SECONDS = FRAME_BYTES / 2 / SAMPLE_RATE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--fast", action="store_true", help="do not pace the frames in real time (CPU per audio second)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    vocabulary = load_vocabulary()
    began = time.perf_counter()
    recognizer = make_recognizer(vocabulary.grammar("commands"))
    whisper_ready = recognizer.ready()
    load_s = time.perf_counter() - began
    sentence = add_noise(b"\0" * 64000, 0, seed=5, signal_power=4e6)  # loud noise: Whisper decodes something
    recognizer.set_phrases(None)
    recognizer.start()
    recognizer.accept_whole(sentence)
    recognizer.finish()
    recognizer.set_phrases(vocabulary.grammar("commands"))

    segmenter = Segmenter(recognizer, vocabulary.meaning)
    room = add_noise(b"\0" * int(args.seconds * SAMPLE_RATE * 2), 0, seed=11, signal_power=16.0)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for index, frame in enumerate(split_frames(room)):
        segmenter.feed(frame)
        if not args.fast:
            delay = wall0 + (index + 1) * FRAME_SECONDS - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "engine": recognizer.name, "whisper_loaded": whisper_ready, "load_s": round(load_s, 2),
        "idle_cpu_share_of_one_core": round(cpu / (args.seconds if args.fast else wall), 4),
        "paced_in_real_time": not args.fast,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    print(json.dumps(report, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
