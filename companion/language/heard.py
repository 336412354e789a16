"""One utterance from any input (microphone, keyboard, script), before anyone has said what it means."""

from __future__ import annotations

from dataclasses import dataclass

from companion.speech.ports import Recognition


@dataclass(frozen=True)
class Heard:
    at: float
    text: str
    source: str  # "script" | "keyboard" | "voice"
    recognition: Recognition | None = None  # the recogniser's result, for "voice"
    # The utterance began while the companion was speaking: by the time it is understood the
    # speech (and its echo tail) may be over, but it may still be its own voice coming back.
    over_speech: bool = False

    @property
    def readings(self) -> list[str]:
        """The text, then the recogniser's other readings of it nearly as likely (a spoken question
        heard by Whisper; ``Recognition.details["readings"]``), without repeats."""
        others = self.recognition.details.get("readings", ()) if self.recognition is not None else ()
        return list(dict.fromkeys([self.text, *others]))
