"""The listening loop: audio frames -> voice activity endpointing -> recogniser -> ``on_heard``.

The listener never touches the engine, nor decides what words mean. When an
utterance ends it hands the recogniser's result to ``on_heard`` (the app puts it
on the runner's queue); the runner decides what it means. Audio frames are
processed and dropped: nothing is stored.

The endpointer is PocketSphinx's WebRTC-style VAD. Its hangover (``window`` x
``ratio`` of non-speech before an utterance is declared over) is most of the
delay between the end of speech and the command taking effect, so it is kept
short: commands are short, and a pause inside "stop ... now" is rarely longer.
"""

from __future__ import annotations

import threading
from typing import Callable

from companion.engine.clock import Clock
from companion.speech.audio.segmenter import Segmenter, Utterance
from companion.speech.ports import AudioSource, Recognition, Recognizer


class Listener(threading.Thread):
    """Runs a :class:`Segmenter` over an :class:`AudioSource` and hands on what was heard.

    ``on_heard(at, recognition, over_speech)`` is called from this thread for each
    utterance: ``at`` is the clock time it was understood, ``over_speech`` whether
    it began while the companion was speaking. ``meaning`` is the language
    layer's phrase -> meaning function, which the endpointer uses to end settled
    phrases early.
    """

    def __init__(self, source: AudioSource, recognizer: Recognizer, clock: Clock,
                 on_heard: Callable[[float, Recognition, bool], None],
                 meaning: Callable[[str], str], on_lost: Callable[[str], None] | None = None):
        super().__init__(daemon=True, name="listener")
        self.source, self.clock, self.on_heard = source, clock, on_heard
        self.recognizer = recognizer
        self.segmenter = Segmenter(recognizer, meaning)
        self.on_lost = on_lost
        self._halt = threading.Event()
        self.speaking: Callable[[], bool] = lambda: False  # is the companion talking right now?
        self.on_speech: Callable[[bool], None] | None = None  # told when an utterance starts and ends
        self._began_over_speech = False
        self._in_utterance = False
        self.segmenter.on_speech = self._utterance_starts

    def _utterance_starts(self, started: bool) -> None:
        self._in_utterance = started
        if started:
            self._began_over_speech = self.speaking()
            self.recognizer.began_over_speech(self._began_over_speech)
        if self.on_speech:
            self.on_speech(started)

    def run(self) -> None:
        try:
            for frame in self.source.frames():
                if self._halt.is_set():
                    return
                if self._in_utterance and not self._began_over_speech and self.speaking():
                    # The companion started talking during this utterance (its voice is starting up
                    # as the utterance began): it holds its own voice now, not worth transcribing.
                    self._began_over_speech = True
                    self.recognizer.began_over_speech(True)
                utterance = self.segmenter.feed(frame)
                if utterance:
                    self._hand_on(utterance)
        except Exception as exc:  # noqa: BLE001 - a device error must pause the session, not kill it
            if self.on_lost:
                self.on_lost(f"listening stopped: {exc}")
            return
        lost = self.source.lost
        if lost and self.on_lost and not self._halt.is_set():
            self.on_lost(lost)

    def _hand_on(self, utterance: Utterance) -> None:
        self.on_heard(self.clock.now(), utterance.recognition, self._began_over_speech)

    def stop(self) -> None:
        self._halt.set()
        self.source.close()
