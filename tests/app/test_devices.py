"""LiveIO puts the echo canceller between the speaker and the microphone, and says when it cannot."""

from __future__ import annotations

import pytest

import companion.speech.audio.echo as echo
from companion.app.devices import LiveIO
from companion.speech.tts import speaker as sp
from companion.speech.audio.segmenter import FRAME_BYTES
from companion.language.vocabulary import load_vocabulary
from companion.speech.ports import Speaker, Recognizer


class TappableSpeaker(Speaker):
    def __init__(self) -> None:
        self.taps: list = []
        self.ducked: list[bool] = []
        self.talking = True

    def add_tap(self, tap, cut=None) -> bool:
        self.taps.append((tap, cut))
        return True

    def duck(self, on: bool) -> None:
        self.ducked.append(on)

    def speaking(self) -> bool:
        return self.talking

    def say(self, text: str) -> None: ...

    def close(self) -> None: ...


class SilentMic:
    lost = None

    def frames(self):
        yield bytes(FRAME_BYTES)

    def close(self) -> None: ...


class LearntRoom:
    """Stands in for the canceller: records what it is given, and has learnt the room."""

    def __init__(self) -> None:
        self.played_chunks: list[bytes] = []

    def played(self, pcm: bytes, rate: int) -> None:
        self.played_chunks.append(pcm)

    def clean(self, frame: bytes) -> bytes:
        return frame

    def cut(self) -> None: ...

    def ready(self) -> bool:
        return True


class _Deaf(Recognizer):
    """A recogniser that is never fed: these tests drive the listener's hooks themselves."""


@pytest.fixture
def devices(monkeypatch):
    speaker = TappableSpeaker()
    monkeypatch.setattr("companion.app.devices.open_speaker", lambda: (sp.SpeakerOutput(speaker), None))
    monkeypatch.setattr("companion.app.devices.make_recognizer", lambda *a, **k: _Deaf())
    monkeypatch.setattr("companion.app.devices.open_microphone", SilentMic)
    monkeypatch.setattr("companion.speech.audio.segmenter.Segmenter.__init__",
                        lambda self, recognizer, meaning, **k: setattr(self, "on_speech", None))
    # (the Listener then sets the segmenter's on_speech to its own hook)
    return speaker


def test_the_speakers_sound_is_taken_out_of_the_microphone(devices, monkeypatch):
    room = LearntRoom()
    monkeypatch.setattr(echo, "open_echo_canceller", lambda: (room, None))
    live = LiveIO(load_vocabulary())
    assert isinstance(live.listener.source, echo.EchoCancellingSource)
    assert devices.taps == [(room.played, room.cut)]
    assert live.echo_cancelled() and live.take_notices() == []
    live.listener.segmenter.on_speech(True)  # someone talks over it: it speaks quieter
    live.listener.segmenter.on_speech(False)
    devices.talking = False
    live.listener.segmenter.on_speech(True)  # nothing to duck when it is silent
    assert devices.ducked == [True, False, False]


def test_without_a_canceller_it_says_so_once_and_listens_raw(devices, monkeypatch):
    monkeypatch.setattr(echo, "open_echo_canceller", lambda: (None, "Echo cancellation is off: no livekit."))
    live = LiveIO(load_vocabulary())
    assert isinstance(live.listener.source, SilentMic)
    assert not live.echo_cancelled()
    assert live.take_notices() == ["Echo cancellation is off: no livekit."]
    assert live.listener.on_speech is None


def test_no_speaker_no_canceller(devices, monkeypatch):
    opened = []
    monkeypatch.setattr(echo, "open_echo_canceller", lambda: opened.append(True) or (LearntRoom(), None))
    live = LiveIO(load_vocabulary(), speech=False)
    assert opened == [] and isinstance(live.listener.source, SilentMic)


def test_an_utterance_that_began_while_it_spoke_is_marked_so(devices, monkeypatch):
    """Understood after the speech (and its echo tail) ended, it may still be the companion's own voice."""
    import queue

    from companion.speech.audio.segmenter import Utterance
    from companion.speech.ports import Recognition

    monkeypatch.setattr(echo, "open_echo_canceller", lambda: (None, "off"))
    live = LiveIO(load_vocabulary())
    listener = live.listener
    listener.segmenter.on_speech(True)  # it starts while the companion talks
    devices.talking = False  # ...and ends after it stopped
    listener.segmenter.on_speech(False)
    listener._hand_on(Utterance(Recognition("goodbye", 0.99, "test"), 0.0, 1.0, 0.0))
    assert live.inbox.get_nowait().over_speech is True
    listener.segmenter.on_speech(True)
    listener._hand_on(Utterance(Recognition("goodbye", 0.99, "test"), 0.0, 1.0, 0.0))
    assert live.inbox.get_nowait().over_speech is False
    assert isinstance(live.inbox, queue.Queue)
