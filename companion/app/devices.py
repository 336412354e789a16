"""The speaker, microphone and keyboard of the person at this machine, opened once.

The home menu and the sessions it starts share them: the recogniser model is
loaded once, the microphone stays open, and everything heard lands on one
queue. Whatever cannot be opened is reported once, in plain words with the
fix, and the rest carries on (text out, keyboard in).

This is the one place that opens the microphone: sessions and the home menu
through :class:`LiveIO`, ``companion listen`` and ``companion ask`` through
:func:`open_microphone` and :func:`utterances`.
"""

from __future__ import annotations

import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from companion.app.inputs import KeyboardInput
from companion.care.profiles import Profile
from companion.content.phrases import load_phrases
from companion.engine.clock import RealClock
from companion.knowledge import redflags
from companion.language.grammars import grammar_for
from companion.language.heard import Heard
from companion.language.vocabulary import Vocabulary
from companion.speech.audio.microphone import Microphone, MicrophoneUnavailable
from companion.speech.audio.segmenter import Segmenter, Utterance
from companion.speech.asr.registry import make_recognizer
from companion.speech.listener import Listener
from companion.speech.ports import AudioSource, EchoCanceller, Recognition, RecognizerUnavailable
from companion.speech.tts.speaker import SpeakerOutput, open_speaker


def open_microphone() -> AudioSource:
    """The default microphone; raises :class:`MicrophoneUnavailable` with the fix."""
    return Microphone()


def utterances(source: AudioSource, segmenter: Segmenter, seconds: float | None = None) -> Iterator[Utterance]:
    """What is said into ``source``, one utterance at a time, for at most ``seconds`` (None: until it ends)."""
    until = None if seconds is None else time.monotonic() + seconds
    for frame in source.frames():
        utterance = segmenter.feed(frame)
        if utterance:
            yield utterance
        if until is not None and time.monotonic() > until:
            return


class SharedOutput:
    """Wraps the speaker, which outlives one session: closing a session leaves it open."""

    def __init__(self, output: SpeakerOutput):
        self.output = output

    def write(self, record: dict[str, Any]) -> None:
        self.output.write(record)

    def interrupt(self) -> None:
        self.output.interrupt()

    def close(self) -> None:
        """Finish what is being said, but keep the device for the next session."""


class LiveIO:
    """The devices of one sitting; also what the runner asks whether the companion is speaking."""

    def __init__(self, vocabulary: Vocabulary, *, speech: bool = True, voice: bool = True, keyboard: bool = False,
                 engine: str | None = None, model: Path | None = None):
        self.vocabulary = vocabulary
        self.clock = RealClock()
        self.inbox: "queue.Queue[Heard]" = queue.Queue()
        self.notices: list[str] = []
        self.speaker: SpeakerOutput | None = None
        self.listener: Listener | None = None
        self.keyboard: KeyboardInput | None = None
        self.canceller: EchoCanceller | None = None
        if speech:
            self.speaker, problem = open_speaker()
            if problem:
                self.notices.append(problem)
        if voice:
            self._open_listener(engine, model)
        if keyboard or (self.listener is None and sys.stdin.isatty()):
            self.keyboard = KeyboardInput(self.clock, self.inbox)

    def _open_listener(self, engine: str | None, model: Path | None) -> None:
        try:
            recognizer = make_recognizer(self.vocabulary.grammar("commands"), engine, model,
                                         hints=self.vocabulary.hints())
            microphone = open_microphone()
        except (RecognizerUnavailable, MicrophoneUnavailable) as exc:
            self.notices.append(load_phrases().voice_off.format(reason=exc))
            return

        def heard(at: float, recognition: Recognition, over_speech: bool) -> None:
            self.inbox.put(Heard(at, recognition.text, "voice", recognition, over_speech=over_speech))

        def lost(reason: str) -> None:
            self.inbox.put(Heard(self.clock.now(), reason[:1].upper() + reason[1:], "device-lost"))  # a sentence

        self.listener = Listener(self._without_echo(microphone), recognizer, self.clock, heard,
                                 self.vocabulary.meaning, on_lost=lost)
        self.listener.speaking = self.speaking
        if self.canceller is not None:
            self.listener.on_speech = self._duck

    def _without_echo(self, microphone: AudioSource) -> AudioSource:
        """With a speaker in the room, take its sound out of the microphone signal."""
        if self.speaker is None:
            return microphone
        from companion.speech.audio.echo import EchoCancellingSource, open_echo_canceller  # numpy: only when needed

        canceller, problem = open_echo_canceller()
        if canceller is None:
            self.notices.append(problem)
            return microphone
        if not self.speaker.speaker.add_tap(canceller.played, canceller.cut):
            return microphone
        self.canceller = canceller
        return EchoCancellingSource(microphone, canceller)

    def _duck(self, started: bool) -> None:
        """Someone started talking over the companion: speak quieter until they finish, so the
        rest of what they say (a stop, most likely) is heard above its voice. Only once the echo
        canceller has learnt the room: before that its own voice would start an utterance."""
        if self.speaker is not None:
            self.speaker.speaker.duck(started and self.echo_cancelled() and self.speaking())

    def speaking(self) -> bool:
        """The companion is talking (or its echo tail has not run out)."""
        return self.speaker is not None and self.speaker.speaking()

    def speaking_text(self) -> str:
        """What the companion is saying now ("" when silent)."""
        return self.speaker.speaking_text() if self.speaker is not None else ""

    def hush(self) -> None:
        """Silence what the companion is saying, at once."""
        if self.speaker is not None:
            self.speaker.interrupt()

    def echo_cancelled(self) -> bool:
        """Whether the companion's own voice is being taken out of what it hears (see speech/audio/echo.py)."""
        return self.canceller is not None and self.canceller.ready()

    def apply_profile(self, profile: Profile) -> None:
        """Speak at the person's rate and volume."""
        if self.speaker is not None:
            self.speaker.speaker.set_voice(profile.speech_rate, profile.volume, profile.voice)

    def take_notices(self) -> list[str]:
        """The set-up problems not yet told to the user (each is said once)."""
        notices, self.notices = self.notices, []
        return notices

    def listen_for(self, phrases: list[str] | None) -> None:
        """What the recogniser should listen for from the next utterance on."""
        if self.listener is not None:
            self.listener.segmenter.use_phrases(phrases)

    def listen_in(self, context: str) -> None:
        self.listen_for(grammar_for(context, self.vocabulary))

    def start(self) -> None:
        """Start listening and reading the keyboard (once; later calls do nothing).

        With a microphone, the red-flag check's sound-alike index is built in the background as
        listening starts: built on first use, it held up the answer to the first thing said."""
        if self.listener is not None and not self.listener.is_alive() and self.listener.ident is None:
            threading.Thread(target=_warm_red_flags, daemon=True, name="red-flags-warm").start()
        for part in (self.listener, self.keyboard):
            if part is not None and not part.is_alive() and part.ident is None:
                part.start()

    def close(self) -> None:
        if self.listener is not None:
            self.listener.stop()
        if self.speaker is not None:
            self.speaker.close()


def _warm_red_flags() -> None:
    """A broken red-flag file is reported where red flags are checked; here it is only not warmed."""
    try:
        redflags.warm()
    except Exception:  # noqa: BLE001 - a background warm-up must never take the session down
        pass
