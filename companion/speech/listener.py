"""The listening loop: audio frames -> voice activity endpointing -> recogniser -> runner queue.

The listener never touches the engine. When an utterance ends it puts a
:class:`~companion.io.inputs.Heard` (with the recogniser's result attached) on
the runner's queue; the runner decides what it means. Audio frames are
processed and dropped: nothing is stored.

The endpointer is PocketSphinx's WebRTC-style VAD. Its hangover (``window`` x
``ratio`` of non-speech before an utterance is declared over) is most of the
delay between the end of speech and the command taking effect, so it is kept
short: commands are short, and a pause inside "stop ... now" is rarely longer.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

from companion.clock import Clock
from companion.io.inputs import Heard
from companion.speech.endpointing import FRAME_SECONDS, VoiceActivity, settled_phrases
from companion.speech.recognizer import SAMPLE_RATE, Recognition, Recognizer

FRAME_BYTES = int(SAMPLE_RATE * FRAME_SECONDS) * 2
MAX_UTTERANCE_SECONDS = 12.0  # a spoken question can be a long sentence
MAX_FOLLOW_ON_SECONDS = 0.8  # the rest of a phrase ("now", "are left") is a word or two
OPEN_TIMEOUT = 5.0  # seconds to wait for the input device to open
_FREE: list[str] = []  # marker: listen for free speech


class AudioSource(Protocol):
    """16 kHz mono 16-bit frames of :data:`FRAME_BYTES`; ends when the source closes."""

    def frames(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


class MicrophoneUnavailable(RuntimeError):
    """No usable microphone; the message says what is missing and how to fix it."""


class Microphone:
    """The default input device through sounddevice, as a stream of frames.

    If the device disappears mid-session the frame iterator ends and
    ``lost`` says why, so the session can pause instead of crashing.
    """

    def __init__(self, device: int | str | None = None):
        try:
            import sounddevice as sd
        except OSError as exc:
            raise MicrophoneUnavailable(
                f"the PortAudio sound library is missing ({exc}). Fix: sudo apt-get install libportaudio2") from None
        self._queue: "queue.Queue[bytes | None]" = queue.Queue(maxsize=500)
        self.lost: str | None = None
        opened: "queue.Queue[object]" = queue.Queue()

        def open_stream() -> None:
            try:
                sd.query_devices(device=device, kind="input")
                stream = sd.RawInputStream(samplerate=SAMPLE_RATE, channels=1, dtype="int16",
                                           blocksize=FRAME_BYTES // 2, device=device, callback=self._callback)
                stream.start()
                opened.put(stream)
            except Exception as exc:  # noqa: BLE001 - PortAudioError / ValueError: no usable device
                opened.put(exc)

        # A sound server that accepts the connection and never answers would hang PortAudio, and
        # Ctrl-C with it: open it on a helper thread and give up after OPEN_TIMEOUT.
        threading.Thread(target=open_stream, daemon=True, name="microphone-open").start()
        try:
            result = opened.get(timeout=OPEN_TIMEOUT)
        except queue.Empty:
            raise MicrophoneUnavailable(
                f"the microphone did not answer within {OPEN_TIMEOUT:.0f} s (is the sound server stuck? "
                "'pulseaudio -k' restarts PulseAudio). Use --keyboard to type commands") from None
        if isinstance(result, Exception):
            raise MicrophoneUnavailable(
                f"no microphone was found ({result}). Connect one, or use --keyboard to type commands "
                "('python3 -m sounddevice' lists the devices it can see)") from None
        self._stream = result

    def _callback(self, data, frames, when, status) -> None:  # noqa: ANN001 - sounddevice's signature
        try:
            self._queue.put_nowait(bytes(data))
        except queue.Full:
            pass  # the recogniser fell behind; dropping audio beats unbounded memory

    def frames(self) -> Iterator[bytes]:
        while True:
            try:
                frame = self._queue.get(timeout=2.0)
            except queue.Empty:
                if not self._stream.active:
                    self.lost = "the microphone stopped delivering sound (unplugged?)"
                    return
                continue
            if frame is None:
                return
            yield frame

    def close(self) -> None:
        """Stop recording; never blocks for long, even if the device or sound server hangs."""
        def shut() -> None:
            try:
                self._stream.abort()  # drop what is buffered: nothing more is wanted
                self._stream.close()
            except Exception:  # noqa: BLE001 - closing a vanished device may fail; nothing left to do
                pass

        closer = threading.Thread(target=shut, daemon=True, name="microphone-close")
        closer.start()
        closer.join(timeout=1.0)
        self._queue.put(None)


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
    (see :mod:`companion.speech.endpointing`). Free speech (a question) gets
    ``free_hangover``: people pause inside sentences. A settled phrase that has
    not changed for ``steady`` seconds also ends the utterance even if the VAD
    still hears "speech" (a noisy room can hold it open), so "stop" is never
    stuck behind the television. A short burst that starts within
    ``follow_on`` seconds of an utterance that was ended early is the rest of
    that phrase ("stop | now"): it counts only if it is itself a stop.
    """

    def __init__(self, recognizer: Recognizer, meaning: Callable[[str], str] | None = None,
                 hangover: float = 0.21, settled_hangover: float = 0.12, free_hangover: float = 0.6,
                 follow_on: float = 0.3, steady: float = 0.6):
        self.recognizer = recognizer
        self.activity = VoiceActivity(SAMPLE_RATE)
        if self.activity.frame_bytes != FRAME_BYTES:
            raise RuntimeError(f"unexpected VAD frame size {self.activity.frame_bytes}")
        if meaning is None:
            from companion.vocabulary import load_vocabulary

            meaning = load_vocabulary().meaning
        self._meaning = meaning
        self.hangover, self.settled_hangover, self.free_hangover = hangover, settled_hangover, free_hangover
        self.follow_on, self.steady = follow_on, steady
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
        active = tuple(sorted(getattr(self.recognizer, "phrases", None) or ()))
        if active not in self._settled_cache:
            self._settled_cache[active] = settled_phrases(active, self._meaning)
        self._settled = frozenset() if self._free else self._settled_cache[active]
        self.recognizer.start()
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
        if too_long or quiet >= (self.free_hangover if self._free else self.hangover):
            return self._finish(early=False)
        if not self._settled:
            return None
        partial = self._partial()
        if partial != self._last_partial:
            self._last_partial, self._partial_since = partial, self.activity.frames_seen
        if partial in self._settled and (quiet >= self.settled_hangover or (
                self.activity.frames_seen - self._partial_since) * FRAME_SECONDS >= self.steady):
            return self._finish(early=True)
        return None

    def _partial(self) -> str:
        """The phrase heard so far, for adapters that can tell (PocketSphinx, Vosk); "" otherwise."""
        return getattr(self.recognizer, "partial", "")

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


class Listener(threading.Thread):
    """Runs a :class:`Segmenter` over an :class:`AudioSource` and queues what was heard."""

    def __init__(self, source: AudioSource, recognizer: Recognizer, clock: Clock, out: "queue.Queue[Heard]",
                 on_lost: Callable[[str], None] | None = None):
        super().__init__(daemon=True, name="listener")
        self.source, self.clock, self.out = source, clock, out
        self.segmenter = Segmenter(recognizer)
        self.on_lost = on_lost
        self._halt = threading.Event()
        self.speaking: Callable[[], bool] = lambda: False  # is the companion talking right now?
        self.on_speech: Callable[[bool], None] | None = None  # told when an utterance starts and ends
        self._began_over_speech = False
        self.segmenter.on_speech = self._utterance_starts

    def _utterance_starts(self, started: bool) -> None:
        if started:
            self._began_over_speech = self.speaking()
        if self.on_speech:
            self.on_speech(started)

    def run(self) -> None:
        try:
            for frame in self.source.frames():
                if self._halt.is_set():
                    return
                utterance = self.segmenter.feed(frame)
                if utterance:
                    self._put(utterance)
        except Exception as exc:  # noqa: BLE001 - a device error must pause the session, not kill it
            if self.on_lost:
                self.on_lost(f"listening stopped: {exc}")
            return
        lost = getattr(self.source, "lost", None)
        if lost and self.on_lost and not self._halt.is_set():
            self.on_lost(lost)

    def _put(self, utterance: Utterance) -> None:
        rec = utterance.recognition
        self.out.put(Heard(self.clock.now(), rec.text, "voice", rec, over_speech=self._began_over_speech))

    def stop(self) -> None:
        self._halt.set()
        self.source.close()
