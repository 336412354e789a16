"""WAV files in and out, and resampling to the recogniser's 16 kHz.

Pure standard library (no numpy, no audioop, which Python 3.13 removed), so
``companion listen file.wav`` and the test-set generator read audio the same
way on any Python.
"""

from __future__ import annotations

import array
import math
import operator
import sys
import wave
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from companion.speech.ports import SAMPLE_RATE

# --------------------------------------------------------------------------- WAV I/O

def read_wav(path: Path | str) -> tuple[array.array, int]:
    """Samples (mono, int16; channels averaged) and sample rate of a 16-bit PCM WAV."""
    try:
        with wave.open(str(path), "rb") as w:
            width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            data = w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise ValueError(f"{path}: not a PCM WAV file this reader understands ({exc or 'empty'})") from exc
    if width != 2:
        raise ValueError(f"{path}: {8 * width}-bit samples; only 16-bit PCM WAV is supported")
    samples = _pcm_array(data)
    if channels > 1:
        frames = len(samples) // channels
        per_channel = [samples[c:frames * channels:channels] for c in range(channels)]
        samples = array.array("h", [round(sum(frame) / channels) for frame in zip(*per_channel)])
    return samples, rate


def load_wav_16k(path: Path | str) -> bytes:
    """16 kHz mono 16-bit little-endian PCM from any 16-bit mono or stereo WAV."""
    samples, rate = read_wav(path)
    if rate != SAMPLE_RATE:
        samples = resample(samples, rate, SAMPLE_RATE)
    return _pcm_bytes(samples)


def write_wav(path: Path | str, pcm: bytes, rate: int = SAMPLE_RATE) -> None:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)


def _pcm_array(pcm: bytes) -> array.array:
    samples = array.array("h")
    samples.frombytes(pcm[: len(pcm) - len(pcm) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def _pcm_bytes(samples: array.array) -> bytes:
    if sys.byteorder == "big":
        samples = array.array("h", samples)
        samples.byteswap()
    return samples.tobytes()


def _clamp16(values: Iterable[float]) -> array.array:
    return array.array("h", [32767 if v > 32767 else -32768 if v < -32768 else v
                             for v in map(round, values)])


# --------------------------------------------------------------------------- resampling

_HALF_TAPS = 16  # filter half-length, in input samples
_ROLLOFF = 0.92  # cutoff as a fraction of the lower Nyquist frequency
_MAX_PHASES = 1024  # above this, fractional positions are rounded to 1/1024 sample


@lru_cache(maxsize=16)
def _sinc_table(up: int, down: int) -> tuple[tuple[float, ...], ...]:
    """Per phase, 2*_HALF_TAPS Blackman-windowed sinc coefficients (summing to 1)."""
    phases = min(up, _MAX_PHASES)
    cutoff = 0.5 * min(1.0, up / down) * _ROLLOFF  # cycles per input sample
    table = []
    for p in range(phases):
        frac = p / phases
        row = []
        for k in range(-_HALF_TAPS + 1, _HALF_TAPS + 1):
            t = k - frac  # tap position relative to the output instant, input samples
            x = 2 * cutoff * t
            sinc = 1.0 if x == 0 else math.sin(math.pi * x) / (math.pi * x)
            u = (t + _HALF_TAPS) / (2 * _HALF_TAPS)  # 0..1 across the window
            window = 0.42 - 0.5 * math.cos(2 * math.pi * u) + 0.08 * math.cos(4 * math.pi * u)
            row.append(sinc * max(window, 0.0))
        total = sum(row)
        table.append(tuple(c / total for c in row))
    return tuple(table)


def resample(samples: array.array | list[int], src_rate: int, dst_rate: int = SAMPLE_RATE) -> array.array:
    """Band-limited resampling (windowed sinc, pure Python); int16 in, int16 out.

    The output has round(len * dst/src) samples, so the duration is kept.
    """
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"bad sample rates {src_rate} -> {dst_rate}")
    if src_rate == dst_rate:
        return array.array("h", samples)
    g = math.gcd(src_rate, dst_rate)
    up, down = dst_rate // g, src_rate // g
    table = _sinc_table(up, down)
    phases = len(table)
    width = 2 * _HALF_TAPS
    xs = [0] * _HALF_TAPS + list(samples) + [0] * (_HALF_TAPS + 1)
    n_out = (len(samples) * up + down // 2) // down
    mul = operator.mul
    out = []
    append = out.append
    for n in range(n_out):
        i0, rem = divmod(n * down, up)
        if phases == up:
            phase = rem
        else:
            phase = (rem * phases + up // 2) // up
            if phase == phases:
                i0, phase = i0 + 1, 0
        append(sum(map(mul, xs[i0 + 1:i0 + 1 + width], table[phase])))
    return _clamp16(out)
