"""The microphone adapter: a stream that says it runs but sends nothing is restarted, then reported lost.

Seen live (bench/live.py): PortAudio's ALSA input over PulseAudio stayed ``active`` after an
underrun and delivered no more frames, and the companion went deaf with no way to say stop.
"""

from __future__ import annotations

import threading
import time

from companion.engine.clock import RealClock
from companion.language.vocabulary import load_vocabulary
from companion.speech.audio.microphone import Microphone, MicrophoneUnavailable
from companion.speech.audio.segmenter import FRAME_BYTES
from companion.speech.listener import Listener
from tests.speech.test_listener import ScriptedRecognizer

STALL = 0.1  # seconds; the real default is 3 s


class FakeStream:
    """A started input stream that sends ``frames`` blocks through the callback, then nothing,
    while still saying it is active (the stuck state)."""

    def __init__(self, callback, frames: int, pace: float = 0.001):
        self.active, self.closed = True, False
        self._callback, self._left, self._pace = callback, frames, pace
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while self._left > 0 and not self.closed:
            self._callback(b"\1\0" * (FRAME_BYTES // 2), FRAME_BYTES // 2, None, None)
            self._left -= 1
            time.sleep(self._pace)

    def abort(self) -> None:
        self.closed = True

    def close(self) -> None:
        self.closed = True


class Opener:
    """Opens one FakeStream per call, each sending the next count from ``plan`` (then nothing)."""

    def __init__(self, *plan: int, fail_after: int | None = None, pace: float = 0.001):
        self.plan, self.fail_after, self.streams, self.pace = list(plan), fail_after, [], pace

    def __call__(self, callback):
        if self.fail_after is not None and len(self.streams) >= self.fail_after:
            raise OSError("Device unavailable")
        stream = FakeStream(callback, self.plan[len(self.streams)] if len(self.streams) < len(self.plan) else 0,
                            self.pace)
        self.streams.append(stream)
        return stream


def _drain(microphone: Microphone, limit: float = 5.0) -> int:
    started, count = time.monotonic(), 0
    for _ in microphone.frames():
        count += 1
        assert time.monotonic() - started < limit, "frames() never ended"
    return count


def test_a_stream_that_runs_but_sends_nothing_is_restarted_once_then_reported_lost():
    opener = Opener(5, 0)
    microphone = Microphone(opener=opener, stall_seconds=STALL)
    started = time.monotonic()
    assert _drain(microphone) == 5
    assert time.monotonic() - started < 2.0  # a few stall periods, not for ever
    assert len(opener.streams) == 2 and microphone.restarts == 1
    assert opener.streams[0].closed  # the stuck stream was let go
    assert microphone.lost and "even after it was restarted" in microphone.lost


def test_a_restart_that_brings_sound_back_carries_on_listening():
    opener = Opener(3, 40, 0, pace=0.01)  # the second stream sends for 0.4 s: seen healthy
    microphone = Microphone(opener=opener, stall_seconds=STALL)
    assert _drain(microphone) == 43  # both streams' frames, in order
    # The second stream worked, so its later silence earned a fresh restart before giving up.
    assert microphone.restarts == 2 and len(opener.streams) == 3
    assert microphone.lost


def test_a_device_that_cannot_be_reopened_is_reported_lost_with_the_reason():
    opener = Opener(2, fail_after=1)
    microphone = Microphone(opener=opener, stall_seconds=STALL)
    assert _drain(microphone) == 2
    assert microphone.lost and "could not be reopened" in microphone.lost
    assert "no microphone was found" in microphone.lost


def test_a_stream_that_only_trickles_is_restarted_then_reported_lost():
    # Seen live with a second sound playing: frames kept coming, a few a second, so "nothing for
    # 3 s" never held, and the companion heard too little to make out a word.
    opener = Opener(20, 20, pace=0.15)  # 30 ms of sound every 0.15 s: a fifth of real time
    microphone = Microphone(opener=opener, stall_seconds=0.5)
    assert _drain(microphone) > 0
    assert microphone.restarts == 1 and microphone.lost and "only" in microphone.lost


def _take(opener: Opener, count: int, busy: float = 0.0) -> Microphone:
    """Take ``count`` frames, the listener busy for ``busy`` seconds after the first; the microphone, closed."""
    microphone = Microphone(opener=opener, stall_seconds=STALL)
    frames = microphone.frames()
    next(frames)
    time.sleep(busy)
    for _ in range(count):
        next(frames)
    microphone.close()
    return microphone


def test_a_listener_busy_decoding_is_not_a_stuck_microphone():
    # Sound is counted as it is recorded: frames that wait in the queue while the listener decodes
    # (Whisper takes a second or two) still count.
    microphone = _take(Opener(200, pace=0.003), 100, busy=3 * STALL)
    assert microphone.restarts == 0 and microphone.lost is None


def test_a_quiet_room_is_not_a_stall():
    # Silence in the room still arrives as frames (of zeros) every 30 ms: only a stream that records
    # (nearly) nothing counts.
    microphone = _take(Opener(10_000), 200)
    assert microphone.restarts == 0 and microphone.lost is None


def test_closing_ends_the_frames_without_a_restart():
    opener = Opener(0)
    microphone = Microphone(opener=opener, stall_seconds=10.0)
    threading.Timer(0.05, microphone.close).start()
    assert _drain(microphone) == 0
    assert microphone.restarts == 0 and microphone.lost is None


def test_the_listener_reports_a_stuck_microphone_so_the_session_can_pause():
    lost: list[str] = []
    microphone = Microphone(opener=Opener(5, 0), stall_seconds=STALL)
    listener = Listener(microphone, ScriptedRecognizer(""), RealClock(), lambda *args: None,
                        load_vocabulary().meaning, on_lost=lost.append)
    listener.start()
    listener.join(timeout=5)
    assert not listener.is_alive()
    assert len(lost) == 1 and "even after it was restarted" in lost[0]


def test_an_opener_that_fails_at_once_says_no_microphone():
    import pytest

    with pytest.raises(MicrophoneUnavailable, match="no microphone was found"):
        Microphone(opener=Opener(fail_after=0))
