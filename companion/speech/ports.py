"""The contracts between the app and each speech stage: microphone, echo canceller, recogniser, speaker.

Like rhasspy3's stages, each port is small and states everything the app calls,
so an adapter (PocketSphinx, Vosk, pyttsx3, WebRTC AEC3, a test fake) is chosen
at start-up and nothing probes it with ``hasattr``. A port's default methods
are what an adapter that cannot do better inherits by subclassing it.

Audio is 16-bit little-endian mono PCM at :data:`SAMPLE_RATE` on the way in.
A recogniser is told which phrases it may hear (a closed grammar, or ``None``
for free speech); it returns the best phrase it heard, or an empty text when it
heard none of them, with a confidence in [0, 1]. Turning that into a command,
and deciding whether to trust it, is the language layer's job
(:mod:`companion.language.understanding`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

SAMPLE_RATE = 16000


@dataclass(frozen=True)
class Recognition:
    """What a recogniser heard in one utterance."""

    text: str  # a phrase from the grammar, or "" when nothing in it was heard
    confidence: float  # 0..1, engine-specific but monotonic: higher is surer
    engine: str = ""
    decode_ms: float = 0.0  # from the end of the audio to this result
    # Each model's evidence, for logs and ``listen --json``. ``details["guess"]`` may name the phrase the
    # models leaned to where nothing was heard ("") or a word or two transcribed matched no phrase: a
    # dialogue state that reads its answers back may ask about it. ``details["readings"]``: for free
    # speech, the text first and then other readings nearly as likely, for the layer that answers it.
    details: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class LanguageHints:
    """What the language in use tells a recogniser; the speech layer knows no language of its own.

    ``stop_phrases`` let an engine that fuses models protect a stop said over the companion's
    voice; ``question_prompt`` (the subject's words) helps a transcriber write down a question;
    ``same_meaning`` groups phrases that stand for the same thing ("no", "nope", "no thanks"), so
    two models that write it differently still agree.
    """

    stop_phrases: frozenset[str] = frozenset()
    question_prompt: str = ""
    same_meaning: tuple[frozenset[str], ...] = ()

    def group(self, phrase: str) -> frozenset[str]:
        """Every phrase meaning what ``phrase`` means, itself included."""
        return next((group for group in self.same_meaning if phrase in group), frozenset([phrase]))

    def meaning(self, phrase: str) -> str:
        """A name for what ``phrase`` stands for: its group's first phrase in sort order."""
        return min(self.group(phrase))


class Recognizer(Protocol):
    """Speech to text for one utterance at a time, within a grammar."""

    name: str
    phrases: list[str] | None  # the grammar in use; None or []: free speech

    def set_phrases(self, phrases: list[str] | None) -> None:
        """Restrict recognition to these phrases (lower case, no punctuation); None: free speech."""

    def start(self) -> None:
        """Begin a new utterance."""

    def accept(self, pcm: bytes) -> None:
        """Feed the next chunk of audio of the current utterance."""

    def accept_whole(self, pcm: bytes) -> None:
        """Feed a whole recorded utterance at once (engines that decode faster that way override it)."""
        for start in range(0, len(pcm), 3200):
            self.accept(pcm[start:start + 3200])

    @property
    def partial(self) -> str:
        """The phrase heard so far in this utterance ("" when the engine cannot tell)."""
        return ""

    def finish(self) -> Recognition:
        """End the utterance and return the final result."""

    def began_over_speech(self, over: bool) -> None:
        """Told as an utterance starts whether the companion was talking then: it is then mostly its own
        voice, and an adapter that would spend long on it (transcribing a sentence) should not."""

    def voice_paused(self, paused: bool) -> None:
        """Told ``True`` when the voice detector hears quiet after speech (the utterance may be over, and
        ends if the quiet lasts), ``False`` when the voice comes back. An adapter with slow work to do on the
        whole utterance (Whisper's encoder) may start it on the audio so far, so that ``finish`` finds it
        done: the endpointer's wait for quiet and the decoding then overlap instead of adding up."""

    def ready(self, timeout: float | None = None) -> bool:
        """Wait until every model it uses has loaded (some load in the background); False if one never will."""
        return True


class AudioSource(Protocol):
    """16 kHz mono 16-bit frames of 30 ms; the iterator ends when the source closes or is lost."""

    lost: str | None  # why the frames stopped coming, when the device went away; None otherwise

    def frames(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class EchoCanceller(Protocol):
    """Takes the companion's own voice out of the microphone signal."""

    def played(self, pcm: bytes, rate: int) -> None:
        """``pcm`` (mono 16-bit at ``rate``) is being handed to the sound card now."""

    def clean(self, frame: bytes) -> bytes:
        """One microphone frame with the echo of what was played taken out."""

    def cut(self) -> None:
        """Playback was cut off now: what was handed over and not yet played never will be."""

    def ready(self) -> bool:
        """True once it has learnt the room well enough to trust what is left of the signal."""


class Speaker(Protocol):
    """Speech out. ``say`` returns at once; speech is queued and can be cut off at any moment."""

    def say(self, text: str) -> None:
        """Queue ``text`` to be spoken."""

    def beep(self, tone: str) -> None:
        """A short "start" or "end" tone."""

    def interrupt(self) -> None:
        """Silence current speech and drop everything queued."""

    def close(self) -> None: ...

    def speaking(self) -> bool:
        """True while it talks, and for the echo tail after (its own voice may still be heard)."""
        return False

    def speaking_text(self) -> str:
        """What it is saying now ("" when silent)."""
        return ""

    def change_volume(self, step: int) -> float:
        """One step louder (+1) or quieter (-1), within its bounds; returns the new volume."""
        return 1.0

    def set_voice(self, rate: int, volume: float, name: str = "") -> None:
        """A person's speaking rate (words per minute), volume (0-1) and voice."""

    def set_pace(self, pace: float) -> int:
        """Speak more slowly at a slower session pace; returns the rate in use."""
        return 0

    def duck(self, on: bool) -> None:
        """Speak much quieter while someone talks over it (on), or at the normal level again."""

    def add_tap(self, tap: Callable[[bytes, int], None], cut: Callable[[], None] | None = None) -> bool:
        """Hand every chunk played to ``tap(pcm, rate)`` (the echo canceller), and call ``cut()`` on
        interrupt. False when this speaker cannot tell what it plays, so nothing can be fed from it."""
        return False


def decode(recognizer: Recognizer, pcm: bytes, chunk_bytes: int = 3200) -> Recognition:
    """Decode a whole recorded utterance (a WAV file); ``decode_ms`` is the time after the audio is in hand.

    The utterance goes to the adapter in one piece (``accept_whole``); for
    adapters that stream it that is 100 ms chunks, as it would be live.
    """
    recognizer.start()
    began = time.perf_counter()
    recognizer.accept_whole(pcm)
    result = recognizer.finish()
    elapsed = (time.perf_counter() - began) * 1000
    return Recognition(result.text, result.confidence, result.engine, round(elapsed, 2), result.details)


class RecognizerUnavailable(RuntimeError):
    """This engine cannot run here; the message says what is missing and how to fix it."""
