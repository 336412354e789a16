"""The microphone: the default input device through sounddevice, as a stream of 30 ms frames.

Opening and closing happen on helper threads with time limits, because a sound
server that accepts a connection and never answers would otherwise hang the
program (and Ctrl-C with it).

A running input stream delivers a frame every 30 ms. One that reports itself active
and delivers nothing, or a trickle (seen with PortAudio's ALSA layer over PulseAudio
after underruns), would leave the companion deaf, with nobody able to say stop: when it
has recorded less than a quarter of the last ``STALL_SECONDS`` it is reopened once, and
if that does not bring the sound back it is reported lost, which pauses the session and
says so. Sound is counted as it is recorded, not as it is taken, so a listener busy
decoding is never taken for a stuck microphone.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections import deque
from typing import Any, Callable, Iterator

from companion.speech.audio.segmenter import FRAME_BYTES
from companion.speech.ports import SAMPLE_RATE, AudioSource

OPEN_TIMEOUT = 5.0  # seconds to wait for the input device to open
STALL_SECONDS = 3.0  # a stream that says it runs and records less than MIN_SHARE of this is stuck
MIN_SHARE = 0.25  # (seen live: no frames at all, and, with a second sound playing, a trickle)

FrameCallback = Callable[[Any, int, Any, Any], None]
StreamOpener = Callable[[FrameCallback], Any]
"""Opens and starts an input stream that calls the callback with each block of 16-bit mono
audio; the stream has ``active``, ``abort()`` and ``close()`` as sounddevice's streams do."""


def _diagnose(line: str) -> None:
    """A line for whoever looks into an audio problem: on descriptor 2, which is the audio-libraries
    log while the devices are open (companion.app.native_noise), beside what PortAudio and ALSA said."""
    try:
        os.write(2, (line + "\n").encode())
    except OSError:
        pass


class MicrophoneUnavailable(RuntimeError):
    """No usable microphone; the message says what is missing and how to fix it."""


def portaudio_opener(device: int | str | None = None) -> StreamOpener:
    """The default opener: ``device`` (or the default input) through sounddevice/PortAudio."""
    try:
        import sounddevice as sd
    except OSError as exc:
        raise MicrophoneUnavailable(
            f"the PortAudio sound library is missing ({exc}). Fix: sudo apt-get install libportaudio2") from None

    def open_stream(callback: FrameCallback) -> Any:
        sd.query_devices(device=device, kind="input")
        stream = sd.RawInputStream(samplerate=SAMPLE_RATE, channels=1, dtype="int16",
                                   blocksize=FRAME_BYTES // 2, device=device, callback=callback)
        stream.start()
        return stream

    return open_stream


class Microphone(AudioSource):
    """The default input device through sounddevice, as a stream of frames.

    If the device disappears mid-session, or stays silent even after a restart, the
    frame iterator ends and ``lost`` says why, so the session can pause instead of
    crashing or going deaf.
    """

    def __init__(self, device: int | str | None = None, *, opener: StreamOpener | None = None,
                 stall_seconds: float = STALL_SECONDS):
        self._opener = opener if opener is not None else portaudio_opener(device)
        self._stall_seconds = stall_seconds
        self._queue: "queue.Queue[bytes | None]" = queue.Queue(maxsize=500)
        self._closed = False
        self.lost: str | None = None
        self.restarts = 0  # how many times a stuck stream was reopened (for logs and tests)
        self._arrivals: deque[tuple[float, float]] = deque(maxlen=1000)  # (when, seconds) per block recorded
        self._stream = self._open()

    def _open(self) -> Any:
        """Open a stream on a helper thread: a sound server that accepts the connection and
        never answers would hang PortAudio, and Ctrl-C with it."""
        opened: "queue.Queue[object]" = queue.Queue()

        def open_stream() -> None:
            try:
                opened.put(self._opener(self._callback))
            except Exception as exc:  # noqa: BLE001 - PortAudioError / ValueError: no usable device
                opened.put(exc)

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
        return result

    def _callback(self, data, frames, when, status) -> None:  # noqa: ANN001 - sounddevice's signature
        self._arrivals.append((time.monotonic(), len(data) / (2 * SAMPLE_RATE)))  # counted as it is recorded
        try:
            self._queue.put_nowait(bytes(data))
        except queue.Full:
            pass  # the recogniser fell behind; dropping audio beats unbounded memory

    def _recorded(self, since: float) -> float:
        """Seconds of sound the stream recorded since ``since`` (however slowly they are being taken)."""
        return sum(seconds for at, seconds in list(self._arrivals) if at >= since)

    def frames(self) -> Iterator[bytes]:
        poll = min(0.5, self._stall_seconds / 2)
        opened = checked = time.monotonic()  # when this stream (re)started; when it was last checked
        restarted = False  # reopened, and not yet seen healthy since
        while True:
            try:
                frame: bytes | None = self._queue.get(timeout=poll)
            except queue.Empty:
                frame = b""
            if frame is None:
                return
            if frame:
                yield frame
            elif self._closed:
                return
            elif not self._stream.active:
                self.lost = "the microphone stopped delivering sound (unplugged?)"
                return
            now = time.monotonic()
            if now - checked < poll or now - opened < self._stall_seconds:
                continue
            checked = now
            recorded = self._recorded(now - self._stall_seconds)
            if recorded >= MIN_SHARE * self._stall_seconds:
                restarted = False
                continue
            what = "no sound" if recorded == 0 else f"only {recorded:.1f} s of sound"
            if restarted:
                self.lost = (f"the microphone sent {what} in {self._stall_seconds:.0f} s, even after it was "
                             "restarted (unplugged, or the sound server is stuck?)")
                return
            _diagnose(f"companion: the microphone sent {what} in {self._stall_seconds:.1f} s while its "
                      "stream was running; restarting it")
            try:
                self._restart()
            except MicrophoneUnavailable as exc:
                self.lost = f"the microphone stopped and could not be reopened: {exc}"
                return
            restarted, opened = True, time.monotonic()

    def _restart(self) -> None:
        self._shut(self._stream)
        self._stream = self._open()
        self.restarts += 1

    @staticmethod
    def _shut(stream: Any) -> None:
        """Stop and close a stream; never blocks for long, even if the device or sound server hangs."""
        def shut() -> None:
            try:
                stream.abort()  # drop what is buffered: nothing more is wanted
                stream.close()
            except Exception:  # noqa: BLE001 - closing a vanished device may fail; nothing left to do
                pass

        closer = threading.Thread(target=shut, daemon=True, name="microphone-close")
        closer.start()
        closer.join(timeout=1.0)

    def close(self) -> None:
        """Stop recording; never blocks for long, even if the device or sound server hangs."""
        self._closed = True
        self._shut(self._stream)
        self._queue.put(None)
