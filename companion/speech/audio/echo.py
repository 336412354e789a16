"""Acoustic echo cancellation: take the companion's own voice out of what its microphone hears.

The loudspeaker and the microphone share a room, so every cue comes back into
the microphone. Heard raw, those cues decode as commands (rep counts came back
as "please stop"), so over its own voice the companion could act only on a very
sure stop, and a real stop said over a sentence was nearly always lost. With a
canceller the played audio is subtracted before endpointing and recognition,
and a stop said over the companion counts as it does between sentences
(measured in bench/README.md).

The stage contract, between "snd" and "mic" in rhasspy3's terms:

- ``played(pcm, rate)``: the speaker thread hands over each chunk of 16-bit mono
  audio (any rate) just before it goes to the sound card;
- ``clean(frame)``: the listener hands over each 16 kHz microphone frame and
  gets back a frame of the same length with the echo removed.

Alignment is by the clock and by counting. Played audio is laid out on a
timeline: the first of it at the moment it is handed over (the earliest it can
be heard), the rest sample after sample (the speaker keeps the sound card fed,
with silence between sentences). Microphone frames are placed by counting
samples from the first one. Each 10 ms of microphone audio is paired with what
the timeline says was playing then, so the reference leads its echo by the
sound card's output and input buffering, and the pairing does not slip as a
queue's would when the speaker and the listener threads run unevenly. WebRTC's AEC3
estimates that lead itself. AEC3 comes from the ``livekit`` package, whose
wheels carry WebRTC's audio processing module prebuilt (it is used offline;
nothing connects).
"""

from __future__ import annotations

import threading
import time
from typing import Callable, Iterator

import numpy as np

from companion.content.phrases import load_phrases
from companion.speech.ports import SAMPLE_RATE, AudioSource, EchoCanceller

PIECE_BYTES = SAMPLE_RATE // 100 * 2  # WebRTC processes 10 ms at a time
TIMELINE_SECONDS = 4.0  # how much played audio is kept to pair with the microphone
RESYNC_SECONDS = 0.5  # microphone frames this far behind the clock: start counting afresh
AHEAD_SECONDS = 0.1  # ... or this far ahead of it (the microphone's clock runs fast)
# The speaker keeps the sound card fed (silence between sentences), so played audio follows
# on sample by sample, whatever the clock says; a hand-over this much later than the end of
# the audio before it means the card ran dry, and the timeline starts afresh from now.
UNDERRUN_SECONDS = 0.2
MAX_WAIT_SECONDS = 0.06  # longest a microphone frame waits for its reference (see _wait_for_reference)
# Microphone frames are placed by counting samples, which can put them a little before the
# moment their sound was really captured, and a sound server can pass audio on ahead of its
# time (PulseAudio's null sink: its echo came 8 ms before the hand-over time here). So each
# microphone sample is paired with the audio the timeline has this much later. AEC3 finds the
# real delay (it copes with 250 ms and more, measured) but cannot cancel an echo that comes
# before its reference. Kept below a sound card's output buffer, so what is read is there.
LOOKAHEAD_SECONDS = 0.025
# AEC3 needs to hear some of its own voice before it has learnt the room: over the first
# seconds of a session its voice still leaks through as words (bench/README.md).
READY_AFTER_SECONDS = 5.0


class EchoCancellerUnavailable(RuntimeError):
    """No echo canceller here; the message says what is missing and how to fix it."""


class StreamResampler:
    """Linear-interpolation resampling that holds nothing back.

    A band-limited resampler (soxr, as in livekit's) releases its output in bursts,
    tens of milliseconds after the input; the reference would then reach the
    canceller after its own echo, and an echo canceller cannot undo what it has not
    yet been told about. Linear interpolation needs one sample of look-back and
    none ahead; the aliasing it lets through (above 8 kHz, where espeak-ng puts
    little energy) costs the canceller little.
    """

    def __init__(self, rate_in: int, rate_out: int):
        self.step = rate_in / rate_out
        self._position = 1.0  # of the next output sample, in input samples counted from the held one
        self._held = np.zeros(1, dtype=np.float64)  # the last input sample of the previous chunk

    def push(self, pcm: bytes) -> bytes:
        chunk = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        if not len(chunk):
            return b""
        samples = np.concatenate((self._held, chunk))
        last = len(samples) - 1
        positions = np.arange(self._position, last, self.step)
        out = np.interp(positions, np.arange(len(samples)), samples)
        self._position = (positions[-1] + self.step - last) if len(positions) else self._position - len(chunk)
        self._held = samples[-1:]
        return np.clip(np.rint(out), -32768, 32767).astype("<i2").tobytes()


class Timeline:
    """The played audio (16 kHz) by sample index on the clock: index i is time i / 16000 s."""

    def __init__(self, seconds: float = TIMELINE_SECONDS):
        self._ring = np.zeros(int(seconds * SAMPLE_RATE), dtype="<i2")
        self._head: int | None = None  # index just after the last played sample
        self._restart = False  # the sound card was stopped: the next audio starts afresh

    def place(self, samples: np.ndarray, now_index: int) -> None:
        """Audio handed to the sound card now: it follows on from what is already there, sample by
        sample (counting, not the clock, which would jitter). Audio handed over after the card ran
        dry or was stopped starts from now: never earlier than it really plays."""
        size = len(self._ring)
        fresh = self._head is None or self._restart or now_index > self._head + UNDERRUN_SECONDS * SAMPLE_RATE
        self._restart = False
        start = (now_index if self._head is None else max(now_index, self._head)) if fresh else self._head
        if self._head is not None and start > self._head:
            self._write(self._head, np.zeros(min(start - self._head, size), dtype="<i2"))
        self._write(start, samples[-size:])
        self._head = start + len(samples)

    @property
    def head(self) -> int | None:
        return self._head

    def cut(self, now_index: int) -> None:
        """Nothing plays after now after all (the sound card's buffer was thrown away)."""
        if self._head is not None and self._head > now_index:
            self._write(now_index, np.zeros(min(self._head - now_index, len(self._ring)), dtype="<i2"))
            self._head = now_index
        self._restart = True

    def read(self, start: int, count: int) -> bytes:
        """``count`` samples from index ``start`` (silence where nothing played)."""
        out = np.zeros(count, dtype="<i2")
        if self._head is not None:
            lo, hi = max(start, self._head - len(self._ring)), min(start + count, self._head)
            if hi > lo:
                idx = np.arange(lo, hi) % len(self._ring)
                out[lo - start:hi - start] = self._ring[idx]
        return out.tobytes()

    def _write(self, start: int, samples: np.ndarray) -> None:
        idx = np.arange(start, start + len(samples)) % len(self._ring)
        self._ring[idx] = samples


class WebRtcEchoCanceller(EchoCanceller):
    """WebRTC AEC3 with its high-pass filter. No noise suppression: rejection was fitted without it."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """``clock`` is when things happen (seconds); tests and benchmarks step it by hand."""
        try:
            from livekit import rtc
        except ImportError as exc:
            raise EchoCancellerUnavailable(
                f"the livekit package, which carries WebRTC's echo canceller, is missing ({exc}). "
                "Fix: pip install livekit") from None
        self._rtc = rtc
        self._apm = rtc.AudioProcessingModule(echo_cancellation=True, high_pass_filter=True)
        self._clock = clock
        self._resamplers: dict[int, StreamResampler] = {}
        self._timeline = Timeline()
        self._mic_end: int | None = None  # clock index just after the last microphone sample
        self._lock = threading.Lock()
        self._placed = threading.Condition(self._lock)
        self._heard_playing = 0  # 10 ms pieces cleaned while something played
        self.failed: str | None = None

    def ready(self) -> bool:
        return self.failed is None and self._heard_playing >= READY_AFTER_SECONDS * 100

    def played(self, pcm: bytes, rate: int) -> None:
        if self.failed:
            return
        try:
            self._place_reference(pcm, rate)
        except Exception as exc:  # noqa: BLE001 - never let the canceller silence the speaker
            self.failed = f"echo cancellation stopped: {exc}"

    def cut(self) -> None:
        with self._lock:
            self._timeline.cut(round(self._clock() * SAMPLE_RATE))

    def _place_reference(self, pcm: bytes, rate: int) -> None:
        if rate != SAMPLE_RATE:
            resampler = self._resamplers.get(rate)
            if resampler is None:
                resampler = self._resamplers[rate] = StreamResampler(rate, SAMPLE_RATE)
            pcm = resampler.push(pcm)
        now = round(self._clock() * SAMPLE_RATE)
        with self._placed:
            self._timeline.place(np.frombuffer(pcm, dtype="<i2"), now)
            self._placed.notify_all()

    def _microphone_span(self, samples: int) -> int:
        """Where this frame starts on the clock: counted on from the last one (sample by sample, as it
        was captured), and started afresh when the count and the clock disagree by much."""
        now = round(self._clock() * SAMPLE_RATE)
        end = now if self._mic_end is None else self._mic_end + samples
        if end - now > AHEAD_SECONDS * SAMPLE_RATE or now - end > RESYNC_SECONDS * SAMPLE_RATE:
            end = now  # counting has drifted from the clock, or the stream stalled: count afresh
        self._mic_end = end
        return end - samples

    def _wait_for_reference(self, until: int) -> None:
        """While it plays, wait (briefly) for the speaker to hand over the audio this frame is paired
        with: a sound card with a short buffer may not be :data:`LOOKAHEAD_SECONDS` ahead yet."""
        with self._placed:
            head = self._timeline.head
            now = round(self._clock() * SAMPLE_RATE)
            if head is None or head >= until or now - head > UNDERRUN_SECONDS * SAMPLE_RATE:
                return
            self._placed.wait_for(lambda: (self._timeline.head or 0) >= until, timeout=MAX_WAIT_SECONDS)

    def clean(self, frame: bytes) -> bytes:
        """Whole 10 ms pieces are cleaned; a ragged end (never, with 30 ms frames) passes as it is.

        If WebRTC fails, frames pass through unchanged and :meth:`ready` turns False,
        so the strict rule for speech over the companion's voice applies again.
        """
        if self.failed:
            return frame
        try:
            return self._clean(frame)
        except Exception as exc:  # noqa: BLE001 - listening must go on without it
            self.failed = f"echo cancellation stopped: {exc}"
            return frame

    def _clean(self, frame: bytes) -> bytes:
        out = bytearray()
        rtc, samples = self._rtc, PIECE_BYTES // 2
        whole = len(frame) - len(frame) % PIECE_BYTES
        first = self._microphone_span(len(frame) // 2) + round(LOOKAHEAD_SECONDS * SAMPLE_RATE)
        self._wait_for_reference(first + len(frame) // 2)
        with self._lock:
            references = self._timeline.read(first, whole // 2)
        for start in range(0, whole, PIECE_BYTES):
            reference = references[start:start + PIECE_BYTES]
            self._heard_playing += any(reference)
            self._apm.process_reverse_stream(rtc.AudioFrame(reference, SAMPLE_RATE, 1, samples))
            self._apm.set_stream_delay_ms(0)  # AEC3 estimates the real delay itself
            near = rtc.AudioFrame(frame[start:start + PIECE_BYTES], SAMPLE_RATE, 1, samples)
            self._apm.process_stream(near)
            out += near.data.cast("B")
        out += frame[whole:]
        return bytes(out)


class EchoCancellingSource:
    """An audio source whose frames come out with the companion's own voice removed."""

    def __init__(self, source: AudioSource, canceller: EchoCanceller):
        self.source, self.canceller = source, canceller

    def frames(self) -> Iterator[bytes]:
        for frame in self.source.frames():
            yield self.canceller.clean(frame)

    def close(self) -> None:
        self.source.close()

    @property
    def lost(self) -> str | None:
        return self.source.lost


def open_echo_canceller() -> tuple[EchoCanceller | None, str | None]:
    """The canceller, or None and the sentence (in the language in use) that says why it is off and what that means."""
    phrases = load_phrases()
    try:
        return WebRtcEchoCanceller(), None
    except EchoCancellerUnavailable as exc:
        why = str(exc)
    except Exception as exc:  # noqa: BLE001 - the native library failed to load: carry on without it
        why = phrases.echo_failed.format(error=exc)
    return None, phrases.echo_off.format(reason=why)
