"""Keyword model (MLPerf Tiny DS-CNN): recall per word, false commands, time per clip.

    python bench/keywords.py          # ../shared/speech-real and ../shared/speech-dev (about a minute here)
    python bench/keywords.py --json

Every clip goes through ``KeywordSpotter.classify`` whole, as the listener
hands it an utterance, in four conditions:

- *bare*: the one-second recording as it is;
- *padded*: 0.3-0.8 s of real room noise (``speech-real/_silence_``) before and
  after it, 10-30 dB below the loudest 200 ms of the speech, as the endpointer
  leaves room noise around an utterance;
- *short*: only the spoken part (within 30 dB of the loudest frame, plus 0.1 s)
  with 0.05-0.3 s of that noise either side, often under one second;
- *loud*: as padded but only 0-10 dB below the speech (a stress test).

Times are per ``classify`` call: wall clock (what the listener waits) and the
thread's CPU time (the same without other processes' load).

A command word counts when the top label is that word; an other word or a
noise clip counts as false when the top label is any of the ten words. Noise
clips are padded with a second noise recording at their own level. Everything
is seeded from the file names, so every run hears the same audio.
speech-real holds speakers the model never heard (the Speech Commands test
split); most speech-dev speakers were in its training data, so its figures are
optimistic.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import platform
import sys
import time
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from companion.speech.asr.keywords import WORDS, KeywordSpotter  # noqa: E402
from stats import percentiles  # noqa: E402 - bench/stats.py, beside this script

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SETS = ("speech-real", "speech-dev")
NOISE = "_silence_"
CONDITIONS = ("bare", "padded", "short", "loud")
RATE = 16000


def read(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as w:
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)


def rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def loudest(x: np.ndarray) -> float:
    """RMS of the loudest 200 ms (ten 20 ms frames): the speech level."""
    n = len(x) // 320
    energy = (x[:n * 320].reshape(n, 320) ** 2).mean(axis=1)
    return float(np.sqrt(np.sort(energy)[-10:].mean()))


def noise(noises: list[np.ndarray], r: np.random.Generator, seconds: float, level: float) -> np.ndarray:
    """``seconds`` of one of the room recordings, at RMS ``level``."""
    source = noises[r.integers(len(noises))]
    n = max(320, int(seconds * RATE))
    start = int(r.integers(0, len(source) - n + 1)) if len(source) > n else 0
    piece = np.resize(source[start:start + n], n)
    piece = piece - piece.mean()
    return piece * level / (np.sqrt((piece ** 2).mean()) + 1e-9)


def spoken(x: np.ndarray, below_db: float = 30.0, margin: float = 0.1) -> np.ndarray:
    """The part of a clip within ``below_db`` of its loudest 20 ms frame, plus ``margin`` seconds."""
    n = len(x) // 320
    energy = (x[:n * 320].reshape(n, 320) ** 2).mean(axis=1) + 1e-3
    on = np.nonzero(10 * np.log10(energy / energy.max()) > -below_db)[0]
    first = max(0, on[0] * 320 - int(margin * RATE))
    last = min(len(x), (on[-1] + 1) * 320 + int(margin * RATE))
    return x[first:last]


def surround(x: np.ndarray, noises: list[np.ndarray], r: np.random.Generator, seconds: tuple[float, float],
             below_db: tuple[float, float]) -> np.ndarray:
    level = loudest(x) / 10 ** (r.uniform(*below_db) / 20)
    before = noise(noises, r, r.uniform(*seconds), level)
    after = noise(noises, r, r.uniform(*seconds), level)
    return np.concatenate([before, x, after])


def variants(path: Path, label: str, x: np.ndarray, noises: list[np.ndarray]) -> dict[str, np.ndarray]:
    key = f"{path.parent.name}/{path.name}"
    if label == NOISE:
        own = float(np.sqrt((x ** 2).mean())) + 1.0
        r = rng(key, "padded")
        padded = np.concatenate([noise(noises, r, r.uniform(0.3, 0.8), own), x,
                                 noise(noises, r, r.uniform(0.3, 0.8), own)])
        r = rng(key, "short")
        return {"bare": x, "padded": padded, "short": x[:int(r.uniform(0.5, 1.0) * RATE)], "loud": padded}
    return {"bare": x,
            "padded": surround(x, noises, rng(key, "padded"), (0.3, 0.8), (10, 30)),
            "short": surround(spoken(x), noises, rng(key, "short"), (0.05, 0.3), (10, 30)),
            "loud": surround(x, noises, rng(key, "loud"), (0.3, 0.8), (0, 10))}


def pcm(x: np.ndarray) -> bytes:
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def clips(folder: Path) -> list[tuple[str, Path]]:
    return [(sub.name, path) for sub in sorted(folder.iterdir()) if sub.is_dir() and sub.name != "licenses"
            for path in sorted(sub.glob("*.wav"))]


def measure(spotter: KeywordSpotter, folder: Path, noises: list[np.ndarray]) -> list[dict]:
    """Every clip of ``folder`` in every condition: what the spotter said and how long it took."""
    rows = []
    for label, path in clips(folder):
        for condition, audio in variants(path, label, read(path), noises).items():
            data = pcm(audio)
            started = time.thread_time()
            scores = spotter.classify(data)
            rows.append({"condition": condition, "label": label, "top": scores.top, "prob": scores.top_prob,
                         "ms": scores.ms, "cpu_ms": (time.thread_time() - started) * 1000,
                         "seconds": len(audio) / RATE})
    return rows


def summarise(rows: list[dict], threshold: float = 0.0) -> dict:
    """Figures of one condition; a command below ``threshold`` counts as not heard."""
    def said(row: dict) -> str:
        return row["top"] if row["top"] in WORDS and row["prob"] >= threshold else ""

    commands = [r for r in rows if r["label"] in WORDS]
    others = [r for r in rows if r["label"] not in WORDS and r["label"] != NOISE]
    noise_rows = [r for r in rows if r["label"] == NOISE]
    per_word = collections.defaultdict(list)
    for row in commands:
        per_word[row["label"]].append(said(row) == row["label"])
    false_others = collections.Counter(f"{r['label']}->{said(r)}" for r in others if said(r))

    def share(hits: int, count: int) -> float | None:
        return round(hits / count, 3) if count else None

    return {
        "recall": {w: share(sum(per_word[w]), len(per_word[w])) for w in WORDS if per_word[w]},
        "clips": {w: len(per_word[w]) for w in WORDS if per_word[w]},
        "commands": share(sum(said(r) == r["label"] for r in commands), len(commands)),
        "wrong_command": share(sum(said(r) not in ("", r["label"]) for r in commands), len(commands)),
        "other_false": share(sum(false_others.values()), len(others)),
        "other_clips": len(others),
        "other_false_which": dict(false_others.most_common()),
        "noise_false": share(sum(bool(said(r)) for r in noise_rows), len(noise_rows)),
        "noise_clips": len(noise_rows),
        "seconds_p50": round(float(np.median([r["seconds"] for r in rows])), 2),
        **percentiles([r["ms"] for r in rows], digits=2),
        "cpu_p50_ms": percentiles([r["cpu_ms"] for r in rows], digits=2)["p50_ms"],
        "cpu_p95_ms": percentiles([r["cpu_ms"] for r in rows], digits=2)["p95_ms"],
    }


THRESHOLDS = (0.5, 0.7, 0.8, 0.9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--shared", type=Path, default=SHARED,
                        help="the folder holding speech-real/ and speech-dev/")
    args = parser.parse_args()
    present = [name for name in SETS if (args.shared / name).is_dir()]
    if not present:
        sys.exit(f"No recordings: neither {args.shared / SETS[0]} nor {args.shared / SETS[1]} exists")
    noise_folder = next(args.shared / name / NOISE for name in present if (args.shared / name / NOISE).is_dir())
    noises = [read(p) for p in sorted(noise_folder.glob("*.wav"))]
    began = time.perf_counter()
    spotter = KeywordSpotter()
    report = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "load_ms": round(spotter.load_ms, 1), "noise_from": str(noise_folder)}
    for name in present:
        rows = measure(spotter, args.shared / name, noises)
        report[name] = {c: summarise([r for r in rows if r["condition"] == c]) for c in CONDITIONS}
        report[name]["thresholds"] = {str(t): {c: summarise([r for r in rows if r["condition"] == c], t)
                                               for c in CONDITIONS} for t in THRESHOLDS}
    report["seconds"] = round(time.perf_counter() - began, 1)
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"machine: {report['machine']}; model load {report['load_ms']} ms; room noise from {noise_folder}")
    for name in present:
        figures = report[name]
        print(f"\n{name}: recall per command word (clips), by condition")
        print(f"  {'word':<7}" + "".join(f"{c:>9}" for c in CONDITIONS))
        for word in WORDS:
            if word in figures["bare"]["recall"]:
                print(f"  {word:<7}" + "".join(f"{figures[c]['recall'][word] * 100:8.1f}%" for c in CONDITIONS)
                      + f"   ({figures['bare']['clips'][word]})")
        print(f"  {'all':<7}" + "".join(f"{figures[c]['commands'] * 100:8.1f}%" for c in CONDITIONS))
        bare = figures["bare"]
        print(f"  other words taken for a command ({bare['other_clips']} clips): "
              + ", ".join(f"{c} {figures[c]['other_false'] * 100:.1f}%" for c in CONDITIONS))
        print("  command words taken for another command: "
              + ", ".join(f"{c} {figures[c]['wrong_command'] * 100:.1f}%" for c in CONDITIONS))
        print(f"  noise taken for a command ({bare['noise_clips']} clips): "
              + ", ".join(f"{c} {figures[c]['noise_false'] * 100:.1f}%" for c in CONDITIONS))
        for c in CONDITIONS:
            which = figures[c]["other_false_which"]
            if which:
                print(f"    {c}: " + ", ".join(f"{k} x{v}" if v > 1 else k for k, v in which.items()))
        print("  acting only at top_prob >= t: recall / wrong command / other words taken, by condition")
        for t, by_condition in figures["thresholds"].items():
            print(f"    t={t:<4}" + "".join(
                f"  {c} {f['commands'] * 100:.1f} / {f['wrong_command'] * 100:.1f} / {f['other_false'] * 100:.1f}"
                for c, f in by_condition.items()))
        print("  ms per clip, p50 / p95 (audio length p50):")
        for c in CONDITIONS:
            f = figures[c]
            print(f"    {c:<7} wall {f['p50_ms']} / {f['p95_ms']}, CPU {f['cpu_p50_ms']} / {f['cpu_p95_ms']} "
                  f"({f['seconds_p50']} s)")
    print(f"\n{report['seconds']} s in all")


if __name__ == "__main__":
    main()
