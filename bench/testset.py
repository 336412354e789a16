"""A deterministic, synthetic test set of spoken commands (for tests and benchmarks only).

Nothing in the app imports this at run time; ``tests/`` and ``bench/`` do. The one
exception planned is :func:`load_wav_16k`, which ``companion listen WAV...`` may
import lazily (the module's top level imports only the standard library and
:mod:`companion.speech.ports`, :mod:`~companion.speech.tts.speaker` and
:mod:`~companion.speech.audio.wav`, whose own top levels are standard library too, so that
is cheap).

What it makes (see :func:`generate`):

- **command** clips: every phrase of ``content/vocabulary.yaml`` (label: the command's
  value, e.g. ``"how_many_left"``), plus the answers that will join the vocabulary:
  "yes" / "no" (labels ``"yes"`` / ``"no"``), "zero".."ten" (``"number:N"``) and
  "question" / "i have a question" (``"question"``);
- **oog** clips: everyday and TV-like sentences and sound-alike words from
  ``bench/out_of_grammar.txt`` (label ``None``);
- **noise** clips: seeded non-speech bursts - white, pink, cough, clap, click, mains
  hum at 50 and 100 Hz, babble (label ``None``).

Speech is espeak-ng (``espeak-ng -v VOICE -s SPEED -p PITCH -w out.wav TEXT``), trimmed,
brought to one speech level (RMS 1600, about -26 dBFS), resampled from 22050 Hz to
16 kHz in pure Python (a windowed-sinc polyphase filter, so the bytes are the same on
every Python version; ``audioop`` is gone in 3.13), padded with 0.3 s before and after,
and mixed with background noise over the whole clip at a target SNR. The "clean"
condition is SNR 60 dB of white noise (dither): a real microphone is never digitally
silent, and PocketSphinx does worse on digital silence.

SNR is defined as 10*log10(P_speech / P_noise) with P_speech the mean square of the
speech between its first and last sample above the silence threshold (the padding is
not counted) and P_noise the mean square of the added noise over the whole clip.

Every random choice comes from a seed derived with SHA-256 from ``(seed, clip id)``,
so a clip's bytes do not depend on worker count, order or process.
"""

from __future__ import annotations

import array
import hashlib
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from functools import lru_cache
from pathlib import Path

from companion.speech.ports import SAMPLE_RATE
from companion.speech.tts.speaker import scaled

GENERATOR_VERSION = 1

VOICES = ("en-us", "en", "en-gb-x-rp", "en-us+f3")
SPEEDS = (140, 175, 210)  # words per minute (espeak-ng -s)
PITCHES = (35, 50, 70)  # 0..99 (espeak-ng -p)
CLEAN_SNR_DB = 60.0  # "clean" = faint white dither
SNRS_DB = (CLEAN_SNR_DB, 40.0, 20.0, 10.0)
NOISE_TYPES = ("white", "pink", "babble")
BURST_TYPES = ("white", "pink", "cough", "clap", "click", "hum50", "hum100", "babble")
PAD_SECONDS = 0.3
SPEECH_RMS = 1600.0  # every utterance is brought to this level before noise is added
SILENCE_THRESHOLD = 32  # |sample| at or below this counts as silence when trimming
BACKGROUND_RMS = 4.0  # dither under the non-speech bursts (about the clean speech dither)

SMALL_EXTRA_CONDITIONS = 40
SMALL_OOG = 40
SMALL_NOISE = 10
FULL_OOG_SNRS_PER_VOICE = 2
FULL_NOISE_PER_TYPE = 7

OOG_FILE = Path(__file__).resolve().parent / "out_of_grammar.txt"

# Answers and question mode: not in vocabulary.yaml yet, labelled here.
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
EXTRA_ITEMS: tuple[tuple[str, str], ...] = (
    ("yes", "yes"),
    ("no", "no"),
    *((word, f"number:{n}") for n, word in enumerate(NUMBER_WORDS)),
    ("question", "question"),
    ("i have a question", "question"),
)

# Vocabulary phrases are normalised ("im ready"); espeak-ng reads "im" as /Im/, so
# speak the written form. The clip's text stays the normalised phrase.
_SPOKEN_WORDS = {"im": "I'm", "thats": "that's", "whats": "what's", "lets": "let's",
                 "dont": "don't", "ill": "I'll", "i": "I", "youre": "you're", "its": "it's"}


class EspeakUnavailable(RuntimeError):
    """espeak-ng cannot be run here; the message says what is missing."""


@dataclass(frozen=True)
class Clip:
    """One WAV of the test set (16 kHz, mono, 16-bit) and what it should be recognised as."""

    path: Path
    text: str  # what is said: a normalised vocabulary phrase, an OOG line as written, "" for noise
    expected_label: str | None  # command value, "yes", "no", "number:N", "question"; None to reject
    voice: str | None
    speed: int | None
    pitch: int | None
    snr_db: float | None  # 60.0 = clean (dither only); None for non-speech clips
    kind: str  # "command" | "oog" | "noise"
    noise: str = ""  # background: "dither" | "white" | "pink" | "babble"; for kind "noise" the burst type
    noise_seed: int = 0  # seeds this clip's noise; derived from (generate seed, path)


from companion.speech.audio.wav import (  # noqa: E402,F401 - re-exported for tests and tools
    _clamp16, _pcm_array, _pcm_bytes, load_wav_16k, read_wav, resample, write_wav)


# --------------------------------------------------------------------------- noise

def _clip_rng(*parts: object) -> int:
    """A 63-bit seed from any parts, stable across processes and Python versions."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@lru_cache(maxsize=1)
def _gauss_table() -> tuple[float, ...]:
    """65536 quantiles of the standard normal distribution (a fast, exact-enough sampler)."""
    from statistics import NormalDist

    normal = NormalDist()
    return tuple(normal.inv_cdf((i + 0.5) / 65536) for i in range(65536))


def _gaussian(n: int, rng: random.Random) -> list[float]:
    """``n`` standard normal samples (tails cut at 4.3 sigma); ~20x faster than rng.gauss."""
    index = array.array("H")
    index.frombytes(rng.randbytes(2 * n))
    if sys.byteorder == "big":
        index.byteswap()
    return list(map(_gauss_table().__getitem__, index))


def _white(n: int, rng: random.Random) -> list[float]:
    return _gaussian(n, rng)


def _pink(n: int, rng: random.Random) -> list[float]:
    """Pink-ish noise: white through Paul Kellet's three-pole 'economy' filter."""
    b0 = b1 = b2 = 0.0
    out = []
    append = out.append
    for w in _gaussian(n + 2000, rng):  # the first samples warm the filter up
        b0 = 0.99765 * b0 + w * 0.0990460
        b1 = 0.96300 * b1 + w * 0.2965164
        b2 = 0.57000 * b2 + w * 1.0526913
        append(b0 + b1 + b2 + w * 0.1848)
    return out[2000:]


_BABBLE_SECONDS = 8.0
_BABBLE_TALKERS = 6
_BABBLE_CACHE: list[float] | None = None


def _babble_track() -> list[float]:
    """8 s of babble-like noise (unit RMS): six synthetic 'talkers' at once.

    Each talker is a crude formant voice: syllables of 120-300 ms (raised-cosine
    envelopes, pauses between), voiced (a pulse train at a drifting F0, male or female
    range) or unvoiced (noise), through two resonators whose formants change per
    syllable. Fixed seed: like a recording of a noisy room, reused at random offsets.
    """
    global _BABBLE_CACHE
    if _BABBLE_CACHE is None:
        n = int(_BABBLE_SECONDS * SAMPLE_RATE)
        mix = [0.0] * n
        for talker in range(_BABBLE_TALKERS):
            rng = random.Random(_clip_rng("babble", talker))
            voice = _babble_talker(n, rng, female=talker % 2 == 1)
            for i, v in enumerate(voice):
                mix[i] += v
        rms = math.sqrt(sum(v * v for v in mix) / n)
        _BABBLE_CACHE = [v / rms for v in mix]
    return _BABBLE_CACHE


def _resonator(freq: float, bandwidth: float) -> tuple[float, float, float]:
    r = math.exp(-math.pi * bandwidth / SAMPLE_RATE)
    a1 = 2 * r * math.cos(2 * math.pi * freq / SAMPLE_RATE)
    a2 = -r * r
    gain = 1 - r
    return gain, a1, a2


def _babble_talker(n: int, rng: random.Random, female: bool) -> list[float]:
    out = [0.0] * n
    base_f0 = rng.uniform(175, 240) if female else rng.uniform(90, 135)
    level = rng.uniform(0.6, 1.4)
    i = int(rng.uniform(0, 0.4) * SAMPLE_RATE)
    while i < n:
        length = int(rng.uniform(0.12, 0.30) * SAMPLE_RATE)
        voiced = rng.random() < 0.8
        f0 = base_f0 * rng.uniform(0.85, 1.15)
        f0_end = f0 * rng.uniform(0.9, 1.1)
        g1, a11, a12 = _resonator(rng.uniform(300, 850), 90)
        g2, a21, a22 = _resonator(rng.uniform(900, 2300), 140)
        y11 = y12 = y21 = y22 = 0.0
        phase = 0.0
        gauss = rng.gauss
        for j in range(min(length, n - i)):
            f = f0 + (f0_end - f0) * j / length
            phase += f / SAMPLE_RATE
            if voiced:
                if phase >= 1.0:
                    phase -= 1.0
                    src = 8.0
                else:
                    src = 0.0
                src += 0.15 * gauss(0.0, 1.0)
            else:
                src = 0.6 * gauss(0.0, 1.0)
            y1 = g1 * src + a11 * y11 + a12 * y12
            y12, y11 = y11, y1
            y2 = g2 * src + a21 * y21 + a22 * y22
            y22, y21 = y21, y2
            env = math.sin(math.pi * j / length)
            out[i + j] = level * env * (y1 + 0.6 * y2)
        i += length
        i += int((rng.uniform(0.3, 0.8) if rng.random() < 0.15 else rng.uniform(0.02, 0.10)) * SAMPLE_RATE)
    return out


def _babble_noise(n: int, rng: random.Random) -> list[float]:
    track = _babble_track()
    start = rng.randrange(len(track))
    return [track[(start + i) % len(track)] for i in range(n)]


_NOISES = {"white": _white, "pink": _pink, "babble": _babble_noise, "dither": _white}


def make_noise(kind: str, n: int, seed: int) -> list[float]:
    """``n`` samples of background noise of ``kind`` scaled to RMS exactly 1."""
    if kind not in _NOISES:
        raise ValueError(f"unknown noise {kind!r}; one of {', '.join(_NOISES)}")
    if n <= 0:
        return []
    noise = _NOISES[kind](n, random.Random(seed))
    rms = math.sqrt(sum(v * v for v in noise) / n) or 1.0
    return [v / rms for v in noise]


def active_span(samples: array.array | list[int], threshold: int = SILENCE_THRESHOLD) -> tuple[int, int]:
    """(start, end) of the part between the first and last sample louder than ``threshold``."""
    n = len(samples)
    start = 0
    while start < n and abs(samples[start]) <= threshold:
        start += 1
    end = n
    while end > start and abs(samples[end - 1]) <= threshold:
        end -= 1
    return start, end


def speech_power(pcm: bytes) -> float:
    """Mean square of the active part (leading and trailing silence excluded)."""
    samples = _pcm_array(pcm)
    start, end = active_span(samples)
    if end <= start:
        return 0.0
    return sum(v * v for v in samples[start:end]) / (end - start)


def add_noise(pcm: bytes, snr_db: float, seed: int, *, noise: str = "white",
              signal_power: float | None = None) -> bytes:
    """``pcm`` (16-bit mono) plus seeded noise over its whole length at ``snr_db``.

    The signal power is :func:`speech_power` of ``pcm`` (so zero padding does not
    count) unless given. ``noise`` is "white", "pink" or "babble". Output is clipped
    to 16 bits.
    """
    samples = _pcm_array(pcm)
    power = speech_power(pcm) if signal_power is None else signal_power
    if power <= 0:
        raise ValueError("add_noise: the signal is silent, so an SNR means nothing")
    gain = math.sqrt(power / 10 ** (snr_db / 10))
    unit = make_noise(noise, len(samples), seed)
    return _pcm_bytes(_clamp16(s + gain * u for s, u in zip(samples, unit)))


def pad(pcm: bytes, seconds: float = PAD_SECONDS) -> bytes:
    """Digital silence before and after (the noise added afterwards fills it)."""
    zeros = bytes(2 * int(round(seconds * SAMPLE_RATE)))
    return zeros + pcm + zeros


class EchoPath:
    """How audio played in a room comes back into a microphone, a piece at a time (for a loop in
    which what is played depends on what was heard): a direct path after ``delay`` seconds plus
    seeded reflections dying away over ``tail`` seconds (a sparse room impulse response),
    ``gain_db`` relative to the played level. Linear, so kinder than a real loudspeaker, which
    adds distortion an echo canceller cannot model."""

    def __init__(self, seed: int, gain_db: float = 0.0, delay: float = 0.02, tail: float = 0.25,
                 reflections: int = 24):
        rng, scale = random.Random(seed), 10 ** (gain_db / 20)
        self._taps = [(int(delay * SAMPLE_RATE), 0.7 * scale)]
        for _ in range(reflections):
            lag = rng.uniform(0.003, tail)
            weight = rng.choice((-1, 1)) * 0.35 * math.exp(-6.9 * lag / tail)
            self._taps.append((int((delay + lag) * SAMPLE_RATE), weight * scale))
        self.length = max(lag for lag, _ in self._taps) + 1
        self._history: list[int] = [0] * self.length  # the last played samples, oldest first

    def push(self, samples: array.array | list[int]) -> bytes:
        """The echo heard while ``samples`` (16 kHz) play: as many samples out as in."""
        history = self._history + list(samples)
        base = len(self._history)
        out = [0.0] * len(samples)
        for lag, weight in self._taps:
            for i in range(len(samples)):
                out[i] += weight * history[base + i - lag]
        self._history = history[-self.length:]
        return _pcm_bytes(_clamp16(out))


def overlay(base: bytes, extra: bytes, at: float) -> bytes:
    """``extra`` added into ``base`` from ``at`` seconds on (``base`` grows to fit it)."""
    a, b = _pcm_array(base), _pcm_array(extra)
    start = int(at * SAMPLE_RATE)
    out = list(a) + [0] * max(0, start + len(b) - len(a))
    for i, v in enumerate(b, start):
        out[i] += v
    return _pcm_bytes(_clamp16(out))


class SteppedClock:
    """Time that moves only when told (for an echo canceller driven frame by frame)."""

    def __init__(self, start: float = 100.0):
        self.now = start

    def __call__(self) -> float:
        return self.now


class Room:
    """The companion speaking and listening at once in a simulated room, 30 ms at a time.

    Each step the speaker hands the next 30 ms of what it plays (at its current
    ``volume()``; silence once the sentence is over, as the real speaker keeps the
    sound card fed) to the sound card and to the echo canceller. The sound card
    holds ``ahead`` steps before playing them, as a real one buffers; the
    microphone hears what plays through ``path`` plus ``extra`` (a person, room
    noise), and its frame comes back through the canceller (if any). Closed loop:
    the volume may change because of what was heard. Run it sentence after
    sentence: the room, its sound card and its echo carry on.
    """

    def __init__(self, path: EchoPath, canceller=None, clock: SteppedClock | None = None,
                 rate: int = 22050, frame_bytes: int = 960, ahead: int = 2):
        self.path, self.canceller, self.clock, self.rate = path, canceller, clock, rate
        self.frame_bytes = frame_bytes
        self.seconds = frame_bytes / 2 / SAMPLE_RATE
        self._card: list[bytes] = []  # 16 kHz audio handed over and not yet played
        for _ in range(ahead):
            self._hand_over(b"", b"", 0, 1.0)

    def _hand_over(self, played: bytes, played_16k: bytes, index: int, gain: float) -> None:
        # 30 ms is 661.5 samples at 22050 Hz: chunks of 661 and 662, so playback keeps time.
        start, end = (round(i * self.rate * self.seconds) * 2 for i in (index, index + 1))
        if self.canceller is not None:
            chunk = played[start:end]
            self.canceller.played(scaled(chunk + bytes(end - start - len(chunk)), gain), self.rate)
        part = played_16k[index * self.frame_bytes:(index + 1) * self.frame_bytes]
        self._card.append(scaled(part + bytes(self.frame_bytes - len(part)), gain))

    def run(self, played: bytes, played_16k: bytes, extra: bytes, volume=lambda: 1.0):
        """Yield the microphone frames heard while ``played`` (at ``rate``; ``played_16k`` is the
        same at 16 kHz) plays, for as long as ``extra`` lasts."""
        for index in range(len(extra) // self.frame_bytes):
            self._hand_over(played, played_16k, index, volume())
            echo = _pcm_array(self.path.push(_pcm_array(self._card.pop(0))))
            said = _pcm_array(extra[index * self.frame_bytes:(index + 1) * self.frame_bytes])
            heard = _pcm_bytes(_clamp16(e + x for e, x in zip(echo, said)))
            if self.canceller is None:
                yield heard
                continue
            self.clock.now += self.seconds
            yield self.canceller.clean(heard)


# --------------------------------------------------------------------------- non-speech bursts

def noise_burst(kind: str, seed: int) -> bytes:
    """A padded non-speech clip of ``kind`` (one of :data:`BURST_TYPES`) over faint dither."""
    rng = random.Random(seed)
    sr = SAMPLE_RATE
    if kind in ("white", "pink", "babble"):
        n = int(rng.uniform(0.4, 1.2) * sr)
        body = make_noise(kind, n, rng.getrandbits(63))
        ramp = int(0.01 * sr)
        level = rng.uniform(400, 4000)
        body = [level * v * min(1.0, i / ramp, (n - 1 - i) / ramp) for i, v in enumerate(body)]
    elif kind == "cough":
        body = []
        for _ in range(rng.choice((1, 1, 2))):
            n = int(rng.uniform(0.25, 0.40) * sr)
            attack, tau = int(0.015 * sr), rng.uniform(0.06, 0.14) * sr
            g1, a11, a12 = _resonator(rng.uniform(400, 700), 250)
            g2, a21, a22 = _resonator(rng.uniform(1400, 2600), 500)
            y11 = y12 = y21 = y22 = 0.0
            peak = rng.uniform(8000, 18000)
            shaped = []
            for i in range(n):
                w = rng.gauss(0.0, 1.0)
                y1 = g1 * w + a11 * y11 + a12 * y12
                y12, y11 = y11, y1
                y2 = g2 * w + a21 * y21 + a22 * y22
                y22, y21 = y21, y2
                env = i / attack if i < attack else math.exp(-(i - attack) / tau)
                shaped.append(env * (y1 + 0.7 * y2 + 0.05 * w))
            top = max(map(abs, shaped)) or 1.0
            body += [peak * v / top for v in shaped]
            body += [0.0] * int(rng.uniform(0.15, 0.35) * sr)
    elif kind in ("clap", "click"):
        body = []
        for _ in range(rng.randint(1, 3)):
            if kind == "clap":
                n, tau, attack = int(0.12 * sr), rng.uniform(0.006, 0.015) * sr, 16
            else:
                n, tau, attack = int(0.02 * sr), rng.uniform(0.0005, 0.0015) * sr, 1
            peak = rng.uniform(8000, 24000)
            shaped = [(i / attack if i < attack else math.exp(-(i - attack) / tau)) * rng.gauss(0.0, 1.0)
                      for i in range(n)]
            top = max(map(abs, shaped)) or 1.0
            body += [peak * v / top for v in shaped]
            body += [0.0] * int(rng.uniform(0.15, 0.45) * sr)
    elif kind in ("hum50", "hum100"):
        f0 = 50.0 if kind == "hum50" else 100.0
        n = int(rng.uniform(0.8, 1.5) * sr)
        level = rng.uniform(300, 3000)
        harmonics = ((1, 1.0), (2, 0.35), (3, 0.5), (5, 0.2)) if f0 == 50 else ((1, 1.0), (2, 0.4), (3, 0.2))
        phases = [rng.uniform(0, 2 * math.pi) for _ in harmonics]
        ramp = int(0.05 * sr)
        body = [level * min(1.0, i / ramp, (n - 1 - i) / ramp)
                * sum(a * math.sin(2 * math.pi * f0 * h * i / sr + ph) for (h, a), ph in zip(harmonics, phases))
                for i in range(n)]
    else:
        raise ValueError(f"unknown burst {kind!r}; one of {', '.join(BURST_TYPES)}")
    padding = [0.0] * int(PAD_SECONDS * sr)
    signal = padding + body + padding
    dither = make_noise("white", len(signal), rng.getrandbits(63))
    return _pcm_bytes(_clamp16(s + BACKGROUND_RMS * d for s, d in zip(signal, dither)))


# --------------------------------------------------------------------------- espeak-ng

def _espeak() -> str:
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise EspeakUnavailable("the espeak-ng program is not installed (apt-get install espeak-ng)")
    return exe


@lru_cache(maxsize=1)
def espeak_version() -> str:
    """The first line of ``espeak-ng --version``; raises :class:`EspeakUnavailable`."""
    try:
        done = subprocess.run([_espeak(), "--version"], capture_output=True, text=True, timeout=30)
    except OSError as exc:
        raise EspeakUnavailable(f"espeak-ng does not run: {exc}") from exc
    if done.returncode != 0:
        raise EspeakUnavailable(f"espeak-ng --version failed: {done.stderr.strip()}")
    return done.stdout.strip().splitlines()[0]


@lru_cache(maxsize=1)
def available_voices() -> tuple[frozenset[str], frozenset[str]]:
    """(voice names, variant names) that espeak-ng lists: "en-us", "gmw/en-us", ...; "f3", ...

    Voice names are the Language, File (also without its folder) and Other Languages
    columns of ``espeak-ng --voices``, lower case;
    variants are the File column of ``--voices=variant`` without "!v/".
    """
    def table(*args: str) -> list[tuple[list[str], str]]:
        done = subprocess.run([_espeak(), *args], capture_output=True, text=True, timeout=30)
        return [(line.split(), line) for line in done.stdout.splitlines()[1:] if len(line.split()) >= 5]

    names = set()
    for row, line in table("--voices"):
        file = row[4].lower()
        names.update((row[1].lower(), file, file.rsplit("/", 1)[-1]))
        names.update(code.lower() for code in re.findall(r"\(([^\s()]+) \d+\)", line))  # "(en-gb 3)(en 2)"
    variants = {row[4][3:].lower() for row, _ in table("--voices=variant") if row[4].startswith("!v/")}
    return frozenset(names), frozenset(variants)


def voice_exists(voice: str) -> bool:
    """Whether espeak-ng has ``voice`` ("en-us", "en-us+f3").

    Checked against its lists, not by trying it: espeak-ng accepts unknown variants
    ("en-us+zz") silently and maps unknown names with a known prefix ("no-such") to a
    language ("no", Norwegian).
    """
    names, variants = available_voices()
    base, _, variant = voice.lower().partition("+")
    return base in names and (not variant or variant in variants)


def spoken_form(phrase: str) -> str:
    """What to hand espeak-ng for a normalised phrase ("im ready" -> "I'm ready")."""
    return " ".join(_SPOKEN_WORDS.get(word, word) for word in phrase.split())


def synthesize(text: str, voice: str = "en-us", speed: int = 175, pitch: int = 50) -> bytes:
    """Clean speech: 16 kHz mono PCM, silence trimmed, at the :data:`SPEECH_RMS` level."""
    with tempfile.TemporaryDirectory(prefix="companion-tts-") as tmp:
        out = Path(tmp) / "out.wav"
        for _attempt in range(2):
            done = subprocess.run([_espeak(), "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out), text],
                                  capture_output=True, text=True, timeout=60)
            if done.returncode != 0:
                raise EspeakUnavailable(f"espeak-ng -v {voice} failed: {done.stderr.strip()}")
            samples, rate = read_wav(out)
            if len(samples):
                break
        else:
            raise RuntimeError(f"espeak-ng wrote no audio for {text!r} ({voice})")
    start, end = active_span(samples)
    margin = 32  # keep some context for the filter
    samples = samples[max(0, start - margin):end + margin]
    if rate != SAMPLE_RATE:
        samples = resample(samples, rate, SAMPLE_RATE)
    start, end = active_span(samples)
    samples = samples[start:end]
    if not samples:
        raise RuntimeError(f"espeak-ng produced only silence for {text!r} ({voice})")
    rms = math.sqrt(sum(v * v for v in samples) / len(samples))
    peak = max(map(abs, samples))
    gain = min(SPEECH_RMS / rms, 24000 / peak)
    samples = _clamp16(v * gain for v in samples)
    start, end = active_span(samples)  # a quieter edge may now be below the threshold
    return _pcm_bytes(samples[start:end])


# --------------------------------------------------------------------------- the plan

def command_items() -> list[tuple[str, str]]:
    """(phrase, expected label) for every vocabulary phrase and every extra answer."""
    from companion.language.vocabulary import load_vocabulary

    items = [(phrase, command.value) for phrase, command in load_vocabulary().all_phrases().items()]
    known = {phrase for phrase, _ in items}
    items += [(phrase, label) for phrase, label in EXTRA_ITEMS if phrase not in known]
    return items


def load_out_of_grammar(path: Path = OOG_FILE) -> list[str]:
    """The out-of-grammar lines (blank lines and lines starting with # are skipped)."""
    if not path.is_file():
        raise FileNotFoundError(f"out-of-grammar sentences not found at {path} (a repository checkout is needed)")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


@dataclass(frozen=True)
class _Variant:
    rel: str
    snr_db: float
    noise: str
    seed: int


@dataclass(frozen=True)
class _Job:
    """One synthesis (or one burst) and the noisy variants written from it."""

    text: str  # what espeak says ("" for bursts)
    voice: str | None
    speed: int | None
    pitch: int | None
    variants: tuple[_Variant, ...] = ()
    burst: str = ""
    burst_rel: str = ""
    burst_seed: int = 0


def _slug(text: str) -> str:
    keep = "".join(c if c.isalnum() else "_" for c in text.lower())
    return "_".join(part for part in keep.split("_") if part)[:48] or "x"


def _snr_name(snr_db: float) -> str:
    return "clean" if snr_db == CLEAN_SNR_DB else f"snr{int(snr_db)}"


def _noise_for(snr_db: float, index: int) -> str:
    return "dither" if snr_db == CLEAN_SNR_DB else NOISE_TYPES[index % len(NOISE_TYPES)]


def _plan(size: str, seed: int, voices: tuple[str, ...], items: list[tuple[str, str]],
          oog: list[str]) -> tuple[list[Clip], list[_Job]]:
    """Every clip (paths relative to the output folder) and the jobs that write them."""
    if size not in ("small", "full"):
        raise ValueError(f"size must be 'small' or 'full', not {size!r}")
    clips: list[Clip] = []
    jobs: dict[tuple, list[_Variant]] = {}

    def add(kind: str, text: str, label: str | None, voice: str, speed: int, pitch: int,
            snr_db: float, noise: str) -> None:
        folder = label.replace(":", "_") if kind == "command" else "oog"  # no ":" in Windows paths
        rel = f"{kind}/{folder}/{_slug(text)}__{voice}_s{speed}_p{pitch}__{_snr_name(snr_db)}_{noise}.wav"
        noise_seed = _clip_rng(seed, rel)
        clip = Clip(Path(rel), text, label, voice, speed, pitch, snr_db, kind, noise, noise_seed)
        if clip.path in seen:
            return
        seen.add(clip.path)
        clips.append(clip)
        said = spoken_form(text) if kind == "command" else text
        jobs.setdefault((said, voice, speed, pitch), []).append(_Variant(rel, snr_db, noise, noise_seed))

    seen: set[Path] = set()
    rng = random.Random(_clip_rng("plan", size, seed))
    if size == "small":
        base = "en-us" if "en-us" in voices else voices[0]
        for i, (text, label) in enumerate(items):
            add("command", text, label, base, 175, 50, 20.0, NOISE_TYPES[i % len(NOISE_TYPES)])
        picks = rng.sample(items, min(SMALL_EXTRA_CONDITIONS, len(items)))
        for j, (text, label) in enumerate(picks):
            snr = SNRS_DB[(j // len(voices)) % len(SNRS_DB)]
            add("command", text, label, voices[j % len(voices)], SPEEDS[j % 3], PITCHES[(j // 3) % 3],
                snr, _noise_for(snr, j))
        for j, line in enumerate(rng.sample(oog, min(SMALL_OOG, len(oog)))):
            snr = SNRS_DB[(j + j // len(voices)) % len(SNRS_DB)]
            add("oog", line, None, voices[j % len(voices)], SPEEDS[j % 3], PITCHES[(j // 3) % 3],
                snr, _noise_for(snr, j))
        bursts = [BURST_TYPES[j % len(BURST_TYPES)] for j in range(SMALL_NOISE)]
    else:
        # Each phrase in every voice; speed and pitch rotate so that every
        # (voice, speed, pitch) cell gets about len(items)/9 phrases; each synthesis
        # is heard at every SNR (paired comparisons), the noise type rotating.
        for i, (text, label) in enumerate(items):
            for v, voice in enumerate(voices):
                combo = (i + 3 * v) % 9
                for s, snr in enumerate(SNRS_DB):
                    add("command", text, label, voice, SPEEDS[combo % 3], PITCHES[combo // 3],
                        snr, _noise_for(snr, i + v + s))
        for i, line in enumerate(oog):
            for v, voice in enumerate(voices):
                combo = (i + 3 * v) % 9
                for k in range(FULL_OOG_SNRS_PER_VOICE):
                    s = (i + v + 2 * k) % len(SNRS_DB)
                    add("oog", line, None, voice, SPEEDS[combo % 3], PITCHES[combo // 3],
                        SNRS_DB[s], _noise_for(SNRS_DB[s], i + v + k))
        bursts = [kind for kind in BURST_TYPES for _ in range(FULL_NOISE_PER_TYPE)]

    job_list = [_Job(said, voice, speed, pitch, tuple(variants))
                for (said, voice, speed, pitch), variants in jobs.items()]
    counts: dict[str, int] = {}
    for kind in bursts:
        counts[kind] = counts.get(kind, 0) + 1
        rel = f"noise/{kind}_{counts[kind]:02d}.wav"
        burst_seed = _clip_rng(seed, rel)
        clips.append(Clip(Path(rel), "", None, None, None, None, None, "noise", kind, burst_seed))
        job_list.append(_Job("", None, None, None, burst=kind, burst_rel=rel, burst_seed=burst_seed))
    return clips, job_list


def render_variant(clean: bytes, variant_snr_db: float, noise: str, seed: int) -> bytes:
    """A clip from clean speech: padded, then background noise at the SNR over all of it."""
    return add_noise(pad(clean), variant_snr_db, seed, noise="white" if noise == "dither" else noise,
                     signal_power=speech_power(clean))


def _run_job(job: _Job, out_dir: str) -> list[tuple[str, int]]:
    written = []
    if job.burst:
        outputs = [(job.burst_rel, noise_burst(job.burst, job.burst_seed))]
    else:
        clean = synthesize(job.text, job.voice, job.speed, job.pitch)
        outputs = [(v.rel, render_variant(clean, v.snr_db, v.noise, v.seed)) for v in job.variants]
    for rel, pcm in outputs:
        path = Path(out_dir) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        write_wav(path, pcm)
        written.append((rel, path.stat().st_size))
    return written


def _init_worker(babble: list[float] | None) -> None:
    global _BABBLE_CACHE
    if babble is not None:
        _BABBLE_CACHE = babble


# --------------------------------------------------------------------------- generate

MANIFEST = "manifest.json"


def _cache_key(size: str, seed: int, voices: tuple[str, ...], items: list[tuple[str, str]], oog: list[str]) -> str:
    blob = json.dumps({
        "generator": GENERATOR_VERSION, "size": size, "seed": seed, "espeak": espeak_version(),
        "voices": voices, "speeds": SPEEDS, "pitches": PITCHES, "snrs": SNRS_DB,
        "items": sorted(items), "oog": oog,
    }, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def _load_manifest(out_dir: Path) -> dict | None:
    try:
        return json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _file_has_size(path: Path, size: int) -> bool:
    try:
        return path.stat().st_size == size
    except OSError:
        return False


def _job_outputs(job: _Job) -> list[str]:
    return [job.burst_rel] if job.burst else [v.rel for v in job.variants]


def generate(out_dir: Path, *, size: str = "small", seed: int = 0, workers: int = 2,
             voices: tuple[str, ...] = VOICES, oog_file: Path = OOG_FILE) -> list[Clip]:
    """Write the test set's WAVs under ``out_dir`` and return its clips (absolute paths).

    ``size="small"``: every command item once (en-us, 175 wpm, pitch 50, 20 dB), 40 more
    in other voices/speeds/pitches/SNRs, 40 out-of-grammar lines, 10 noise bursts.
    ``size="full"``: every item in every voice at every SNR (speed and pitch rotated to
    cover the grid), every out-of-grammar line in every voice at two SNRs, 56 bursts.

    A ``manifest.json`` keyed by (generator version, phrases, OOG lines, size, seed,
    voices, espeak-ng version) makes a second call reuse the files; a missing or
    truncated file is made again on its own. Voices espeak-ng
    does not have are left out with a warning. Raises :class:`EspeakUnavailable`.
    """
    out_dir = Path(out_dir)
    espeak_version()
    usable = tuple(v for v in voices if voice_exists(v))
    missing = [v for v in voices if v not in usable]
    if missing:
        warnings.warn(f"espeak-ng has no voice {', '.join(missing)}; generating without it", stacklevel=2)
    if not usable:
        raise EspeakUnavailable(f"espeak-ng has none of the voices {', '.join(voices)}")
    items = command_items()
    oog = load_out_of_grammar(oog_file)
    clips, jobs = _plan(size, seed, usable, items, oog)
    key = _cache_key(size, seed, usable, items, oog)
    resolved = [_absolute(clip, out_dir) for clip in clips]

    old = _load_manifest(out_dir)
    files: dict[str, int] = {}
    if old and old.get("key") == key and set(old.get("files", {})) == {str(c.path) for c in clips}:
        files = dict(old["files"])
        damaged = {rel for rel, size in files.items() if not _file_has_size(out_dir / rel, size)}
        if not damaged:
            return resolved
        jobs = [job for job in jobs if damaged & set(_job_outputs(job))]  # redo only those
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        if old:  # files of an older set that this one does not overwrite
            keep = {str(c.path) for c in clips}
            for rel in old.get("files", {}):
                if rel not in keep and not Path(rel).is_absolute() and ".." not in Path(rel).parts:
                    (out_dir / rel).unlink(missing_ok=True)
    (out_dir / MANIFEST).unlink(missing_ok=True)

    began = time.perf_counter()
    babble = _babble_track() if any(j.burst == "babble" or any(v.noise == "babble" for v in j.variants)
                                    for j in jobs) else None
    if workers > 1 and len(jobs) > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(babble,)) as pool:
            for written in pool.map(_run_job, jobs, [str(out_dir)] * len(jobs), chunksize=4):
                files.update(written)
    else:
        for job in jobs:
            files.update(_run_job(job, str(out_dir)))

    manifest = {
        "key": key, "generator": GENERATOR_VERSION, "espeak": espeak_version(), "size": size, "seed": seed,
        "voices": list(usable), "seconds": round(time.perf_counter() - began, 1),
        "clips": [_clip_record(c) for c in clips], "files": {str(c.path): files[str(c.path)] for c in clips},
    }
    tmp = out_dir / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    os.replace(tmp, out_dir / MANIFEST)
    return resolved


def _absolute(clip: Clip, out_dir: Path) -> Clip:
    return Clip(out_dir / clip.path, clip.text, clip.expected_label, clip.voice, clip.speed, clip.pitch,
                clip.snr_db, clip.kind, clip.noise, clip.noise_seed)


def _clip_record(clip: Clip) -> dict:
    record = asdict(clip)
    record["path"] = str(clip.path)
    return record


def clips_from_manifest(out_dir: Path) -> list[Clip]:
    """The clips of an already generated set (no espeak-ng needed)."""
    manifest = _load_manifest(Path(out_dir))
    if manifest is None:
        raise FileNotFoundError(f"no {MANIFEST} in {out_dir}")
    return [Clip(**{**rec, "path": Path(out_dir) / rec["path"]}) for rec in manifest["clips"]]


if __name__ == "__main__":  # python -m bench.testset OUT_DIR [small|full] [seed]
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("speech-testset")
    began = time.perf_counter()
    made = generate(target, size=sys.argv[2] if len(sys.argv) > 2 else "small",
                    seed=int(sys.argv[3]) if len(sys.argv) > 3 else 0)
    kinds: dict[str, int] = {}
    for c in made:
        kinds[c.kind] = kinds.get(c.kind, 0) + 1
    print(f"{len(made)} clips ({kinds}) in {target} in {time.perf_counter() - began:.1f} s")
