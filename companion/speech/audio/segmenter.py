"""Endpointing plus recognition over a frame stream: where one utterance ends and what it was.

Pure enough to test on WAV data: frames in, :class:`Utterance` out. What the
words mean is not its business; it is handed a ``meaning`` function so that it
can tell when the words heard so far are enough (see
:mod:`companion.speech.audio.endpointing`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Iterator

from companion.speech.audio.endpointing import FRAME_SECONDS, NoiseFloor, VoiceActivity, settled_phrases
from companion.speech.ports import SAMPLE_RATE, Recognition, Recognizer

FRAME_BYTES = int(SAMPLE_RATE * FRAME_SECONDS) * 2
MAX_UTTERANCE_SECONDS = 12.0  # a spoken question can be a long sentence
MAX_FOLLOW_ON_SECONDS = 0.8  # the rest of a phrase ("now", "are left") is a word or two
SENTENCE_SECONDS = 1.2  # speech longer than this is a sentence: no command phrase lasts so long
_FREE: list[str] = []  # marker: listen for free speech


def split_frames(pcm: bytes) -> Iterator[bytes]:
    """Whole frames of ``pcm``; the last partial frame is padded with silence."""
    for start in range(0, len(pcm), FRAME_BYTES):
        frame = pcm[start:start + FRAME_BYTES]
        yield frame + b"\0" * (FRAME_BYTES - len(frame))


@dataclass
class Utterance:
    recognition: Recognition
    speech_start: float  # seconds into the audio stream
    speech_end: float
    decoded_at: float  # listener clock time when the result was ready


class Segmenter:
    """Endpointing + recognition over a frame stream; pure enough to test on WAV data.

    An utterance ends after ``hangover`` seconds of quiet, or after only
    ``settled_hangover`` once the phrase heard so far cannot change meaning
    (see :mod:`companion.speech.audio.endpointing`). Free speech (a question) gets
    ``free_hangover``: people pause inside sentences. A settled phrase that has
    not changed for ``steady`` seconds also ends the utterance even if the VAD
    still hears "speech" (a noisy room can hold it open), so "stop" is never
    stuck behind the television. Once the quiet after speech has lasted
    ``paused_after`` seconds (or, under a long hangover, until ``prepare``
    seconds are left of it) the recogniser is told (``voice_paused``), so it
    can start its slow work while the rest of the hangover runs. A short burst that starts within
    ``follow_on`` seconds of an utterance that was ended early is the rest of
    that phrase ("stop | now"): it counts only if it is itself a stop.
    With ``noise_floor`` (the default) a frame must also stand above the room's
    steady noise to count as voice (:class:`~companion.speech.audio.endpointing.NoiseFloor`).
    """

    def __init__(self, recognizer: Recognizer, meaning: Callable[[str], str],
                 hangover: float = 0.21, settled_hangover: float = 0.12, free_hangover: float = 0.6,
                 follow_on: float = 0.3, steady: float = 0.6, paused_after: float = 0.09, prepare: float = 0.3,
                 noise_floor: bool = True):
        self.recognizer = recognizer
        self.activity = VoiceActivity(SAMPLE_RATE, floor=NoiseFloor() if noise_floor else None)
        if self.activity.frame_bytes != FRAME_BYTES:
            raise RuntimeError(f"unexpected VAD frame size {self.activity.frame_bytes}")
        self._meaning = meaning
        self.hangover, self.settled_hangover, self.free_hangover = hangover, settled_hangover, free_hangover
        self.follow_on, self.steady = follow_on, steady
        self.paused_after, self.prepare = paused_after, prepare
        self._paused = False  # the recogniser has been told the voice paused, and not that it came back
        self._last_partial, self._partial_since = "", 0
        self._in_speech = False
        self._speech_bytes = 0
        self._wanted: list[str] | None = None
        self._free = False
        self._settled: frozenset[str] = frozenset()
        self._settled_cache: dict[tuple[str, ...], frozenset[str]] = {}
        self._early_end_at: float | None = None  # stream time of the last utterance ended early
        self._follow_on = False  # the current utterance is the tail of an early-ended one
        self.on_speech: Callable[[bool], None] | None = None  # told when an utterance starts and ends

    def use_phrases(self, phrases: list[str] | None) -> None:
        """Listen for ``phrases`` (None: free speech) from the next utterance on; applied between utterances."""
        self._wanted = list(phrases) if phrases is not None else _FREE

    def _begin(self) -> None:
        wanted, self._wanted = self._wanted, None
        if wanted is _FREE:
            self.recognizer.set_phrases(None)
        elif wanted is not None:
            self.recognizer.set_phrases(wanted)
        self._free = wanted is _FREE or (wanted is None and self._free)
        active = tuple(sorted(self.recognizer.phrases or ()))
        if active not in self._settled_cache:
            self._settled_cache[active] = settled_phrases(active, self._meaning)
        self._settled = frozenset() if self._free else self._settled_cache[active]
        self.recognizer.start()
        self._paused = False
        self._in_speech, self._speech_bytes = True, 0
        self._last_partial, self._partial_since = "", self.activity.frames_seen
        self._follow_on = self._early_end_at is not None and \
            self.activity.onset - self._early_end_at <= self.follow_on
        if self.on_speech:
            self.on_speech(True)

    def feed(self, frame: bytes) -> Utterance | None:
        """Process one frame; return the utterance that just ended, if any."""
        speech = self.activity.process(frame)
        if not speech:
            return None
        if not self._in_speech:
            self._begin()
        for piece in speech:
            self.recognizer.accept(piece)
            self._speech_bytes += len(piece)
        quiet = self.activity.quiet_seconds
        too_long = self._speech_bytes > MAX_UTTERANCE_SECONDS * SAMPLE_RATE * 2
        # Speech this long is a sentence ("the pain is going down my leg"), not a command: it gets
        # the pauses people make inside sentences, and is never cut at a command word inside it.
        sentence = self._speech_bytes > SENTENCE_SECONDS * SAMPLE_RATE * 2
        hangover = self.free_hangover if self._free or sentence else self.hangover
        if too_long or quiet >= hangover:
            return self._finish(early=False)
        self._tell_pause(quiet, hangover)
        if not self._settled or sentence:
            return None
        partial = self._partial()
        if partial != self._last_partial:
            self._last_partial, self._partial_since = partial, self.activity.frames_seen
        if partial in self._settled and (quiet >= self.settled_hangover or (
                self.activity.frames_seen - self._partial_since) * FRAME_SECONDS >= self.steady):
            return self._finish(early=True)
        return None

    def _tell_pause(self, quiet: float, hangover: float) -> None:
        """Tell the recogniser when the voice pauses long enough that the utterance may be over (a
        settled phrase ends sooner: ``paused_after`` is below its hangover too), and when it comes back."""
        pausing = quiet >= max(self.paused_after, hangover - self.prepare) - 1e-9
        if pausing != self._paused and (pausing or quiet == 0):  # (a longer hangover now: still paused)
            self._paused = pausing
            self.recognizer.voice_paused(pausing)

    def _partial(self) -> str:
        """The phrase heard so far, for adapters that can tell (PocketSphinx, Vosk); "" otherwise."""
        return self.recognizer.partial

    def _finish(self, early: bool) -> Utterance | None:
        self._in_speech = False
        if self.on_speech:
            self.on_speech(False)
        self.activity.end()
        result = self.recognizer.finish()
        end_at = self.activity.frames_seen * FRAME_SECONDS
        follow_on, self._follow_on = self._follow_on, False
        self._early_end_at = end_at if early and not follow_on else None
        short = self.activity.speech_end - self.activity.onset <= MAX_FOLLOW_ON_SECONDS
        if follow_on and short and (not result.text or self._meaning(result.text) != "stop"):
            return None  # the rest of the phrase just acted on ("stop | now"), not a new command
        return Utterance(result, self.activity.speech_start, self.activity.speech_end, time.monotonic())

    def flush(self) -> Utterance | None:
        if self._in_speech:
            return self._finish(early=False)
        return None
