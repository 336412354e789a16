"""The contract every speech recogniser adapter meets (PocketSphinx, Vosk, test fakes).

Audio in is 16-bit little-endian mono PCM at :data:`SAMPLE_RATE`. An adapter is
told which phrases it may hear (a closed grammar); it returns the best phrase
it heard, or an empty text when it heard none of them, with a confidence in
[0, 1]. Turning that into a command, and deciding whether to trust it, is not
the adapter's job: see :mod:`companion.speech.understanding`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Recognition:
    """What a recogniser heard in one utterance."""

    text: str  # a phrase from the grammar, or "" when nothing in it was heard
    confidence: float  # 0..1, engine-specific but monotonic: higher is surer
    engine: str = ""
    decode_ms: float = 0.0  # from the end of the audio to this result
    details: dict = field(default_factory=dict, compare=False)


class Recognizer(Protocol):
    name: str

    def set_phrases(self, phrases: list[str]) -> None:
        """Restrict recognition to these phrases (lower case, no punctuation)."""

    def start(self) -> None:
        """Begin a new utterance."""

    def accept(self, pcm: bytes) -> None:
        """Feed the next chunk of audio of the current utterance."""

    def finish(self) -> Recognition:
        """End the utterance and return the final result."""


def decode(recognizer: Recognizer, pcm: bytes, chunk_bytes: int = 3200) -> Recognition:
    """Decode a whole recorded utterance (a WAV file); ``decode_ms`` is the time after the audio is in hand.

    An adapter that can take the utterance in one piece (``accept_whole``)
    gets it so; otherwise it streams in 100 ms chunks and only the tail after
    the last chunk is timed, as it would be live.
    """
    recognizer.start()
    began = time.perf_counter()
    whole = getattr(recognizer, "accept_whole", None)
    if whole is not None:
        whole(pcm)
    else:
        for start in range(0, len(pcm), chunk_bytes):
            recognizer.accept(pcm[start:start + chunk_bytes])
        began = time.perf_counter()
    result = recognizer.finish()
    elapsed = (time.perf_counter() - began) * 1000
    return Recognition(result.text, result.confidence, result.engine, round(elapsed, 2), result.details)


class RecognizerUnavailable(RuntimeError):
    """This engine cannot run here; the message says what is missing and how to fix it."""
