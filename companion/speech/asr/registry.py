"""Choose and build a recogniser: Vosk when a real model is installed, else embedded PocketSphinx."""

from __future__ import annotations

from pathlib import Path

from companion.speech.ports import Recognizer, RecognizerUnavailable

ENGINES = ("vosk", "pocketsphinx")


def default_vosk_model() -> Path | None:
    """The first installed Vosk model under models/ (never the test-only fixture)."""
    from companion.speech.models import installed_models

    for model in installed_models(include_fixtures=False):
        return model.path
    return None


def make_recognizer(phrases: list[str], engine: str | None = None, model: Path | None = None) -> Recognizer:
    """A recogniser for ``phrases``; raises :class:`RecognizerUnavailable` with the fix."""
    if engine not in (None, *ENGINES):
        raise RecognizerUnavailable(f"unknown engine '{engine}'; choose one of: {', '.join(ENGINES)}")
    if engine == "vosk" or (engine is None and (model or default_vosk_model())):
        path = model or default_vosk_model()
        if path is None:
            raise RecognizerUnavailable("no Vosk model is installed. "
                                        "Fix: companion models download vosk-model-small-en-us-0.15")
        from companion.speech.asr.vosk import VoskRecognizer

        return VoskRecognizer(path, phrases)
    from companion.speech.asr.pocketsphinx import PocketSphinxRecognizer

    return PocketSphinxRecognizer(phrases)
