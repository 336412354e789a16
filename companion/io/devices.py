"""The speaker, microphone and keyboard of the person at this machine, opened once.

The home menu and the sessions it starts share them: the recogniser model is
loaded once, the microphone stays open, and everything heard lands on one
queue. Whatever cannot be opened is reported once, in plain words with the
fix, and the rest carries on (text out, keyboard in).
"""

from __future__ import annotations

import queue
import sys
from pathlib import Path
from typing import Any

from companion.clock import RealClock
from companion.io.inputs import Heard, KeyboardInput
from companion.vocabulary import Vocabulary


def grammar_for(context: str, vocabulary: Vocabulary) -> list[str] | None:
    """What to listen for in a dialogue context; None is free speech (a question).

    "place" (where pain is felt) takes its words from screening.yaml, plus stop
    and resume, which work everywhere.
    """
    if context == "question":
        return None
    if context == "place":
        from companion.care.screening import load_screening

        return sorted({*load_screening().place_words, *vocabulary.stop_phrases(), "resume"})
    return vocabulary.grammar(context)


class SharedOutput:
    """Wraps an output that outlives one session (the speaker): closing a session leaves it open."""

    def __init__(self, output: Any):
        self.output = output

    def write(self, record: dict[str, Any]) -> None:
        self.output.write(record)

    def interrupt(self) -> None:
        self.output.interrupt()

    def close(self) -> None:
        """Finish what is being said, but keep the device for the next session."""

    def speaking(self) -> bool:
        return bool(getattr(self.output, "speaking", lambda: False)())

    def speaking_text(self) -> str:
        return str(getattr(self.output, "speaking_text", lambda: "")())


class LiveIO:
    def __init__(self, vocabulary: Vocabulary, *, speech: bool = True, voice: bool = True, keyboard: bool = False,
                 engine: str | None = None, model: Path | None = None):
        self.vocabulary = vocabulary
        self.clock = RealClock()
        self.inbox: "queue.Queue[Heard]" = queue.Queue()
        self.notices: list[str] = []
        self.speaker: Any = None
        self.listener: Any = None
        self.keyboard = None
        self.canceller: Any = None
        if speech:
            self._open_speaker()
        if voice:
            self._open_listener(engine, model)
        if keyboard or (self.listener is None and sys.stdin.isatty()):
            self.keyboard = KeyboardInput(self.clock, self.inbox)

    def _open_speaker(self) -> None:
        from companion.speech.speaker import open_speaker

        self.speaker, problem = open_speaker()
        if problem:
            self.notices.append(problem)

    def _open_listener(self, engine: str | None, model: Path | None) -> None:
        from companion.speech.engines import make_recognizer
        from companion.speech.listener import Listener, Microphone, MicrophoneUnavailable
        from companion.speech.recognizer import RecognizerUnavailable

        try:
            recognizer = make_recognizer(self.vocabulary.grammar("commands"), engine, model)
            microphone = Microphone()
        except (RecognizerUnavailable, MicrophoneUnavailable) as exc:
            self.notices.append(f"Voice commands are off: {exc}. Type commands instead (pause, resume, next, stop).")
            return

        def lost(reason: str) -> None:
            self.inbox.put(Heard(self.clock.now(), reason, "device-lost"))

        self.listener = Listener(self._without_echo(microphone), recognizer, self.clock, self.inbox, on_lost=lost)
        self.listener.speaking = self.speaking
        if self.canceller is not None:
            self.listener.on_speech = self._duck

    def _without_echo(self, microphone: Any) -> Any:
        """With a speaker in the room, take its sound out of the microphone signal."""
        speaker = getattr(self.speaker, "speaker", None)
        if speaker is None or not hasattr(speaker, "add_tap"):
            return microphone
        from companion.speech.echo import EchoCancellingSource, open_echo_canceller

        self.canceller, problem = open_echo_canceller()
        if self.canceller is None:
            self.notices.append(problem)
            return microphone
        speaker.add_tap(self.canceller.played, self.canceller.cut)
        return EchoCancellingSource(microphone, self.canceller)

    def _duck(self, started: bool) -> None:
        """Someone started talking over the companion: speak quieter until they finish, so the
        rest of what they say (a stop, most likely) is heard above its voice. Only once the echo
        canceller has learnt the room: before that its own voice would start an utterance."""
        speaker = getattr(self.speaker, "speaker", None)
        if speaker is not None and hasattr(speaker, "duck"):
            speaker.duck(started and self.echo_cancelled() and self.speaking())

    def speaking(self) -> bool:
        """The companion is talking (or its echo tail has not run out)."""
        return self.speaker is not None and bool(self.speaker.speaking())

    def hush(self) -> None:
        """Silence what the companion is saying, at once."""
        if self.speaker is not None:
            self.speaker.interrupt()

    def echo_cancelled(self) -> bool:
        """Whether the companion's own voice is being taken out of what it hears (see speech/echo.py)."""
        return self.canceller is not None and self.canceller.ready()

    def apply_profile(self, profile: Any) -> None:
        """Speak at the person's rate and volume."""
        speaker = getattr(self.speaker, "speaker", None)
        if speaker is not None and hasattr(speaker, "set_voice"):
            speaker.set_voice(profile.speech_rate, profile.volume, getattr(profile, "voice", ""))

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
        """Start listening and reading the keyboard (once; later calls do nothing)."""
        for part in (self.listener, self.keyboard):
            if part is not None and not part.is_alive() and part.ident is None:
                part.start()

    def close(self) -> None:
        if self.listener is not None:
            self.listener.stop()
        if self.speaker is not None:
            self.speaker.close()
