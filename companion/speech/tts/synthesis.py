"""Text to samples: the small contract between the speaker's player and a speech synthesiser.

A synthesiser turns one sentence into mono 16-bit PCM at its own sample rate;
the player (:class:`companion.speech.tts.speaker.SynthesisSpeaker`) plays it,
cuts it off, ducks it and feeds the echo canceller, whichever synthesiser made
it. Two are here: flite (:mod:`companion.speech.tts.flite`, the clearer voice)
and espeak-ng through pyttsx3 (:class:`companion.speech.tts.speaker.Pyttsx3Synthesiser`).
"""

from __future__ import annotations

import math
from typing import NamedTuple, Protocol

import numpy as np

from companion.speech.audio.wav import _HALF_TAPS, _sinc_table


class SpeechUnavailable(RuntimeError):
    """Speech out cannot work here; the message says what is missing and how to fix it."""


class SynthesisError(RuntimeError):
    """One sentence could not be synthesised; the speaker skips it and carries on."""


class Speech(NamedTuple):
    pcm: bytes  # mono 16-bit little-endian samples
    rate: int  # samples per second


class Synthesiser(Protocol):
    """Speaks one sentence at a time into samples. Used from one thread only (the speaker's)."""

    name: str  # "flite", "espeak-ng"
    voice: str  # the voice used when none is asked for ("slt"; "" for espeak-ng's default)

    def synthesise(self, text: str, rate: int, voice: str = "") -> Speech:
        """``text`` at about ``rate`` words per minute in ``voice`` ("": :attr:`voice`).

        A voice this synthesiser does not have gives its default voice (the name was
        checked when the profile was set). Raises :class:`SynthesisError` when no audio came."""

    def close(self) -> None: ...


def resampled(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """16-bit mono samples from ``src_rate`` to ``dst_rate``: the band-limited filter of
    :func:`companion.speech.audio.wav.resample`, vectorised (a 6 s sentence in 13 ms here, not 240)."""
    if src_rate == dst_rate or not pcm:
        return pcm
    g = math.gcd(src_rate, dst_rate)
    up, down = dst_rate // g, src_rate // g
    table = np.asarray(_sinc_table(up, down))
    phases, width = len(table), 2 * _HALF_TAPS
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    padded = np.concatenate((np.zeros(_HALF_TAPS), samples, np.zeros(_HALF_TAPS + 1)))
    n_out = (len(samples) * up + down // 2) // down
    first, rem = np.divmod(np.arange(n_out, dtype=np.int64) * down, up)
    if phases == up:
        phase = rem
    else:
        phase = (rem * phases + up // 2) // up
        wrapped = phase == phases
        first[wrapped] += 1
        phase[wrapped] = 0
    out = np.zeros(n_out)
    for tap in range(width):  # one tap of every output sample at a time: 32 vector operations
        out += padded[first + 1 + tap] * table[phase, tap]
    return np.clip(np.rint(out), -32768, 32767).astype("<i2").tobytes()
