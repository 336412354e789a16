"""The microphone: the default input device through sounddevice, as a stream of 30 ms frames.

Opening and closing happen on helper threads with time limits, because a sound
server that accepts a connection and never answers would otherwise hang the
program (and Ctrl-C with it).
"""

from __future__ import annotations

import queue
import threading
from typing import Iterator

from companion.speech.audio.segmenter import FRAME_BYTES
from companion.speech.ports import SAMPLE_RATE, AudioSource

OPEN_TIMEOUT = 5.0  # seconds to wait for the input device to open


class MicrophoneUnavailable(RuntimeError):
    """No usable microphone; the message says what is missing and how to fix it."""


class Microphone(AudioSource):
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
